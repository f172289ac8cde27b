"""python manage.py enrich APPLICATION_ID [--idempotency-key KEY] [--wait] [--resume-stale]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, audit_context
from enrichment.models import EnrichmentRun, LoanApplication
from enrichment.services import (
    enrichment_run_request,
    enrichment_runs_resume_stale,
    enrichment_unknown_outcome_release,
)


class Command(BaseCommand):
    help = "Start an enrichment run for a loan application (by id or LA- reference)."

    def add_arguments(self, parser):
        parser.add_argument("application", nargs="?", help="application id or reference")
        parser.add_argument("--idempotency-key", default=None)
        parser.add_argument("--wait", type=float, default=60.0,
                            help="seconds to wait for the run to finish (0: do not wait)")
        parser.add_argument("--resume-stale", action="store_true",
                            help="re-queue runs whose worker died instead")
        parser.add_argument("--release-unknown", type=int, metavar="RUN_ID",
                            help="after reconciling with the bureau, release a billable "
                                 "step of unknown outcome (needs --note)")
        parser.add_argument("--note", default="")

    def handle(self, *args, **options):
        with audit_context(actor=Actor.system("manage.py enrich")):
            if options["release_unknown"]:
                try:
                    released = enrichment_unknown_outcome_release(
                        run_id=options["release_unknown"], note=options["note"]).released
                except (ValueError, EnrichmentRun.DoesNotExist) as exc:
                    raise CommandError(str(exc)) from exc
                self.stdout.write(f"released {released} step(s)")
                return
            if options["resume_stale"]:
                queued = enrichment_runs_resume_stale()
                self.stdout.write(f"re-queued {len(queued)} stale run(s): {queued}")
                return
            ident = options["application"]
            if not ident:
                raise CommandError("give an APPLICATION_ID (or --resume-stale)")
            lookup = ({"pk": int(ident)} if ident.isascii() and ident.isdigit()
                      else {"reference": ident})
            application = LoanApplication.objects.filter(**lookup).first()
            if application is None:
                raise CommandError(f"no loan application {ident!r}")
            try:
                run, created = enrichment_run_request(
                    application=application, idempotency_key=options["idempotency_key"],
                    requested_by="manage.py enrich")
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"run {run.pk} {'started' if created else 'already exists'} "
                          f"for {application.reference}")
        deadline = time.monotonic() + options["wait"]
        run = EnrichmentRun.objects.get(pk=run.pk)
        while run.status in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.25)
            run.refresh_from_db()
        self.stdout.write(f"run {run.pk} status: {run.status}")
        if run.status == "failed":
            error = run.error or {}
            raise CommandError(
                f"enrichment failed: {error.get('message', '')} (provider "
                f"{error.get('provider', '-')}, url {error.get('url', '-')}, status "
                f"{error.get('status', '-')}, attempts {error.get('attempts', '-')})"
                + (f"; case {run.case_reference}" if run.case_reference else ""))
