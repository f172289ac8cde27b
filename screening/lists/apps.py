from django.apps import AppConfig


class ListsConfig(AppConfig):
    name = "screening.lists"
    label = "lists"
    verbose_name = "Sanctions lists"
