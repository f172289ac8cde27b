from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import history  # noqa: F401  (connects the history → ledger hook)
        from audit.immutability import install_triggers_after_migrate

        # post_migrate for this app is sent after every app's migrations ran, so every
        # history table exists by then.
        post_migrate.connect(
            install_triggers_after_migrate, sender=self, dispatch_uid="audit_triggers"
        )
