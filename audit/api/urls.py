from django.urls import path

from audit.api import views

urlpatterns = [
    path("audit/entries/", views.LedgerEntryListApi.as_view(), name="api-audit-entries"),
    path("audit/entries/<int:seq>/", views.LedgerEntryDetailApi.as_view(),
         name="api-audit-entry"),
    path("audit/entries/<int:seq>/proof/", views.LedgerEntryProofApi.as_view(),
         name="api-audit-entry-proof"),
    path("audit/objects/<str:object_type>/<str:object_id>/history/",
         views.ObjectHistoryApi.as_view(), name="api-audit-object-history"),
    path("audit/digests/", views.DigestListApi.as_view(), name="api-audit-digests"),
    path("audit/digests/<int:pk>/download/", views.DigestDownloadApi.as_view(),
         name="api-audit-digest-download"),
    path("audit/verifications/", views.VerificationRunListApi.as_view(),
         name="api-audit-verifications"),
    path("audit/verifications/start/", views.VerificationRunStartApi.as_view(),
         name="api-audit-verification-start"),
    path("audit/verifications/<int:pk>/", views.VerificationRunDetailApi.as_view(),
         name="api-audit-verification"),
    path("audit/evidence/", views.EvidenceBundleApi.as_view(), name="api-audit-evidence"),
]
