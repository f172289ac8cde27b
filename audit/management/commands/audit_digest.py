"""python manage.py audit_digest [--kind hourly|daily] — seal the ledger now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, audit_context
from audit.digests import DigestError, digest_archive_sync, digest_create
from audit.models import DigestKind


class Command(BaseCommand):
    help = "Create a signed digest of the entries not yet sealed (as the scheduled task does)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=DigestKind.values, default=DigestKind.HOURLY)

    def handle(self, *args, kind, **options):
        with audit_context(actor=Actor.system("manage.py audit_digest")):
            try:
                digest = digest_create(kind=kind)
            except DigestError as exc:
                raise CommandError(str(exc)) from None
            digest_archive_sync()
        if digest is None:
            self.stdout.write("nothing new to seal")
        else:
            self.stdout.write(f"sealed {digest.kind} {digest.first_seq}..{digest.last_seq} "
                              f"root {digest.merkle_root} -> {digest.file_name}")
