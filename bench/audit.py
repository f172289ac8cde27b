"""Audit trail benchmark (PostgreSQL): appends under concurrency, verification speed and
inclusion proofs, each printed with the ratio to a baseline measured in the same run.

    python bench/audit.py                       # 16 writers x 1,000 appends, 1M verify
    python bench/audit.py --appends 100000      # the issue's full append figure
    python bench/audit.py --skip-appends --verify-entries 200000

Uses its own database (default postgres://postgres@127.0.0.1:5432/vigil_audit_bench),
migrated on first use and emptied between phases. Targets from issue 3:
  appends >= 1,000/s with 16 writers, zero forks; added p99 latency < 10 ms;
  verification >= 200,000 entries/s (1M in < 5 s); proof produce+verify < 10 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/vigil_audit_bench"


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VIGIL_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    import django

    django.setup()


def _ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        # TRUNCATE is not a row event: the append-only triggers allow it (bench DB only).
        cursor.execute("TRUNCATE audit_ledgerentry, audit_pendingentry, audit_digest, "
                       "cases_customer, "
                       "cases_historicalcustomer RESTART IDENTITY CASCADE")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_plain_write "
                       "(id bigserial PRIMARY KEY, writer text, i int, data jsonb)")
        cursor.execute("TRUNCATE bench_plain_write")


# -- writer subprocess ----------------------------------------------------------------------

def writer_main(args) -> None:
    """One writer process: waits for the start time, does its share, prints latencies."""
    _setup(args.database_url)
    from django.db import connection, transaction

    from audit.context import Actor, audit_context
    from audit.services import audit_record

    connection.ensure_connection()
    # Ready, then wait for the go signal: start-up of 16 Django processes on a small
    # machine must not be counted as write time.
    go = Path(args.sync_dir) / "go"
    (Path(args.sync_dir) / f"ready-{args.writer}").touch()
    while not go.exists():
        time.sleep(0.002)
    latencies, committed = [], []
    # Paced (--rate): each write has a scheduled start, and its latency counts from then, so
    # a writer that falls behind reports the wait too (no coordinated omission).
    interval = args.writers / args.rate if args.rate else 0.0
    start = time.perf_counter() + (args.writer / args.rate if args.rate else 0.0)
    with audit_context(actor=Actor.system(f"bench-writer-{args.writer}")):
        for i in range(args.count):
            data = {"writer": args.writer, "i": i, "note": "benchmark append"}
            t0 = time.perf_counter()
            if interval:
                t0 = start + i * interval
                if t0 > time.perf_counter():
                    time.sleep(t0 - time.perf_counter())
            if args.mode == "audited":
                with transaction.atomic():
                    entry = audit_record(action="bench.append", object_type="bench.item",
                                         object_id=f"{args.writer}-{i}", data=data)
                latencies.append(time.perf_counter() - t0)
                if args.seal_mode != "inline":
                    committed.append((entry.id, time.time()))
                continue
            else:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("INSERT INTO bench_plain_write (writer, i, data) "
                                   "VALUES (%s, %s, %s)", [args.writer, i, json.dumps(data)])
            latencies.append(time.perf_counter() - t0)
    print(json.dumps({"end": time.time(), "latencies": latencies, "committed": committed}))


class _SealWatcher:
    """Background sealing: polls the lowest visible pending id every 2 ms. A committed
    pending row is chained once the lowest visible pending id is above it, which gives each
    write's commit-to-chained lag without touching the writers."""

    def __init__(self, database_url: str) -> None:
        import threading

        self.samples: list[tuple[float, float]] = []  # (wall time, lowest pending id or inf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(database_url,), daemon=True)
        self._thread.start()

    def _run(self, database_url: str) -> None:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                low = conn.execute("SELECT min(id) FROM audit_pendingentry").fetchone()[0]
                self.samples.append((time.time(), float("inf") if low is None else low))
                time.sleep(0.002)

    def lags(self, committed: list[tuple[int, float]]) -> list[float]:
        import bisect

        self._stop.set()
        self._thread.join()
        times = [t for t, _ in self.samples]
        out = []
        for pending_id, at in committed:
            i = bisect.bisect_right(times, at)
            while i < len(self.samples) and self.samples[i][1] <= pending_id:
                i += 1
            if i < len(self.samples):
                out.append(self.samples[i][0] - at)
        return out


