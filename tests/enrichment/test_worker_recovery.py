"""A real Celery worker killed mid-run: the run is resumed by another worker and reaches
the same final state as an uninterrupted run, without a second billable pull."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enrichment.choices import RunStatus
from enrichment.document import validate_document
from enrichment.models import DataPatch, EnrichmentRun, ProviderCall
from enrichment.services import (
    application_create,
    enrichment_run_request,
    enrichment_runs_resume_stale,
)
from tests.conftest import _db_url_for_subprocess

from .conftest import application_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker,
              pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def start_worker(queue: str, stub, log: Path) -> subprocess.Popen:
    redis_url = os.environ["REDIS_URL"]
    env = {**os.environ, "DATABASE_URL": _db_url_for_subprocess(), "REDIS_URL": redis_url,
           "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url,
           "CELERY_TASK_ALWAYS_EAGER": "0", "VIGIL_ENV": "test",
           "ENRICHMENT_GLEIF_BASE_URL": stub.gleif_base_url,
           "ENRICHMENT_EXPERIAN_BASE_URL": stub.experian_base_url,
           "ENRICHMENT_EXPERIAN_TOKEN_URL": stub.experian_token_url,
           "ENRICHMENT_GLEIF_RATE_PER_MINUTE": "600000"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--concurrency=1", "-Q", queue, "--loglevel=INFO", "--without-heartbeat",
         "--without-mingle", "--without-gossip"],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_run_is_resumed_to_the_same_final_state(stub, tmp_path):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("Redis is not available")
    from config.celery import app

    stub.configure(latency_ms=400)  # slow providers: the kill lands mid-run
    queue = f"enrichment-test-{os.getpid()}-{time.monotonic_ns()}"
    old = {k: app.conf.get(k) for k in ("task_always_eager", "task_default_queue")}
    app.conf.update(task_always_eager=False, task_default_queue=queue)
    workers = []
    try:
        first = start_worker(queue, stub, tmp_path / "worker-1.log")
        workers.append(first)
        applications = [application_create(data=application_data(80), principals=[
            {"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])
            for _ in range(2)]
        run, _ = enrichment_run_request(application=applications[0], idempotency_key="kill-1")
        # Kill the worker once the registry search has been answered (mid-run).
        wait_for(lambda: stub.stats()["requests"] >= 2, 90, "the run to start")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING  # stranded by the dead worker

        second = start_worker(queue, stub, tmp_path / "worker-2.log")
        workers.append(second)
        time.sleep(1.2)
        assert enrichment_runs_resume_stale(older_than_seconds=1) == [run.pk]
        wait_for(lambda: EnrichmentRun.objects.get(pk=run.pk).status not in
                 ("pending", "running"), 90, "the resumed run")
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, (run.error, (tmp_path / "worker-2.log")
                                                   .read_text()[-2000:])
        assert run.attempts == 2
        validate_document(run.document.document)

        # An uninterrupted run of the same business ends in the same state.
        control, _ = enrichment_run_request(application=applications[1],
                                            idempotency_key="kill-control")
        wait_for(lambda: EnrichmentRun.objects.get(pk=control.pk).status not in
                 ("pending", "running"), 90, "the control run")
        control.refresh_from_db()
        assert control.status == RunStatus.SUCCEEDED
        def patched(r):
            return {p.field: p.after for p in DataPatch.objects.filter(run=r)}
        assert patched(run) == patched(control)
        assert stub.stats()["report_pulls"]["700000080"] == 2  # one per application
        assert ProviderCall.objects.filter(run=run, operation="premier_profile").count() == 1
    finally:
        app.conf.update(**old)
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
