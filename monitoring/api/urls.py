from django.urls import path

from monitoring.api import views

urlpatterns = [
    path(
        "monitoring/transactions",
        views.TransactionIngestApi.as_view(),
        name="monitoring-transactions",
    ),
    path("alerts/", views.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>", views.AlertGetApi.as_view(), name="alert-get"),
]
