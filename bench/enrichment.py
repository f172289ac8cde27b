"""Enrichment benchmark: loan applications enriched end to end through a real Celery
worker pool against the stub providers (50 ms latency per call), with a baseline and the
degradation under 30 % injected transient faults, all measured in the same run.

    python bench/enrichment.py                      # 200 applications per phase
    python bench/enrichment.py --apps 500 --workers 2 --concurrency 32
    AUDIT_SEAL_MODE=background python bench/enrichment.py --skip-baseline

Phases (each on fresh applications):
  baseline   one in-process thread, no worker pool, no faults (the reference rate)
  pool       Celery worker pool, no faults
  faults     the same pool with 30 % of provider requests failing transiently
For each: applications/s, the latency distribution (request -> final state) and the run
time alone (claim -> final state), outcome counts, provider calls per application, the
rate as a ratio to the baseline, and where the CPU went (milliseconds of CPU per
application in the workers, in this database's PostgreSQL backends, in the stub and in
this process, which submits the requests). Afterwards the audit trail is checked: every
provider call stored has its ledger entry (sealed first when AUDIT_SEAL_MODE=background).

The stub providers run in a process of their own, so their Python never competes with
the workers' for a GIL. Uses its own database (default
postgres://postgres@127.0.0.1:5432/vigil_enrichment_bench, migrated on first use) and
Redis db 5. Target from issue 8: >= 50 applications/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/vigil_enrichment_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

def _setup(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = redis_url
    os.environ["CELERY_RESULT_BACKEND"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VIGIL_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    import psycopg

    # Options after "?" (e.g. server_side_binding=true&prepare_threshold=5) go to
    # DATABASES["default"]["OPTIONS"] through dj-database-url.
    base, name = database_url.split("?", 1)[0].rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# -- CPU accounting (Linux /proc) -----------------------------------------------------------

def _proc_cpu(pid: int, *, system_only: bool = False) -> float:
    """CPU seconds (user + system, all threads) of one live process; 0 when gone. With
    ``system_only``, the time in the kernel alone (sockets, futexes, scheduling)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[12]) + (0 if system_only else int(fields[11]))) / CLOCK_TICKS


