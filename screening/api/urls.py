from django.urls import path

from screening.api import views

urlpatterns = [
    path("screening/search", views.ScreeningSearchApi.as_view(), name="screening-search"),
    path("screening/queries", views.ScreeningQueryListApi.as_view(),
         name="screening-queries"),
    path("screening/queries/<int:pk>", views.ScreeningQueryGetApi.as_view(),
         name="screening-query"),
    path("screening/queries/<int:pk>/reproduce", views.ScreeningQueryReproduceApi.as_view(),
         name="screening-query-reproduce"),
    path("screening/batches", views.ScreeningBatchCreateApi.as_view(),
         name="screening-batch-create"),
    path("screening/batches/<int:pk>", views.ScreeningBatchGetApi.as_view(),
         name="screening-batch"),
    path("screening/batches/<int:pk>/report", views.ScreeningBatchReportApi.as_view(),
         name="screening-batch-report"),
    path("screening/batches/<int:pk>/resume", views.ScreeningBatchResumeApi.as_view(),
         name="screening-batch-resume"),
    path("screening/whitelist", views.ScreeningWhitelistAddApi.as_view(),
         name="screening-whitelist"),
]
