from django.urls import path

from enrichment import views

app_name = "enrichment"

urlpatterns = [
    path("", views.index, name="index"),
]
