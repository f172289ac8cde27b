from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("claim-next/", views.claim_next, name="claim_next"),
    path("bulk/", views.bulk, name="bulk"),
    path("customers/", views.customer_index, name="customer_index"),
    path("customers/<path:external_id>/do/<slug:verb>", views.customer_state,
         name="customer_state"),
    path("customers/<path:external_id>/", views.customer, name="customer"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/do/<slug:verb>/", views.transition, name="transition"),
    path("<int:pk>/comments/", views.comment, name="comment"),
    path("<int:pk>/attachments/", views.attachment_upload, name="attachment_upload"),
    path(
        "<int:pk>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
    path("<int:pk>/evidence/<int:evidence_id>/resolve/", views.match_resolve, name="match_resolve"),
    path("<int:pk>/sar/", views.sar, name="sar"),
    path("<int:pk>/sar/export/<slug:fmt>/", views.sar_export, name="sar_export"),
]
