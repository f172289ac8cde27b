from django.urls import path, re_path

from screening.lists.api import views

CODE = r"(?P<code>ofac-sdn|ofac-cons|un|uk|eu)"

urlpatterns = [
    path("lists/", views.ListSourceListApi.as_view(), name="lists-api-sources"),
    path("lists/entities/", views.EntitySearchApi.as_view(), name="lists-api-entities"),
    path(
        "lists/entities/<int:entity_id>/", views.EntityDetailApi.as_view(), name="lists-api-entity"
    ),
    re_path(
        rf"^lists/{CODE}/versions/$", views.ListVersionListApi.as_view(), name="lists-api-versions"
    ),
    re_path(
        rf"^lists/{CODE}/versions/(?P<version_id>[0-9]+)/$",
        views.ListVersionDetailApi.as_view(),
        name="lists-api-version",
    ),
    re_path(
        rf"^lists/{CODE}/versions/(?P<version_id>[0-9]+)/delta/?$",
        views.ListVersionDeltaApi.as_view(),
        name="lists-api-delta",
    ),
    re_path(rf"^lists/{CODE}/refresh/$", views.ListRefreshApi.as_view(), name="lists-api-refresh"),
]
