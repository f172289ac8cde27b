from django.urls import path

from screening.lists import views

app_name = "lists"

urlpatterns = [
    path("", views.index, name="index"),
    path("entities/", views.entity_search, name="entity_search"),
    path("entities/<int:entity_id>/", views.entity_detail, name="entity_detail"),
    path("<str:code>/versions/", views.versions, name="versions"),
    path("<str:code>/versions/<int:version_id>/delta/", views.delta, name="delta"),
    path("<str:code>/refresh/", views.refresh, name="refresh"),
]
