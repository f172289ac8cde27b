"""Benchmark of sanctions list imports (issue 5): SQLite and PostgreSQL.

    .venv/bin/python bench/lists.py [--pg postgres://postgres@127.0.0.1:5432/vigil_lists_bench]

For each database (fresh, migrated) it measures, in one process per database:
  baseline   a plain csv.reader pass over sdn_2024-05-03.csv (read + split, nothing else)
  parse      parsing the file into ListedEntity records (+ content hashes)
  import     importing sdn_2023-11-02 then sdn_2024-05-02 (delta +1,827/-174/54) then the
             full 2024-05-03 capture (the target figure: < 15 s)
  delta      computing + storing the delta between the two full versions 2023-11-02 and
             2024-05-02 again (rolled back; target < 5 s)
  select     listed_entities(active SDN version) (what the screening engine loads)
  peak RSS   of the process after all of it (target < 300 MB)
Every time is printed with its ratio to the baseline measured in the same process.
Files come from ../shared/data (the repo ships only the 2024-05-03 capture).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HISTORY = REPO.parent / "shared" / "data" / "sanctions" / "ofac" / "sdn-csv-history"
SHIPPED = REPO / "fixtures" / "sanctions" / "ofac-sdn-2024-05-03" / "sdn.csv.gz"


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def child() -> dict:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from screening.lists import selectors
    from screening.lists.delta import with_hash
    from screening.lists.parsers import parse_list
    from screening.lists.services import _record_delta, list_import

    call_command("migrate", verbosity=0)
    target = HISTORY / "sdn_2024-05-03.csv"
    out: dict = {"database": os.environ["DATABASE_URL"].split(":", 1)[0]}

    def baseline():
        with target.open(newline="", encoding="ascii") as fh:
            return sum(1 for _ in csv.reader(fh))

    out["baseline_s"], rows = _timed(baseline)
    out["rows"] = rows
    out["parse_s"], n = _timed(
        lambda: sum(1 for e in parse_list("ofac-sdn", target).entities if with_hash(e))
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    a = list_import(source="ofac-sdn", path=HISTORY / "sdn_2023-11-02.csv").version
    out["import_2024_05_02_s"], b = _timed(
        lambda: list_import(source="ofac-sdn", path=HISTORY / "sdn_2024-05-02.csv").version
    )
    out["delta_counts"] = [b.added_count, b.removed_count, b.changed_count]
    out["import_2024_05_03_s"], c = _timed(
        lambda: list_import(source="ofac-sdn", path=target).version
    )
    out["entities"] = c.entity_count

    class Rollback(Exception):
        pass

    def delta_again():
        try:
            with transaction.atomic():
                counts = _record_delta(b, a)
                raise Rollback(counts)
        except Rollback as exc:
            return exc.args[0]

    out["delta_s"], counts = _timed(delta_again)
    out["delta_again_counts"] = [counts["added"], counts["removed"], counts["changed"]]
    out["select_s"], selected = _timed(lambda: sum(1 for _ in selectors.listed_entities([c.pk])))
    out["selected"] = selected
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_imports_mb"] = rss_before / 1024
    return out


def run(database_url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIGIL_BENCH_CHILD": "1",
        "VIGIL_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
    }
    proc = subprocess.run(
        [sys.executable, __file__], env=env, capture_output=True, text=True, cwd=REPO
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark failed on {database_url}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def recreate_pg(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def report(r: dict) -> None:
    base = r["baseline_s"]
    print(f"\n== {r['database']} == ({r['rows']:,} CSV rows, {r['entities']:,} entities imported)")
    print(f"  baseline csv.reader pass        {base:8.3f} s   1.0x")
    for label, key, target in (
        ("parse + hash (no database)", "parse_s", None),
        ("import 2024-05-02 (+delta)", "import_2024_05_02_s", None),
        ("import 2024-05-03 (full SDN)", "import_2024_05_03_s", 15.0),
        ("delta 2023-11-02 -> 2024-05-02", "delta_s", 5.0),
        ("listed_entities(full SDN)", "select_s", None),
    ):
        value = r[key]
        flag = "" if target is None else ("  OK" if value < target else f"  OVER {target:.0f} s")
        print(f"  {label:32s}{value:8.3f} s {value / base:6.1f}x{flag}")
    print(
        f"  delta counts +{r['delta_counts'][0]:,} / -{r['delta_counts'][1]:,} / "
        f"~{r['delta_counts'][2]:,} (expected +1,827 / -174 / 54)"
    )
    flag = "OK" if r["peak_rss_mb"] < 300 else "OVER 300 MB"
    print(
        f"  peak RSS {r['peak_rss_mb']:.0f} MB (before imports {r['rss_before_imports_mb']:.0f}"
        f" MB)  {flag}"
    )


def main() -> None:
    if os.environ.get("VIGIL_BENCH_CHILD"):
        print(json.dumps(child()))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/vigil_lists_bench")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    if not HISTORY.exists():
        raise SystemExit(f"{HISTORY} is missing (the benchmark uses the shared SDN captures)")
    print(f"load average before: {os.getloadavg()[0]:.2f} (machine shared; compare ratios)")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            report(run(f"sqlite:///{tmp}/bench.sqlite3"))
    if not args.skip_pg:
        recreate_pg(args.pg)
        report(run(args.pg))


if __name__ == "__main__":
    main()
