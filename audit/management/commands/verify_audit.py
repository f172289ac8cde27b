"""python manage.py verify_audit [--incremental] [--json] [--no-reconcile]"""

from __future__ import annotations

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, audit_context
from audit.models import VerificationMode, VerificationRun
from audit.verification import _record_result, verify_ledger


class Command(BaseCommand):
    help = ("Recompute the audit hash chain, check it against the signed digests and reconcile "
            "every audited row with its history. Exit 0 when intact, 1 when damaged (naming the "
            "first bad sequence number and the kind of damage), 2 on error.")

    def add_arguments(self, parser):
        parser.add_argument("--incremental", action="store_true",
                            help="start from the last archived digest instead of entry 1")
        parser.add_argument("--no-reconcile", action="store_true",
                            help="skip reconciliation of current rows with their history")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                            help="processes for large ledgers on PostgreSQL (default: CPUs, "
                                 "at most 4)")

    def handle(self, *args, incremental, no_reconcile, json: bool, workers: int, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        mode = VerificationMode.INCREMENTAL if incremental else VerificationMode.FULL
        with audit_context(actor=Actor.system("manage.py verify_audit")):
            run = VerificationRun.objects.create(mode=mode, requested_by="system:verify_audit",
                                                 status="running")
            try:
                result = verify_ledger(mode=mode, reconcile=not no_reconcile, workers=workers)
            except Exception as exc:
                VerificationRun.objects.filter(pk=run.pk).update(status="error", error=str(exc))
                self.stderr.write(f"verify_audit: could not complete: {exc}")
                sys.exit(2)
            _record_result(run.pk, result)
        if json:
            self.stdout.write(_as_json(result))
        else:
            self.stdout.write(f"mode: {mode}; entries {result.chain.first_seq}.."
                              f"{result.chain.last_seq}; checked {result.chain.checked}; "
                              f"digests checked {result.chain.digests_checked}")
            for problem in result.problems[:20]:
                self.stdout.write(f"  seq {problem.seq}: {problem.kind}: {problem.detail}")
            for rec in result.reconciliation:
                for example in (rec["examples"] or []) if not rec["ok"] else []:
                    self.stdout.write(f"  reconciliation: {example}")
            self.stdout.write(result.summary())
        if not result.ok:
            sys.exit(1)


def _as_json(result) -> str:
    return json.dumps({
        "ok": result.ok, "mode": result.mode, "summary": result.summary(),
        "chain": result.chain.as_dict(),
        "problems": [p.as_dict() for p in result.problems],
        "reconciliation": result.reconciliation,
        "pending": {"count": result.pending, "oldest_seconds": result.pending_oldest_seconds},
    }, indent=2, default=str)
