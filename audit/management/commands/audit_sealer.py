"""python manage.py audit_sealer — the dedicated sealer process (AUDIT_SEALER=process)."""

from __future__ import annotations

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.sealer import run_sealer
from audit.services import ledger_pending_stats


class Command(BaseCommand):
    help = ("Chain committed pending ledger entries continuously (background sealing with "
            "AUDIT_SEALER=process): polls every AUDIT_SEALER_POLL_MS, runs beside any number of "
            "writers and other sealers, and stops cleanly on SIGTERM/SIGINT after a last pass.")

    def add_arguments(self, parser):
        parser.add_argument("--poll-ms", type=int, default=None,
                            help="poll interval (default AUDIT_SEALER_POLL_MS)")
        parser.add_argument("--report-every", type=float, default=60.0,
                            help="seconds between progress lines (0: none)")

    def handle(self, *args, poll_ms=None, report_every=60.0, **options):
        if settings.AUDIT_SEAL_MODE != "background":
            raise CommandError("audit_sealer needs AUDIT_SEAL_MODE=background (PostgreSQL); "
                               f"this deployment seals {settings.AUDIT_SEAL_MODE}")
        poll_ms = poll_ms or settings.AUDIT_SEALER_POLL_MS
        if poll_ms < 1:
            raise CommandError("--poll-ms must be >= 1")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        passes = 0
        last_report = time.monotonic()

        def on_pass() -> None:
            nonlocal passes, last_report
            passes += 1
            if report_every and time.monotonic() - last_report >= report_every:
                pending, oldest = ledger_pending_stats()
                age = f", oldest {oldest:.1f} s" if oldest is not None else ""
                self.stdout.write(f"audit sealer: {passes} passes; pending now {pending}{age}")
                last_report = time.monotonic()

        self.stdout.write(f"audit sealer: polling every {poll_ms} ms (AUDIT_SEALER="
                          f"{settings.AUDIT_SEALER})")
        run_sealer(poll_ms=poll_ms, stop=stop, on_pass=on_pass)
        pending, _ = ledger_pending_stats()
        self.stdout.write(f"audit sealer: stopped after {passes} passes; pending {pending}")
