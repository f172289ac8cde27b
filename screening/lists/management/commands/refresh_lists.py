"""`manage.py refresh_lists`: download every enabled list and import what changed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from screening.lists.choices import ListCode
from screening.lists.services import ListImportError, list_refresh, list_source_ensure


class Command(BaseCommand):
    help = "Download the sanctions lists from their configured URLs and import new versions."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source",
            choices=ListCode.values,
            action="append",
            help="only this list (repeatable); default: every enabled list",
        )

    def handle(self, *args, source: list[str] | None = None, **options) -> None:
        codes = source or [c for c in ListCode.values if list_source_ensure(code=c).is_enabled]
        failures = []
        for code in codes:
            try:
                outcome = list_refresh(source=code, actor=Actor.system("manage.py refresh_lists"))
            except ListImportError as exc:
                failures.append(code)
                self.stderr.write(self.style.ERROR(f"{code}: {exc}"))
                continue
            if outcome.not_modified:
                self.stdout.write(f"{code}: not modified")
            else:
                v = outcome.imported.version
                state = "no change" if not outcome.imported.created else v.status
                self.stdout.write(f"{code}: version #{v.pk} {state} ({v.entity_count:,} entities)")
        if failures:
            raise CommandError(f"refresh failed for: {', '.join(failures)}")