def _seal_env(seal_mode: str) -> dict[str, str]:
    """inline | background (a sealer thread per writer) | process (one audit_sealer)."""
    if seal_mode == "process":
        return {"AUDIT_SEAL_MODE": "background", "AUDIT_SEALER": "process"}
    return {"AUDIT_SEAL_MODE": seal_mode, "AUDIT_SEALER": "thread"}


def run_writers(database_url: str, mode: str, writers: int, total: int,
                seal_mode: str = "inline", rate: float = 0.0) -> dict:
    import signal
    import tempfile

    per = total // writers
    sync = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    env = {**os.environ, **_seal_env(seal_mode), "DATABASE_URL": database_url,
           "DJANGO_SETTINGS_MODULE": "config.settings", "VIGIL_ENV": "test",
           "LOG_LEVEL": "WARNING"}
    sealer = None
    if mode == "audited" and seal_mode == "process":
        sealer = subprocess.Popen([sys.executable, "manage.py", "audit_sealer", "--report-every",
                                   "0"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--writer", str(w), "--count", str(per), "--mode", mode,
             "--sync-dir", str(sync), "--database-url", database_url,
             "--seal-mode", seal_mode, "--writers", str(writers), "--rate", str(rate)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        for w in range(writers)
    ]
    while len(list(sync.glob("ready-*"))) < writers:
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit("a writer failed to start: " + procs[0].stderr.read()[-2000:])
        time.sleep(0.05)
    watcher = _SealWatcher(database_url) if seal_mode != "inline" and mode == "audited" \
        else None
    start = time.time()
    (sync / "go").touch()
    latencies: list[float] = []
    committed: list = []
    end = start
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"writer failed: {err[-2000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        if os.environ.get("SEALSTATS"):
            Path(f"/tmp/sealstats-{proc.pid}.txt").write_text(err)
        latencies.extend(report["latencies"])
        committed.extend(report["committed"])
        end = max(end, report["end"])
    elapsed = end - start
    if sealer is not None:
        from audit.models import PendingEntry

        deadline = time.time() + 120
        while PendingEntry.objects.exists() and time.time() < deadline:
            time.sleep(0.01)
        sealer.send_signal(signal.SIGTERM)
        _, err = sealer.communicate(timeout=60)
        if sealer.returncode != 0:
            raise SystemExit(f"audit_sealer failed: {err[-2000:]}")
    latencies.sort()
    lags = sorted(watcher.lags(committed)) if watcher else []
    return {
        "ops": per * writers, "elapsed": elapsed, "rate": per * writers / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "lag_p50_ms": 1000 * statistics.median(lags) if lags else None,
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else None,
    }


def bench_appends(args) -> None:
    from audit.models import LedgerEntry, PendingEntry
    from audit.verification import verify_ledger

    pacing = (f"paced at {args.rate:,.0f} writes/s in all, latency from each write's "
              "scheduled start" if args.rate else "each writer as fast as it can")
    print(f"== appends: {args.writers} concurrent writer processes, {args.appends} writes per "
          f"mode (PostgreSQL, one transaction per write; {pacing})")
    _reset_tables()
    base = run_writers(args.database_url, "plain", args.writers, args.appends, rate=args.rate)
    print(f"baseline (unaudited INSERT):   {base['rate']:9.0f} writes/s   p50 "
          f"{base['p50_ms']:.2f} ms  p99 {base['p99_ms']:.2f} ms")
    for seal_mode in args.seal_modes:
        audited = run_writers(args.database_url, "audited", args.writers, args.appends,
                              seal_mode=seal_mode, rate=args.rate)
        left = PendingEntry.objects.count()
        seqs = LedgerEntry.objects.count()
        span = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
        prevs = LedgerEntry.objects.values("prev_hash").distinct().count()
        result = verify_ledger(reconcile=False)
        print(f"audited, {seal_mode} sealing: {audited['rate']:9.0f} writes/s   p50 "
              f"{audited['p50_ms']:.2f} ms  p99 {audited['p99_ms']:.2f} ms")
        print(f"  ratio to baseline throughput: {audited['rate'] / base['rate']:.2f}; added p99 "
              f"latency per audited write: {audited['p99_ms'] - base['p99_ms']:.2f} ms "
              "(target < 10 ms)")
        if audited["lag_p50_ms"] is not None:
            print(f"  commit-to-chained lag (every write): p50 "
                  f"{audited['lag_p50_ms']:.1f} ms, p99 {audited['lag_p99_ms']:.1f} ms")
        print(f"  appends/s: {audited['rate']:.0f} (target >= 1,000); chain now {seqs} entries, "
              f"forks {seqs - prevs}, gaps {span - seqs}, pending after exit {left}; "
              f"chain verifies: {result.chain.ok}")


# -- verification -----------------------------------------------------------------------------

def _generate_rows(n: int):
    from audit.chain import (
        GENESIS_PREV_HASH,
        canonical_bytes,
        entry_hash,
        entry_header,
        sha256_hex,
    )

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev = GENESIS_PREV_HASH
    for seq in range(1, n + 1):
        ts = t0 + dt.timedelta(milliseconds=seq * 7)
        body = canonical_bytes({"history_id": seq, "history_type": "~", "reason": "",
                                "state": {"id": seq % 5000, "name": f"Customer {seq % 5000}",
                                          "country": "GB", "priority": seq % 100}})
        meta = ("user", str(seq % 40), f"analyst{seq % 40}", "update", "cases.case",
                str(seq % 5000), f"req-{seq // 3:x}")
        header = entry_header(seq=seq, ts=ts, actor_type=meta[0], actor_id=meta[1],
                              actor_label=meta[2], action=meta[3], object_type=meta[4],
                              object_id=meta[5], correlation_id=meta[6],
                              body_sha256=sha256_hex(body), prev_hash=prev)
        digest = entry_hash(header)
        yield (seq, ts, *meta, header, body, prev, digest)
        prev = digest


def _load_rows(n: int) -> list[tuple]:
    from django.db import connection

    rows = list(_generate_rows(n))
    _reset_tables()
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor, cursor.copy(
        "COPY audit_ledgerentry (seq, ts, actor_type, actor_id, actor_label, action, "
        "object_type, object_id, correlation_id, header, body, prev_hash, hash) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_ledgerentry")
    return rows


def bench_verification(args) -> list[tuple]:
    from django.db import connection

    from audit.chain import ChainVerifier
    from audit.verification import ledger_row_batches, verify_ledger

    n = args.verify_entries
    print(f"\n== verification over {n:,} entries")
    t = time.perf_counter()
    rows = _load_rows(n)
    print(f"(generated and loaded with COPY in {time.perf_counter() - t:.1f} s)")

    t = time.perf_counter()
    fetched = sum(len(b) for b in ledger_row_batches(1))
    read_s = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    result = verify_ledger(reconcile=False)
    full_s, full_cpu = time.perf_counter() - t, time.process_time() - c
    import resource

    t = time.perf_counter()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    par = verify_ledger(reconcile=False, workers=args.verify_workers)
    par_s = time.perf_counter() - t
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    par_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    assert par.chain.ok and par.chain.checked == n
    t, c = time.perf_counter(), time.process_time()
    verifier = ChainVerifier()
    verifier.feed(rows)
    pure = verifier.finish()
    pure_s, pure_cpu = time.perf_counter() - t, time.process_time() - c
    assert fetched == n and result.chain.checked == n and result.chain.ok and pure.ok
    print(f"baseline (stream rows from PostgreSQL, no checks): {n / read_s:10,.0f} rows/s "
          f"({read_s:.2f} s)")
    print(f"verify_audit chain from PostgreSQL:                 {n / full_s:10,.0f} entries/s "
          f"({full_s:.2f} s)  (target >= 200,000/s, 1M < 5 s)")
    print(f"verify_audit with {args.verify_workers} worker processes:             "
          f"{n / par_s:10,.0f} entries/s ({par_s:.2f} s)")
    print(f"verifier alone (rows in memory):                    {n / pure_s:10,.0f} entries/s "
          f"({pure_s:.2f} s)")
    print(f"ratio verify/stream-only: {read_s / full_s:.2f}")
    # On a shared machine wall time depends on the neighbours; CPU time of this process
    # shows what one dedicated core would do.
    print(f"per CPU-second of the verifying process: from PostgreSQL {n / full_cpu:,.0f} "
          f"entries/s, in memory {n / pure_cpu:,.0f} entries/s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"parallel workers' CPU: {par_cpu:.2f} s in all ({n / max(par_cpu, 1e-9):,.0f} entries "
          "per CPU-second, PostgreSQL's own work not included)")
    connection.close()
    return rows


def bench_proofs(rows: list[tuple], samples: int) -> None:
    from audit import merkle
    from audit.chain import merkle_leaf_data

    n = len(rows)
    print(f"\n== inclusion proofs among {n:,} entries ({samples} random entries)")
    t = time.perf_counter()
    leaves = [merkle.leaf_hash(merkle_leaf_data(r[12])) for r in rows]
    tree = merkle.MerkleTree(leaves)
    build_s = time.perf_counter() - t
    root = tree.root
    times = []
    for index in random.Random(7).sample(range(n), samples):
        t = time.perf_counter()
        proof = tree.inclusion_proof(index)
        ok = merkle.verify_inclusion(leaves[index], index, n, proof, root)
        times.append(time.perf_counter() - t)
        assert ok
    times.sort()
    t = time.perf_counter()
    naive_root = merkle.root_from_leaf_hashes(leaves)
    naive_s = time.perf_counter() - t
    assert naive_root == root
    mean_ms = 1000 * statistics.mean(times)
    print(f"tree levels built once per digest in {build_s:.2f} s (cached afterwards)")
    print(f"proof produce+verify: mean {mean_ms:.3f} ms, p99 "
          f"{1000 * times[int(0.99 * (len(times) - 1))]:.3f} ms, max {1000 * times[-1]:.3f} ms"
          "  (target < 10 ms)")
    print(f"baseline (recompute the root without the cached levels): {1000 * naive_s:.0f} ms; "
          f"ratio {naive_s / statistics.mean(times):,.0f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 DEFAULT_DB))
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--appends", type=int, default=16_000, help="total writes per mode")
    parser.add_argument("--verify-entries", type=int, default=1_000_000)
    parser.add_argument("--proof-samples", type=int, default=1000)
    parser.add_argument("--verify-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--seal-modes", nargs="+", choices=["inline", "background", "process"],
                        default=["inline", "background", "process"],
                        help="background: a sealer thread in each writer; process: writers "
                             "leave sealing to one `manage.py audit_sealer` process")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered writes/s in all (paced, open loop); 0: closed loop")
    parser.add_argument("--skip-verification", action="store_true")
    # writer subprocess mode
    parser.add_argument("--writer", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["audited", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--sync-dir", help=argparse.SUPPRESS)
    parser.add_argument("--seal-mode", default="inline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer is not None:
        writer_main(args)
        return
    _ensure_database(args.database_url)
    _setup(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"Vigil audit benchmark on {args.database_url} ({os.cpu_count()} CPUs)")
    if not args.skip_appends:
        bench_appends(args)
    if not args.skip_verification:
        rows = bench_verification(args)
        bench_proofs(rows, args.proof_samples)
        _reset_tables()


if __name__ == "__main__":
    main()
