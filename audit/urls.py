from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.index, name="index"),
    path("entries/<int:seq>/", views.entry_detail, name="entry_detail"),
    path("objects/<str:object_type>/<str:object_id>/", views.object_detail,
         name="object_detail"),
    path("digests/", views.digests, name="digests"),
    path("digests/<int:pk>/download/", views.digest_download, name="digest_download"),
    path("verifications/", views.verifications, name="verifications"),
    path("verifications/start/", views.verification_start, name="verification_start"),
    path("verifications/<int:pk>/", views.verification_detail, name="verification_detail"),
    path("evidence/", views.evidence_download, name="evidence_download"),
]
