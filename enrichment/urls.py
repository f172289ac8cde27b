from django.urls import path

from enrichment import views

app_name = "enrichment"

urlpatterns = [
    path("", views.index, name="index"),
    path("applications/new/", views.application_new, name="application_new"),
    path("applications/<int:pk>/", views.application_detail, name="application_detail"),
    path("applications/<int:pk>/runs/", views.application_runs_partial,
         name="application_runs"),
    path("applications/<int:pk>/enrich/", views.application_enrich,
         name="application_enrich"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/release-unknown/", views.run_release_unknown,
         name="run_release_unknown"),
]
