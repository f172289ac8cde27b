from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.index, name="index"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert-detail"),
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/<int:rule_id>/", views.rule_detail, name="rule-detail"),
    path("rules/<int:rule_id>/versions/", views.rule_version_create, name="rule-version-create"),
    path(
        "versions/<int:version_id>/approve/",
        views.rule_version_approve,
        name="rule-version-approve",
    ),
    path("versions/<int:version_id>/backtest/", views.backtest_start, name="backtest-start"),
    path("backtests/<int:backtest_id>/", views.backtest_detail, name="backtest-detail"),
    path("dead-letters/", views.dead_letter_list, name="dead-letter-list"),
    path("dead-letters/<int:letter_id>/", views.dead_letter_detail, name="dead-letter-detail"),
    path("ctr/", views.ctr_list, name="ctr-list"),
    path("ctr/<int:report_id>/filed/", views.ctr_file, name="ctr-file"),
    path("rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule-toggle"),
]
