from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Screening"

    def ready(self) -> None:
        from screening.lists.signals import list_version_activated

        list_version_activated.connect(_on_version_activated,
                                       dispatch_uid="screening.version_activated")


def _on_version_activated(sender, *, version_id: int, **kwargs) -> None:
    """A list version became active (sent after commit): see the service."""
    from screening.services import screening_version_activated

    screening_version_activated(version_id=version_id)
