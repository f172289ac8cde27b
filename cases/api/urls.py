from django.urls import path

from cases.api import views

urlpatterns = [
    path("cases/", views.CaseListApi.as_view(), name="api-cases-list"),
    path("cases/claim-next/", views.CaseClaimNextApi.as_view(), name="api-cases-claim-next"),
    path("cases/<int:pk>/", views.CaseDetailApi.as_view(), name="api-cases-detail"),
    path("cases/<int:pk>/transitions/", views.CaseTransitionApi.as_view(),
         name="api-cases-transition"),
    path("cases/<int:pk>/comments/", views.CaseCommentsApi.as_view(),
         name="api-cases-comments"),
    path("cases/<int:pk>/evidence/<int:evidence_id>/resolve/",
         views.CaseMatchResolveApi.as_view(), name="api-cases-match-resolve"),
]
