"""Celery side of the audit trail: beat schedule, digest tasks, verification as a task run
by a real worker process with progress on its run row."""

from __future__ import annotations

import pytest

from audit.models import Digest, VerificationRun
from audit.tasks import digest_daily, digest_hourly
from tests.conftest import wait_until_finished

pytestmark = pytest.mark.django_db


def test_beat_schedule_is_registered_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="audit.")}
    assert set(tasks) == {"audit.digest_hourly", "audit.digest_daily"}
    assert tasks["audit.digest_hourly"].crontab.minute == "0"
    assert tasks["audit.digest_daily"].crontab.hour == "0"


def test_digest_tasks_are_idempotent(customers, audit_env):
    first = digest_hourly.delay().get()
    assert Digest.objects.get(pk=first).kind == "hourly"
    assert digest_hourly.delay().get() is None  # nothing new
    assert Digest.objects.get(pk=digest_daily.delay().get()).kind == "daily"
    assert len(list(audit_env.AUDIT_DIGEST_DIR.glob("*.json"))) == 2


@pytest.fixture
def worker_env(monkeypatch, audit_env):
    monkeypatch.setenv("AUDIT_DIGEST_DIR", str(audit_env.AUDIT_DIGEST_DIR))
    monkeypatch.setenv("AUDIT_SIGNING_KEY", audit_env.AUDIT_SIGNING_KEY)


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_verification_runs_in_a_real_worker(worker_env, celery_worker_process):
    from audit.context import Actor, audit_context
    from audit.verification import verification_run_request
    from cases.models import Customer

    with audit_context(actor=Actor.system("seed")):
        for i in range(3):
            Customer.objects.create(external_id=f"W{i}", name=f"W {i}")
    with audit_context(actor=Actor.system("auditor-button")):
        run = verification_run_request(mode="full")
    wait_until_finished(run, 90)
    assert run.status == "passed", (run.status, run.error, run.problems)
    assert run.checked == 3 and run.head_seq == 3
    assert run.requested_by == "system:auditor-button"
    assert VerificationRun.objects.count() == 1
