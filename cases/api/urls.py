from django.urls import path

from cases.api import customers, views

# Ids are matched as text and checked by the views, so a malformed id gets the API's JSON
# 404 rather than the portal's HTML page.
urlpatterns = [
    path("customers", customers.CustomersUpsertApi.as_view(), name="api-customers-upsert"),
    path("customers/<path:external_id>/offboard", customers.CustomerOffboardApi.as_view(),
         name="api-customers-offboard"),
    path("customers/<path:external_id>/reinstate", customers.CustomerReinstateApi.as_view(),
         name="api-customers-reinstate"),
    path("customers/<path:external_id>", customers.CustomerGetApi.as_view(),
         name="api-customers-get"),
    path("cases/", views.CaseListApi.as_view(), name="api-cases-list"),
    path("cases/claim-next/", views.CaseClaimNextApi.as_view(), name="api-cases-claim-next"),
    path("cases/<str:pk>/", views.CaseDetailApi.as_view(), name="api-cases-detail"),
    path(
        "cases/<str:pk>/transitions/",
        views.CaseTransitionApi.as_view(),
        name="api-cases-transition",
    ),
    path("cases/<str:pk>/comments/", views.CaseCommentsApi.as_view(), name="api-cases-comments"),
    path(
        "cases/<str:pk>/evidence/<str:evidence_id>/resolve/",
        views.CaseMatchResolveApi.as_view(),
        name="api-cases-match-resolve",
    ),
]
