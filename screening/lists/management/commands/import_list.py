"""`manage.py import_list SOURCE PATH`: import a list file or OFAC CSV folder."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from screening.lists.choices import ListCode
from screening.lists.services import ListImportError, list_import


class Command(BaseCommand):
    help = "Import a sanctions list file (or a folder holding an OFAC CSV set) as a new version."

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", choices=ListCode.values)
        parser.add_argument("path")
        parser.add_argument(
            "--published",
            metavar="YYYY-MM-DD",
            help="publication date of a file that carries none (OFAC's legacy CSV); "
            "a date inside the file wins",
        )

    def handle(self, *args, source: str, path: str, published: str | None = None,
               **options) -> None:
        try:
            publication_date = dt.date.fromisoformat(published) if published else None
        except ValueError as exc:
            raise CommandError(f"--published: {published!r} is not a YYYY-MM-DD date") from exc
        try:
            outcome = list_import(
                source=source,
                path=path,
                actor=Actor.system("manage.py import_list"),
                publication_date=publication_date,
            )
        except ListImportError as exc:
            raise CommandError(f"import refused: {exc}") from exc
        v = outcome.version
        if not outcome.created:
            self.stdout.write(f"{source}: file already imported as version #{v.pk} (no change)")
            return
        line = (
            f"{source}: version #{v.pk} {v.status} — {v.entity_count:,} entities, "
            f"+{v.added_count:,} / -{v.removed_count:,} / ~{v.changed_count:,} "
            f"(published {v.publication_date or 'n/a'}, sha256 {v.sha256[:12]}…)"
        )
        if outcome.activated:
            self.stdout.write(self.style.SUCCESS(line))
        else:
            self.stderr.write(self.style.WARNING(f"{line}\nnot activated: {v.status_reason}"))
            raise CommandError(f"version #{v.pk} held: {v.status_reason}")
