"""`manage.py import_customers FILE.csv`: load or refresh the bank's customer base.

Header: `external_id` (or `id`, as in a screening batch file), `name`, and optional `dob`,
`country`, `entity_type`. UTF-8 or cp1252. Every row is checked before anything is stored;
a bad row stops the import with its line and the problem, and a non-zero exit. Rows are
then stored in chunks, each in one transaction; running the same file again changes
nothing (customers are upserted by id)."""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.context import Actor, audit_context
from cases.customers import (
    FIELDS,
    CustomerInputError,
    customer_rows_clean_iter,
    customers_upsert_many,
)
from cases.models import Customer
from config.rows import ANALYZE_AFTER_ROWS, tables_analyze
from screening.lists.parsers.errors import ListParseError
from screening.lists.parsers.source import iter_text_lines

MAX_BYTES = 500 * 1024 * 1024


def _refuse_binary(file: Path) -> None:
    with file.open("rb") as fh:
        if b"\x00" in fh.read(65536):
            raise CommandError("the file is binary, not a CSV text file")


def _stamp(file: Path) -> tuple[int, int]:
    st = file.stat()
    return st.st_size, st.st_mtime_ns


class _Rows:
    """The file's customer rows as dicts, read one at a time (each pass opens the file
    again; lines decoded as the list importer decodes them: UTF-8, or cp1252 when the
    first non-ASCII line is not UTF-8, and a line in neither refused by its number);
    `line` is the line the row last read ended on, for error messages."""

    def __init__(self, file: Path) -> None:
        self.file, self.line = file, 0

    def __iter__(self) -> Iterator[dict]:
        path = self.file
        lines = iter_text_lines(path, encodings=("utf-8", "cp1252"), max_bytes=MAX_BYTES)
        with contextlib.closing(lines):
            reader = csv.reader(lines)
            try:
                header = [h.strip().lower() for h in next(reader, [])]
                header = ["external_id" if h == "id" else h for h in header]
                if "external_id" not in header or "name" not in header:
                    raise CommandError(
                        f"{path}: the header needs `external_id` (or `id`) and `name` "
                        f"(found: {', '.join(header)[:200] or 'nothing'})")
                unknown = [h for h in header if h not in FIELDS]
                if unknown:
                    raise CommandError(f"{path}: unknown column(s) {', '.join(unknown)}; "
                                       f"expected {', '.join(FIELDS)}")
                for line in reader:
                    self.line = reader.line_num
                    if not any(cell.strip() for cell in line):
                        continue
                    if len(line) != len(header):
                        raise CommandError(f"{path}, line {reader.line_num}: {len(line)} "
                                           f"fields, the header has {len(header)}")
                    yield dict(zip(header, line, strict=True))
            except csv.Error as exc:
                raise CommandError(
                    f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
            except ListParseError as exc:  # an undecodable line, or the file grew too large
                raise CommandError(f"{path}, {exc.location or 'file'}: {exc.problem}") from None


class Command(BaseCommand):
    help = "Load or refresh customers from a CSV file (upserted by id; re-running is safe)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--chunk", type=int, default=1000,
                            help="customers per transaction (default 1000)")
        parser.add_argument("--workers", type=int, default=0,
                            help="processes screening the new customers (default: all cores)")
        parser.add_argument("--no-screen", action="store_true",
                            help="only store: do not screen the new and changed customers "
                                 "against the active lists now")

    def handle(self, *args, path: str, chunk: int, no_screen: bool = False,
               **options) -> None:
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{path}: no such file")
        if file.stat().st_size > MAX_BYTES:
            raise CommandError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        if chunk < 1:
            raise CommandError("--chunk must be at least 1")
        # Two passes over the file, neither holding it: the first checks every row (a bad
        # row stops the import before anything is stored), the second stores them a chunk
        # at a time. Memory stays flat whatever the file's size.
        stamp = _stamp(file)
        _refuse_binary(file)
        rows = _Rows(file)
        count = 0
        try:
            for _ in customer_rows_clean_iter(rows):
                count += 1
        except CustomerInputError as exc:
            raise CommandError(f"{path}, line {rows.line}, {exc.field}: {exc.problem}") from None
        if _stamp(file) != stamp:
            raise CommandError(f"{path}: the file changed while it was being checked; "
                               f"nothing was stored")
        totals = {"created": 0, "updated": 0, "unchanged": 0}
        to_screen: list[int] = []
        actor = Actor.system("manage.py import_customers")
        with audit_context(actor=actor, reason=f"customer import {file.name}"):
            try:
                cleaned = customer_rows_clean_iter(rows)
                while part := list(islice(cleaned, chunk)):
                    outcome = customers_upsert_many(part,
                                                    source=f"import_customers {file.name}")
                    for key, value in outcome.as_dict().items():
                        totals[key] += value
                    to_screen += outcome.to_screen
            except CustomerInputError as exc:  # only if the file changed under the import
                raise CommandError(
                    f"{path}, line {rows.line}, {exc.field}: {exc.problem} (the file changed "
                    f"during the import; the chunks before this line are stored, and running "
                    f"the import again is safe)") from None
        if totals["created"] + totals["updated"] >= ANALYZE_AFTER_ROWS:
            tables_analyze(Customer, Customer.history.model)
        self.stdout.write(self.style.SUCCESS(
            f"{count:,} customers: {totals['created']:,} new, "
            f"{totals['updated']:,} updated, {totals['unchanged']:,} unchanged"))
        if no_screen or not to_screen:
            return
        from screening.services import screening_customers_screen

        bar = tqdm(total=len(to_screen), unit="customer", file=sys.stderr,
                   disable=not sys.stderr.isatty() and options.get("verbosity", 1) < 2)

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        summary = screening_customers_screen(customer_ids=to_screen, actor=actor,
                                             progress=progress,
                                             processes=options.get("workers") or os.cpu_count()
                                             or 1)
        bar.close()
        self.stdout.write(
            f"screened {summary['customers']:,} new or changed customers against the active "
            f"lists: {summary['with_hits']:,} with hits (cases opened or updated)"
            + (f", {summary['skipped']:,} not screenable" if summary["skipped"] else "")
            + ("" if summary["customers"] or summary["skipped"] else
               " (no active list yet: its first activation screens the whole base)"))
