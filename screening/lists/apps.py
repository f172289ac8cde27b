from django.apps import AppConfig


class ListsConfig(AppConfig):
    name = "screening.lists"
    label = "lists"
    verbose_name = "Sanctions lists"

    def ready(self) -> None:
        # The hourly refresh: merged into the Celery beat schedule (settings may override).
        from config.celery import app
        from screening.lists.tasks import BEAT_SCHEDULE

        app.conf.beat_schedule = {**BEAT_SCHEDULE, **(app.conf.beat_schedule or {})}
