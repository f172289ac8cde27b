"""Load the demo data `make run` shows: users per role, real lists, customers, cases,
transactions and applications. Safe to re-run: each part loads once."""

from __future__ import annotations

import importlib
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.context import Actor, audit_context
from audit.models import LedgerEntry
from audit.services import audit_record, ledger_seal_pending
from config.accounts.services import demo_users_create
from screening.services import matcher_warm_batched

# (name, module, function) in dependency order; parts whose app does not provide the
# loader yet are reported and skipped.
DEMO_PARTS = [
    ("lists", "screening.lists.services", "demo_lists_load"),
    ("customers", "cases.services", "demo_customers_load"),
    ("screening", "screening.services", "demo_screening_load"),
    ("monitoring", "monitoring.services", "demo_monitoring_load"),
    ("enrichment", "enrichment.services", "demo_enrichment_load"),
]


def _describe(summary) -> str:
    """A one-line account of what a demo loader returned."""
    if isinstance(summary, dict):
        return f"{len(summary)} part(s)"
    if isinstance(summary, int) and not isinstance(summary, bool):
        return f"{summary} record(s)"
    if isinstance(summary, list | tuple):
        return f"{len(summary)} record(s)"
    for attr in ("inserted", "received"):
        if hasattr(summary, attr):
            alerts = len(getattr(summary, "alert_ids", []) or [])
            return f"{getattr(summary, attr)} transactions, {alerts} alerts"
    return str(summary)[:80] if summary is not None else "done"


class Command(BaseCommand):
    help = "Load demo users and demo data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", help="Load only these parts.")

    def handle(self, *args, only=None, **options):
        actor = Actor.system("load_demo")
        ledger_seal_pending()  # background sealing: "already loaded" marks must be chained
        # The demo activates several list versions: the screening index is built once,
        # for the lists active at the end, not once per version.
        with audit_context(actor=actor), matcher_warm_batched():
            users = demo_users_create()
            for name, module_name, function_name in DEMO_PARTS:
                if only and name not in only:
                    continue
                if LedgerEntry.objects.filter(action="demo.loaded", object_type="demo",
                                              object_id=name).exists():
                    self.stdout.write(f"demo {name}: already loaded")
                    continue
                try:
                    loader = getattr(importlib.import_module(module_name), function_name)
                except (ImportError, AttributeError):
                    self.stdout.write(f"demo {name}: not available yet, skipped")
                    continue
                started = time.monotonic()
                try:
                    summary = loader(actor=actor)
                except Exception as exc:
                    raise CommandError(f"demo {name} failed: {exc}") from exc
                with transaction.atomic():
                    audit_record(action="demo.loaded", object_type="demo", object_id=name,
                                 data={"summary": summary if isinstance(summary, dict) else {}})
                took = time.monotonic() - started
                self.stdout.write(f"demo {name}: loaded in {took:.1f}s ({_describe(summary)})")
            # Seal what the demo wrote, so the audit pages show a signed digest at once.
            from audit.digests import digest_create

            digest = digest_create()
            if digest is not None:
                self.stdout.write(f"audit: signed digest of entries {digest.first_seq}.."
                                  f"{digest.last_seq}")
            # ...and verify it, so an auditor's first look shows a verification run too
            # (run at once where tasks run in process, as under `make run`; queued else).
            from audit.verification import verification_run_request

            run = verification_run_request()
            run.refresh_from_db()
            self.stdout.write(f"audit: verification run #{run.pk} {run.get_status_display()}"
                              + (f", {run.checked} entries checked" if run.checked else ""))
        self.stdout.write("")
        self.stdout.write("Demo users (log in at http://127.0.0.1:8000/login/):")
        for username, role, password in users:
            self.stdout.write(f"  {username:<10} {role:<10} password: {password}")
        self.stdout.write("API token for integrations: python manage.py create_api_client NAME")
