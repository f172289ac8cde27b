from django.urls import path

from screening import views

app_name = "screening"

urlpatterns = [
    path("", views.index, name="index"),
    path("search", views.search, name="search"),
    path("queries/", views.query_list, name="query_list"),
    path("queries/<int:pk>/", views.query_detail, name="query_detail"),
    path("queries/<int:pk>/whitelist", views.hit_whitelist, name="hit_whitelist"),
    path("queries/<int:pk>/reproduce", views.query_reproduce, name="query_reproduce"),
    path("batches/new", views.batch_upload, name="batch_upload"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/report", views.batch_report, name="batch_report"),
    path("batches/<int:pk>/resume", views.batch_resume, name="batch_resume"),
]
