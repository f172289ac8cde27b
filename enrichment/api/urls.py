from django.urls import path

from enrichment.api import views

urlpatterns = [
    path("enrichment/applications", views.ApplicationListCreateApi.as_view(),
         name="api-enrichment-applications"),
    path("enrichment/applications/<int:pk>", views.ApplicationDetailApi.as_view(),
         name="api-enrichment-application"),
    path("enrichment/applications/<int:pk>/enrich", views.ApplicationEnrichApi.as_view(),
         name="api-enrichment-application-enrich"),
    path("enrichment/runs/<int:pk>", views.RunDetailApi.as_view(),
         name="api-enrichment-run"),
]
