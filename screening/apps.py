from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Screening"

    def ready(self) -> None:
        from screening.lists.signals import list_version_activated

        list_version_activated.connect(_on_version_activated,
                                       dispatch_uid="screening.version_activated")


def _on_version_activated(sender, *, version_id: int, **kwargs) -> None:
    """A list version became active (sent after commit): drop the cached matcher, queue
    the build of the new one (when built indexes are kept) and delta re-screening of the
    customer base."""
    from django.conf import settings

    from screening.index_store import store_dir
    from screening.matcher_cache import matcher_cache_clear
    from screening.tasks import screening_delta_task, screening_matcher_warm_task

    matcher_cache_clear()
    if store_dir() is not None:
        screening_matcher_warm_task.delay()
    if getattr(settings, "SCREENING_DELTA_ON_ACTIVATION", True):
        screening_delta_task.delay(version_id)