def _redis_server() -> int | None:
    """The pid of the local redis-server (shared with other users of the machine)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "redis-server":
                return int(entry.name)
        except OSError:
            continue
    return None


def _descendants(root: int) -> list[int]:
    """root and every process below it (a prefork pool's children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _postgres_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def _postmaster_reaped_cpu() -> float | None:
    """CPU seconds of the postmaster's exited children (all databases): backends that
    start and end within a phase never show up in pg_stat_activity at either sample."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_postmaster_start_time(), current_setting('data_directory')")
            pid_file = Path(cursor.fetchone()[1]) / "postmaster.pid"
        fields = Path(f"/proc/{int(pid_file.read_text().split()[0])}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    parts = fields.rsplit(")", 1)[1].split()
    return (int(parts[13]) + int(parts[14])) / CLOCK_TICKS


def _machine_busy_cpu() -> float:
    """CPU seconds all processes of the machine spent busy (other users' too)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent by each group of processes between start() and stop(), plus
    figures outside the total: the workers' share spent in the kernel, and three that
    include other users of the machine: the whole machine's busy CPU, the redis-server
    and PostgreSQL backends that exited during the phase (of every database)."""

    def __init__(self, workers: list[int], stub: int) -> None:
        self.workers = workers
        self.stub = stub

    def _sample(self) -> dict[str, dict[int, float]]:
        worker_pids = [p for root in self.workers for p in _descendants(root)]
        return {
            "workers": {p: _proc_cpu(p) for p in worker_pids},
            "postgres": {p: _proc_cpu(p) for p in _postgres_backends()},
            "stub": {self.stub: _proc_cpu(self.stub)},
            "bench": {os.getpid(): _proc_cpu(os.getpid())},
        }

    def _others(self) -> dict[str, float]:
        redis_pid = _redis_server()
        return {"machine": _machine_busy_cpu(),
                "workers in kernel": sum(_proc_cpu(p, system_only=True)
                                         for root in self.workers for p in _descendants(root)),
                "redis": _proc_cpu(redis_pid) if redis_pid else 0.0}

    def start(self) -> None:
        self._before = self._sample()
        self._reaped = _postmaster_reaped_cpu()
        self._outside_before = self._others()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        used = {group: sum(max(0.0, cpu - self._before[group].get(pid, 0.0))
                           for pid, cpu in pids.items())
                for group, pids in after.items()}
        reaped = _postmaster_reaped_cpu()
        self.outside = {name: value - self._outside_before[name]
                        for name, value in self._others().items()}
        if reaped is not None and self._reaped is not None:
            self.outside["exited pg backends"] = reaped - self._reaped
        return used


class StatementCounter:
    """A database execute wrapper counting the SQL statements a run sends (BEGIN and COMMIT
    are not statements to Django; savepoints are), by their first words."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def __call__(self, execute, sql, params, many, context):
        words = sql.split(None, 3)
        kind = " ".join(words[:3] if words[0].upper() == "INSERT" else words[:1]).upper()
        self.kinds[kind.replace('"', "")] += 1
        return execute(sql, params, many, context)

    def summary(self, runs: int) -> str:
        total = sum(self.kinds.values())
        top = ", ".join(f"{kind} {count / runs:.1f}" for kind, count in self.kinds.most_common(8))
        return f"SQL statements/app (in-process runs) {total / runs:.1f}: {top}"


# -- phases ---------------------------------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _create(count: int, offset: int, tag: str) -> list:
    from enrichment.services import application_create
    from enrichment.stubs import demo_company

    applications = []
    for i in range(offset, offset + count):
        company = demo_company(i)
        applications.append(application_create(data={
            "legal_name": company.legal_name, "registration_number": company.registration_number,
            "country": company.country, "address_line": company.street, "city": company.city,
            "postal_code": company.postal_code, "requested_amount": 100_000, "currency": "USD",
            "purpose": f"bench {tag}"}, principals=[
            {"full_name": f"Bench Principal {i}", "date_of_birth": dt.date(1970, 1, 1)}]))
    return applications


def _distribution(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {_percentile(values, .5):5.0f} p90 {_percentile(values, .9):5.0f} "
            f"p95 {_percentile(values, .95):5.0f} p99 {_percentile(values, .99):5.0f} "
            f"max {max(values):5.0f}")


def _report(name: str, runs: list, elapsed: float, calls: int, baseline: float | None,
            cpu: dict[str, float] | None = None,
            outside: dict[str, float] | None = None) -> float:
    latencies = [(r.finished_at - r.created_at).total_seconds() * 1000 for r in runs
                 if r.finished_at]
    durations = [float(r.duration_ms) for r in runs if r.duration_ms is not None]
    outcomes = Counter(r.status for r in runs)
    errors = Counter((r.error or {}).get("code") for r in runs if r.status == "failed")
    rate = len(runs) / elapsed
    ratio = f"{rate / baseline:5.2f}x baseline" if baseline else "baseline"
    print(f"{name:9s} {len(runs):5d} apps in {elapsed:6.2f} s = {rate:6.2f} apps/s ({ratio})")
    print(f"{'':9s} latency ms (request -> final) {_distribution(latencies)}; "
          f"run alone {_distribution(durations)}")
    print(f"{'':9s} outcomes {dict(outcomes)}; failures {dict(errors)}; "
          f"calls/app {calls / len(runs):.2f}")
    if cpu:
        per_app = {group: seconds * 1000 / len(runs) for group, seconds in cpu.items()}
        print(f"{'':9s} CPU ms/app: " + ", ".join(f"{g} {v:.1f}" for g, v in per_app.items())
              + f" (total {sum(per_app.values()):.1f}; {sum(cpu.values()) / elapsed:.2f} "
                f"cores busy of {os.cpu_count()})")
    if outside:
        print(f"{'':9s} not in the total: " + ", ".join(
            f"{g} {seconds * 1000 / len(runs):.1f} ms/app" for g, seconds in outside.items())
            + " (machine, redis and exited backends include other users of the machine)")
    return rate


def _wait(run_ids: list[int], timeout: float) -> list:
    from enrichment.models import EnrichmentRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_runs = EnrichmentRun.objects.filter(pk__in=run_ids,
                                                 status__in=["pending", "running"]).count()
        if not open_runs:
            break
        time.sleep(0.05)
    return list(EnrichmentRun.objects.filter(pk__in=run_ids))


def _request(application) -> int:
    from enrichment.services import enrichment_run_request

    # The client thread keeps its database connection for the whole phase (as a web
    # process would): a connection per request would bill the bench and PostgreSQL for a
    # backend start each time, which is no part of enrichment.
    return enrichment_run_request(application=application)[0].pk


def _close_connections(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close the database connection of each of the pool's ``threads`` threads (a barrier
    makes every thread take exactly one of the close tasks)."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=30)
        connection.close()

    list(pool.map(lambda _n: close(), range(threads)))


def _calls(run_ids: list[int]) -> int:
    from enrichment.models import ProviderCall

    return ProviderCall.objects.filter(run_id__in=run_ids).count()


def _audit_check(run_ids: list[int]) -> str:
    """Every stored provider call is on the ledger (after sealing what is pending)."""
    from audit import services as audit_services
    from audit.models import LedgerEntry
    from enrichment.models import ProviderCall

    started = time.perf_counter()
    sealed = audit_services.ledger_seal_pending() if hasattr(
        audit_services, "ledger_seal_pending") else 0
    seal_time = time.perf_counter() - started
    entries = LedgerEntry.objects.filter(
        action="enrichment.provider_call", object_type="enrichment.enrichmentrun",
        object_id__in=[str(pk) for pk in run_ids]).count()
    calls = ProviderCall.objects.filter(run_id__in=run_ids).count()
    verdict = "ok" if entries == calls else "MISMATCH"
    return (f"audit: {calls} calls stored, {entries} provider_call ledger entries ({verdict}); "
            f"{sealed} entries still pending at the end, sealed in {seal_time:.2f} s")


def _start_workers(args, queue: str, env: dict) -> list[subprocess.Popen]:
    workers = []
    for number in range(args.workers):
        log = open(Path("/tmp") / f"enrichment-bench-worker-{os.getpid()}-{number}.log",  # noqa: SIM115
                   "w")
        celery_args = ["-A", "config", "worker", f"--pool={args.pool}",
                       f"--concurrency={args.concurrency}", "-Q", queue, "--loglevel=WARNING",
                       "-n", f"bench{number}-{os.getpid()}@%h", "--without-heartbeat",
                       "--without-mingle", "--without-gossip"]
        # With --switch-interval the worker's interpreter hands the GIL over sooner, so a
        # thread back from a database round trip waits less behind a busy one.
        prelude = []
        if args.switch_interval:
            prelude.append(f"import sys; sys.setswitchinterval({args.switch_interval})")
        if args.celery_db_reuse_max is not None:
            # Until config/settings.py sets it: Celery closes each task's database
            # connection unless CELERY_DB_REUSE_MAX is set.
            prelude.append("from django.conf import settings; "
                           f"settings.CELERY_DB_REUSE_MAX = {args.celery_db_reuse_max}")
        launcher = ([sys.executable, "-c", "; ".join(
            [*prelude, "import sys; sys.argv[0] = 'celery'",
             "from celery.__main__ import main; main()"])]
            if prelude else [sys.executable, "-m", "celery"])
        workers.append(subprocess.Popen(
            launcher + celery_args,
            cwd=REPO, env={**env, "ENRICHMENT_WORKER_PROCESSES": str(
                args.workers * (args.concurrency if args.pool == "prefork" else 1))},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("ENRICHMENT_BENCH_DB",
                                                                 DEFAULT_DB))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--apps", type=int, default=200, help="at most 900")
    parser.add_argument("--baseline-apps", type=int, default=40)
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads",
                        help="Celery pool: threads (I/O bound calls) or prefork processes")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (Celery main processes)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="threads (or prefork children) per worker")
    parser.add_argument("--switch-interval", type=float, default=0,
                        help="the workers' sys.setswitchinterval in seconds (0: Python's "
                             "default, 0.005)")
    parser.add_argument("--celery-db-reuse-max", type=int, default=None,
                        help="set CELERY_DB_REUSE_MAX in the workers (default: the "
                             "settings' value; unset, Celery opens a new database "
                             "connection for every task)")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8,
                        help="threads submitting enrichment requests")
    args = parser.parse_args()
    if args.apps > 900:
        parser.error("--apps is at most 900 (the stub's demo registry)")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    if min(args.workers, args.concurrency, args.clients, args.apps) < 1:
        parser.error("--workers, --concurrency, --clients and --apps must be at least 1")

    _setup(args.database_url, args.redis_url)
    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from enrichment.clients import reset_provider_clients
    from enrichment.services import enrichment_run_execute, enrichment_run_request
    from enrichment.stubs import StubProcess

    stub = StubProcess(registry_size=2000)
    stub.configure(latency_ms=args.latency_ms, retry_after=0, timeout_s=1.5)
    provider_env = {
        "ENRICHMENT_GLEIF_BASE_URL": stub.gleif_base_url,
        "ENRICHMENT_EXPERIAN_BASE_URL": stub.experian_base_url,
        "ENRICHMENT_EXPERIAN_TOKEN_URL": stub.experian_token_url,
        # The stub has no real budget; the production 60/min would cap the pool at 1 app/s.
        "ENRICHMENT_GLEIF_RATE_PER_MINUTE": "6000000",
        "ENRICHMENT_BUREAU_RATE_PER_MINUTE": "6000000",
        "ENRICHMENT_READ_TIMEOUT": "1.0", "ENRICHMENT_BACKOFF_BASE": "0.05",
        "ENRICHMENT_BACKOFF_MAX": "0.5",
    }
    os.environ.update(provider_env)
    reset_provider_clients(breakers=True)
    print(f"enrichment bench: stub latency {args.latency_ms} ms/call, {args.workers} worker "
          f"process(es), pool {args.pool} x {args.concurrency}"
          f"{f', switch interval {args.switch_interval}s' if args.switch_interval else ''}"
          f"{f', CELERY_DB_REUSE_MAX {args.celery_db_reuse_max}' if args.celery_db_reuse_max is not None else ''}, "
          f"{args.apps} apps/phase, "
          f"audit seal mode {getattr(settings, 'AUDIT_SEAL_MODE', 'inline')}, "
          f"db {settings.DATABASES['default']['NAME']}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    # Fresh applications every phase; companies repeat across runs of the bench, which is
    # fine: the bureau report is reused only for the same application.
    baseline = None
    workers: list[subprocess.Popen] = []
    try:
        if not args.skip_baseline:
            applications = _create(args.baseline_apps, 0, "baseline")
            runs = [enrichment_run_request(application=a, queue=False)[0].pk
                    for a in applications]
            meter = CpuMeter([], stub.process.pid)
            statements = StatementCounter()
            meter.start()
            started = time.perf_counter()
            with connection.execute_wrapper(statements):
                for run_id in runs:
                    enrichment_run_execute(run_id=run_id)
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            baseline = _report("baseline", _wait(runs, 5), elapsed, _calls(runs), None,
                               cpu, meter.outside)
            print(f"{'':9s} {statements.summary(len(runs))}")

        queue = f"enrichment-bench-{os.getpid()}"
        env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", **provider_env}
        workers = _start_workers(args, queue, env)
        app.conf.update(task_always_eager=False, task_default_queue=queue)
        # Warm the pool up as a long-running one is: every worker thread (and the side
        # threads of the registry calls) opens its database connection and its HTTP
        # sessions once, which 4 warm-up runs did not reach; the timed phases then
        # measure the steady state, not thread start-up. Companies 1900-1999 of the
        # stub's registry are used by no timed phase.
        warm = _create(min(100, max(4, 2 * args.workers * args.concurrency)), 1900, "warm-up")
        with ThreadPoolExecutor(args.clients) as pool:
            warm_runs = list(pool.map(_request, warm))
            _close_connections(pool, args.clients)
        _wait(warm_runs, 120)
        meter = CpuMeter([w.pid for w in workers], stub.process.pid)
        for phase, rate, base_offset in (("pool", 0.0, 100), ("faults", args.fault_rate, 1000)):
            stub.configure(fault_rate=rate, seed=8,
                           fault_kinds=["429", "500", "502", "503", "drop", "timeout"])
            applications = _create(args.apps, base_offset, phase)
            requests_before = stub.stats()["requests"]
            meter.start()
            started = time.perf_counter()
            # Applications arrive from several clients at once (as through the API).
            with ThreadPoolExecutor(args.clients) as pool:
                runs = list(pool.map(_request, applications))
                _close_connections(pool, args.clients)
            finished = _wait(runs, args.timeout)
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            label = f"{phase}" if not rate else f"faults{int(rate * 100)}%"
            _report(label, finished, elapsed, _calls(runs), baseline, cpu, meter.outside)
            stats = stub.stats()
            print(f"{'':9s} provider requests {stats['requests'] - requests_before}, "
                  f"faults injected so far {sum(stats['faults'].values())}")
            print(f"{'':9s} {_audit_check(runs)}")
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        stub.stop()


if __name__ == "__main__":
    main()
