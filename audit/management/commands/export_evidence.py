"""python manage.py export_evidence --case ID [--output FILE]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, audit_context
from audit.evidence import EvidenceError, evidence_bundle_export, resolve_object_type


class Command(BaseCommand):
    help = ("Write an evidence bundle (zip): the ledger entries about one object and its "
            "children, their inclusion proofs, the signed digests and the public key. Verify "
            "it with: python -m audit.verify_bundle FILE")

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--case", metavar="ID")
        group.add_argument("--alert", metavar="ID")
        group.add_argument("--query", metavar="ID")
        group.add_argument("--application", metavar="ID")
        group.add_argument("--object", metavar="APP_LABEL.MODEL:ID",
                           help="any object, e.g. cases.customer:42")
        parser.add_argument("--output", "-o", type=Path, help="zip path (default: ./<name>)")

    def handle(self, *args, **options):
        try:
            if options["object"]:
                label, sep, object_id = options["object"].partition(":")
                if not sep or not object_id:
                    raise CommandError("--object must look like app_label.model:ID")
                object_type = resolve_object_type(label)
            else:
                kind = next(k for k in ("case", "alert", "query", "application") if options[k])
                object_type, object_id = resolve_object_type(kind), options[kind]
            with audit_context(actor=Actor.system("manage.py export_evidence")):
                data, name = evidence_bundle_export(object_type=object_type, object_id=object_id)
        except EvidenceError as exc:
            raise CommandError(str(exc)) from None
        path = options["output"] or Path(name)
        path.write_bytes(data)
        self.stdout.write(f"wrote {path} ({len(data)} bytes) for {object_type} {object_id}")
        self.stdout.write(f"verify with: python -m audit.verify_bundle {path}")
