"""python manage.py screen INPUT.csv --output REPORT.csv [--threshold N] [--lists ...]
[--format json]: batch-screen a customer file (thin wrapper around the batch services)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.context import Actor
from screening.services import (
    ScreeningInputError,
    batch_report_write,
    screening_batch_reject,
    screening_batch_run_local,
    screening_batch_start,
)


class Command(BaseCommand):
    help = "Screen a customer CSV (header with `name`; optional id, dob, country, entity_type)."

    def add_arguments(self, parser):
        parser.add_argument("input", help="customer CSV, UTF-8 or cp1252")
        parser.add_argument("--output", required=True, help="report file to write")
        parser.add_argument("--threshold", type=float, default=None)
        parser.add_argument("--lists", nargs="*", default=None,
                            help="list codes (ofac-sdn ofac-cons un uk eu); default all")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--use", choices=["onboarding", "payments"], default="onboarding")
        parser.add_argument("--keep-customers", action="store_true",
                            help="store every row with an id in the customer base (screened "
                                 "again when a list changes); default: only rows with hits")
        parser.add_argument("--workers", type=int, default=0,
                            help="processes screening and logging the rows (default: all cores)")

    def handle(self, *args, **opts):
        path = Path(opts["input"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        max_bytes = int(getattr(settings, "SCREENING_BATCH_MAX_BYTES", 50 * 2**20))
        size = path.stat().st_size
        if size > max_bytes:
            reason = f"file is too large ({size:,} bytes, maximum {max_bytes:,})"
            batch = screening_batch_reject(file_name=path.name, size=size, reason=reason,
                                           actor=Actor.system("manage.py screen"))
            raise CommandError(f"{path}: {reason} (batch #{batch.pk} marked failed)")
        lists = [c for item in (opts["lists"] or []) for c in item.split(",") if c]
        actor = Actor.system("manage.py screen")
        try:
            batch = screening_batch_start(file_name=path.name, data=path.read_bytes(),
                                          threshold=opts["threshold"], lists=lists or None,
                                          use=opts["use"],
                                          keep_customers=opts["keep_customers"], actor=actor,
                                          enqueue=False)
        except ScreeningInputError as exc:
            failed = getattr(exc, "batch", None)
            suffix = f" (batch #{failed.pk} marked failed)" if failed else ""
            raise CommandError(f"{path}: {exc}{suffix}") from None
        bar = tqdm(total=batch.total, unit="name", file=sys.stderr,
                   disable=not sys.stderr.isatty() and opts.get("verbosity", 1) < 2)

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        try:
            batch = screening_batch_run_local(batch_id=batch.pk, progress=progress,
                                              processes=opts["workers"] or os.cpu_count() or 1)
        except Exception as exc:
            raise CommandError(f"batch #{batch.pk} failed: {exc}") from exc
        finally:
            bar.close()
        out = Path(opts["output"])
        tmp = out.with_name(out.name + ".part")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            n = batch_report_write(batch, fh, fmt=opts["format"])
        tmp.replace(out)  # the report appears whole or not at all
        self.stdout.write(f"batch #{batch.pk}: {batch.total} names screened, {batch.hit_rows} "
                          f"with hits, {n} report rows -> {out}")
