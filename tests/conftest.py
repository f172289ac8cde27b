"""Shared fixtures: one user per role, API clients, a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Login-failure counters and rate buckets must not leak between tests."""
    if settings.configured:
        from django.core.cache import cache

        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _stop_audit_sealer():
    """A test that ran with AUDIT_SEAL_MODE=background leaves a sealer thread holding a
    connection to the test database: end it (cheap when there is none)."""
    yield
    if settings.configured:
        from audit.sealer import sealer_stop

        sealer_stop()


@pytest.fixture
def redis_client():
    """A client on the test Redis. tests._services has checked that it answers: without it
    the test is skipped, or, in CI, the whole run fails."""
    import redis

    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("Redis is not available")
    return redis.Redis.from_url(url)


@pytest.fixture
def shared_data() -> Path:
    """The read-only real data beside the repo (tests may use it when present)."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def _make_user(username: str, role: str):
    from config.accounts.services import user_create_with_role

    return user_create_with_role(username=username, role=role,
                                 password=f"{username}-Pa55word!x")


@pytest.fixture
def analyst(db):
    return _make_user("t_analyst", "analyst")


@pytest.fixture
def analyst2(db):
    return _make_user("t_analyst2", "analyst")


@pytest.fixture
def approver(db):
    return _make_user("t_approver", "approver")


@pytest.fixture
def auditor(db):
    return _make_user("t_auditor", "auditor")


@pytest.fixture
def admin_user(db):
    return _make_user("t_admin", "admin")


@pytest.fixture
def outsider(db):
    """An authenticated user with no role at all."""
    from django.contrib.auth.models import User

    return User.objects.create_user("t_outsider", password="t_outsider-Pa55word!x")


@pytest.fixture
def integration_client(db):
    """(ApiClient, token) for an integration client."""
    from config.accounts.services import api_client_create

    return api_client_create(name="t-integration")


@pytest.fixture
def api_as():
    """api_as(user) -> DRF APIClient logged in with a session; api_as(token=...) -> bearer."""
    from rest_framework.test import APIClient

    def make(user=None, *, token: str | None = None):
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        elif user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def portal_as(client):
    """portal_as(user) -> Django test Client logged in as user (CSRF checks on)."""
    from django.test import Client

    def make(user):
        c = Client(enforce_csrf_checks=False)
        c.force_login(user)
        return c

    return make


def _db_url_for_subprocess() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        user = db.get("USER") or "postgres"
        return f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def sealed_ledger():
    """``LedgerEntry.objects`` after chaining what is pending: with AUDIT_SEAL_MODE=background
    (production's mode) entries are sealed after commit by a background sealer, so a test
    that reads the ledger right after a write seals first; inline mode has nothing pending."""
    from audit.models import LedgerEntry
    from audit.services import ledger_seal_pending

    ledger_seal_pending()
    return LedgerEntry.objects


def wait_until_finished(record, timeout: float, interval: float = 0.5):
    """Refresh `record` (a model with `is_finished`) until it is finished or `timeout`
    seconds have passed; returns it either way (the caller asserts its state)."""
    deadline = time.monotonic() + timeout
    while True:
        record.refresh_from_db()
        if record.is_finished or time.monotonic() >= deadline:
            return record
        time.sleep(interval)


@contextlib.contextmanager
def celery_worker_running(tmp_path, *, pool: str = "solo", concurrency: int = 1,
                          env: dict | None = None):
    """A real `celery worker` subprocess (`pool`, `concurrency`) consuming a private Redis
    queue against the test database; yields the Celery app configured to send through the
    broker (not in process). The worker's log is `tmp_path / "worker.log"`."""
    from config.celery import app

    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("Redis is not available")
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "DATABASE_URL": _db_url_for_subprocess(), "REDIS_URL": redis_url,
           "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url,
           "CELERY_TASK_ALWAYS_EAGER": "0", "VIGIL_ENV": "test", **(env or {})}
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}",
         f"--concurrency={concurrency}", "-Q", queue, "--loglevel=INFO",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    # Settings already point the broker and results at REDIS_URL; only stop running
    # tasks in process and route them to this worker's private queue.
    old = {k: app.conf.get(k) for k in ("task_always_eager", "task_default_queue")}
    app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        yield app
    finally:
        app.conf.update(**old)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real `celery worker` subprocess (solo pool) consuming from Redis against the test
    database. Yields the Celery app configured to send through the broker."""
    with celery_worker_running(tmp_path) as app:
        yield app
