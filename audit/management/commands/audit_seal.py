"""python manage.py audit_seal — chain every pending ledger entry now."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.services import ledger_pending_stats, ledger_seal_pending


class Command(BaseCommand):
    help = ("Chain every committed pending ledger entry (AUDIT_SEAL_MODE=background). Each "
            "process's sealer and the audit.seal_pending beat task normally do this within "
            "moments of commit; use this after an outage of both. Safe to run at any time.")

    def handle(self, *args, **options):
        before, oldest = ledger_pending_stats()
        sealed = ledger_seal_pending()
        after, _ = ledger_pending_stats()
        age = f", oldest waited {oldest:.1f} s" if oldest is not None else ""
        self.stdout.write(f"sealing mode: {settings.AUDIT_SEAL_MODE}; pending before: {before}"
                          f"{age}; chained now: {sealed}; pending after: {after}")
