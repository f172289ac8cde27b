"""Enrichment benchmark: loan applications enriched end to end through a real Celery
worker pool against the stub providers (50 ms latency per call), with a baseline and the
degradation under 30 % injected transient faults, all measured in the same run.

    python bench/enrichment.py                      # 200 applications per phase
    python bench/enrichment.py --apps 500 --concurrency 32
    python bench/enrichment.py --skip-baseline --fault-rate 0.3

Phases (each on fresh applications):
  baseline   one in-process thread, no worker pool, no faults (the reference rate)
  pool       Celery worker pool (threads), no faults
  faults     the same pool with 30 % of provider requests failing transiently
Prints applications/s, the run latency distribution (request -> final state), outcome
counts, provider calls per application, and each rate as a ratio to the baseline.
Uses its own database (default postgres://postgres@127.0.0.1:5432/vigil_enrichment_bench),
migrated on first use, and Redis db 5. Target from issue 8: >= 50 applications/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/vigil_enrichment_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"


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

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


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


def _report(name: str, runs: list, elapsed: float, calls: int, baseline: float | None) -> float:
    from collections import Counter

    latencies = [(r.finished_at - r.created_at).total_seconds() * 1000 for r in runs
                 if r.finished_at]
    outcomes = Counter(r.status for r in runs)
    errors = Counter((r.error or {}).get("code") for r in runs if r.status == "failed")
    rate = len(runs) / elapsed
    ratio = f"{rate / baseline:5.2f}x baseline" if baseline else "baseline"
    print(f"{name:9s} {len(runs):5d} apps in {elapsed:6.2f} s = {rate:6.2f} apps/s ({ratio}); "
          f"latency ms p50 {_percentile(latencies, .5):6.0f} p90 {_percentile(latencies, .9):6.0f} "
          f"p99 {_percentile(latencies, .99):6.0f} max {max(latencies):6.0f}; "
          f"outcomes {dict(outcomes)}; failures {dict(errors)}; "
          f"calls/app {calls / len(runs):.2f}")
    return rate


def _wait(run_ids: list[int], timeout: float) -> list:
    from enrichment.models import EnrichmentRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_runs = EnrichmentRun.objects.filter(pk__in=run_ids,
                                                 status__in=["pending", "running"]).count()
        if not open_runs:
            break
        time.sleep(0.1)
    return list(EnrichmentRun.objects.filter(pk__in=run_ids))


def _request(application) -> int:
    from django.db import connection

    from enrichment.services import enrichment_run_request

    try:
        return enrichment_run_request(application=application)[0].pk
    finally:
        connection.close()


def _calls(run_ids: list[int]) -> int:
    from enrichment.models import ProviderCall

    return ProviderCall.objects.filter(run_id__in=run_ids).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("ENRICHMENT_BENCH_DB",
                                                                 DEFAULT_DB))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--apps", type=int, default=200, help="at most 900")
    parser.add_argument("--baseline-apps", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8,
                        help="threads submitting enrichment requests")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes, each a thread pool of --concurrency")
    args = parser.parse_args()
    if args.apps > 900:
        parser.error("--apps is at most 900 (the stub's demo registry)")

    _setup(args.database_url, args.redis_url)
    from django.conf import settings

    from config.celery import app
    from enrichment.clients import reset_provider_clients
    from enrichment.services import enrichment_run_execute, enrichment_run_request
    from enrichment.stubs import StubProviders

    stub = StubProviders(registry_size=2000).start()
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
    reset_provider_clients()
    print(f"enrichment bench: stub latency {args.latency_ms} ms/call, {args.workers} worker "
          f"process(es) x {args.concurrency} threads, {args.apps} apps/phase, "
          f"db {settings.DATABASES['default']['NAME']}")

    # Fresh applications every phase; companies repeat across runs of the bench, which is
    # fine: the bureau report is reused only for the same application.
    offset = 0
    baseline = None
    if not args.skip_baseline:
        applications = _create(args.baseline_apps, offset, "baseline")
        runs = [enrichment_run_request(application=a, queue=False)[0].pk for a in applications]
        started = time.perf_counter()
        for run_id in runs:
            enrichment_run_execute(run_id=run_id)
        elapsed = time.perf_counter() - started
        baseline = _report("baseline", _wait(runs, 5), elapsed, _calls(runs), None)

    queue = f"enrichment-bench-{os.getpid()}"
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", **provider_env}
    workers = []
    for number in range(args.workers):
        log = open(Path("/tmp") / f"enrichment-bench-worker-{os.getpid()}-{number}.log",  # noqa: SIM115
                   "w")
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=threads",
             f"--concurrency={args.concurrency}", "-Q", queue, "--loglevel=WARNING",
             "-n", f"bench{number}@%h", "--without-heartbeat", "--without-mingle",
             "--without-gossip"],
            cwd=REPO, env={**env, "ENRICHMENT_WORKER_PROCESSES": str(args.workers)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        warm = _create(4, offset + 60, "warm-up")
        _wait([enrichment_run_request(application=a)[0].pk for a in warm], 120)
        for phase, rate, base_offset in (("pool", 0.0, 100), ("faults", args.fault_rate, 1000)):
            stub.configure(fault_rate=rate, seed=8,
                           fault_kinds=["429", "500", "502", "503", "drop", "timeout"])
            applications = _create(args.apps, offset + base_offset, phase)
            requests_before = stub.stats()["requests"]
            started = time.perf_counter()
            # Applications arrive from several clients at once (as through the API).
            with ThreadPoolExecutor(args.clients) as pool:
                runs = list(pool.map(_request, applications))
            finished = _wait(runs, args.timeout)
            elapsed = time.perf_counter() - started
            label = f"{phase}" if not rate else f"faults{int(rate * 100)}%"
            _report(label, finished, elapsed, _calls(runs), baseline)
            print(f"{'':9s} provider requests {stub.stats()['requests'] - requests_before}, "
                  f"faults injected {sum(stub.stats()['faults'].values())}")
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
