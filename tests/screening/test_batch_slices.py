"""Batches as slices on several workers: every row logged exactly once, whatever order the
chunks commit in, and the same results as one run of the whole file (real PostgreSQL; the
last test runs a real prefork Celery worker with two processes)."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from django.db import IntegrityError, transaction

from audit.context import Actor
from cases.models import Case
from screening import services
from screening.models import BatchRun, ScreeningQuery
from screening.services import (
    screening_batch_dispatch,
    screening_batch_run,
    screening_batch_start,
)
from tests.conftest import sealed_ledger

ACTOR = Actor.system("test")
NAMES = ["Usama Bin Laden", "Jane Doe", "Banco Nacional de Cuba", "Kim Jong Un",
         "Peter Miller", "Joaquin Guzman Loera", "Maria Garcia", "National Bank of Cuba",
         "Li Wei", "Osama bin Laden", "Ahmed Hassan", "Jong Un Kim", "Sarah O'Connor"]
CSV = "id,name\r\n" + "".join(f"C-{i},{name}\r\n" for i, name in enumerate(NAMES, 1))


def _start() -> BatchRun:
    return screening_batch_start(file_name="c.csv", data=CSV.encode(), actor=ACTOR,
                                 enqueue=False)


def _outcome(batch: BatchRun) -> list[tuple]:
    return [(q.row_number, q.input["name"], q.hit_count,
             [(r["entity_uid"], r["score"], r["explanation"]) for r in q.results])
            for q in ScreeningQuery.objects.filter(batch=batch).order_by("row_number")]


def test_slices_log_every_row_once_with_the_results_of_one_run(
        active_list, django_capture_on_commit_callbacks):
    whole = screening_batch_run(batch_id=_start().pk, chunk_size=4)
    cases = Case.objects.filter(dedupe_key__startswith="screening:C-").count()
    batch = _start()
    with django_capture_on_commit_callbacks(execute=True):
        slices = screening_batch_dispatch(batch_id=batch.pk, slice_rows=5)
    assert slices == [(0, 5), (5, 10), (10, 13)]
    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.processed == batch.total == 13
    assert (batch.hit_rows, batch.match_count) == (whole.hit_rows, whole.match_count)
    assert batch.hit_rows >= 6
    ours = _outcome(batch)
    assert [row for row, *_ in ours] == list(range(1, 14))
    assert [rest for _, *rest in ours] == [rest for _, *rest in _outcome(whole)]
    # one case per customer and listed entity: the same customers' hits add to theirs
    assert Case.objects.filter(dedupe_key__startswith="screening:C-").count() == cases >= 6
    chunks = sealed_ledger().filter(action="screening.batch_chunk",
                                    object_id=str(batch.pk))
    assert sum(json.loads(bytes(e.body))["count"] for e in chunks) == 13


def test_a_slice_redelivered_or_dispatched_again_logs_nothing_twice(
        active_list, django_capture_on_commit_callbacks):
    batch = _start()
    screening_batch_run(batch_id=batch.pk, lo=0, hi=5)
    screening_batch_run(batch_id=batch.pk, lo=0, hi=5)  # the same message again
    batch.refresh_from_db()
    assert batch.processed == 5 and batch.status == "running"
    with django_capture_on_commit_callbacks(execute=True):
        # the stale-batch sweep re-dispatches: only the slices with rows left are queued
        assert screening_batch_dispatch(batch_id=batch.pk, slice_rows=5) == [(5, 10),
                                                                            (10, 13)]
    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.processed == 13
    assert ScreeningQuery.objects.filter(batch=batch).count() == 13
    with django_capture_on_commit_callbacks(execute=True):
        assert screening_batch_dispatch(batch_id=batch.pk, slice_rows=5) == []


def test_a_chunk_leaves_out_rows_another_worker_logged_meanwhile(active_list, monkeypatch):
    batch = _start()
    screening_batch_run(batch_id=batch.pk, lo=0, hi=2)  # the other worker: rows 1 and 2
    real = services._batch_logged
    calls: list[tuple] = []

    def stale_then_real(*args):
        calls.append(args)
        # this worker read the log before the other one committed
        return set() if len(calls) == 1 else real(*args)

    monkeypatch.setattr(services, "_batch_logged", stale_then_real)
    batch = screening_batch_run(batch_id=batch.pk, lo=0, hi=6, chunk_size=6)
    assert len(calls) == 2  # the refused chunk looked again and went on without rows 1-2
    assert batch.processed == 6
    assert [q[0] for q in _outcome(batch)] == [1, 2, 3, 4, 5, 6]


def test_the_log_refuses_a_second_copy_of_a_batch_row(active_list):
    batch = screening_batch_run(batch_id=_start().pk)
    query = ScreeningQuery.objects.filter(batch=batch, row_number=3).get()
    query.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        ScreeningQuery.objects.bulk_create([query])
    query.batch = None  # outside batches, row numbers are not unique
    ScreeningQuery.objects.bulk_create([query])


def test_a_failed_batch_stops_its_other_slices(active_list):
    batch = _start()
    services.screening_batch_fail(batch_id=batch.pk, error="RuntimeError: disk full")
    assert screening_batch_run(batch_id=batch.pk, lo=5, hi=10).status == "failed"
    assert not ScreeningQuery.objects.filter(batch=batch).exists()


@pytest.mark.django_db(transaction=True)
def test_a_queued_batch_runs_on_both_processes_of_a_prefork_worker(active_list, tmp_path):
    from tests.conftest import celery_worker_running, wait_until_finished

    rows = "".join(f"P-{i}-{j},{name}\r\n" for i in range(8) for j, name in enumerate(NAMES))
    with celery_worker_running(tmp_path, pool="prefork", concurrency=2,
                               env={"SCREENING_BATCH_SLICE_ROWS": "8"}):
        batch = screening_batch_start(file_name="p.csv", data=f"id,name\r\n{rows}".encode(),
                                      actor=ACTOR)
        wait_until_finished(batch, 120)
    log = (tmp_path / "worker.log").read_text()
    assert batch.status == "succeeded", (batch.status, batch.error, log[-3000:])
    assert batch.processed == batch.total == 104
    numbers = list(ScreeningQuery.objects.filter(batch=batch).order_by("row_number")
                   .values_list("row_number", flat=True))
    assert numbers == list(range(1, 105))
    # 13 slices, screened by both processes of the worker
    slices = re.findall(r"(ForkPoolWorker-\d+)\] Task screening\.batch_slice\[\S+\] succeeded",
                        log)
    assert len(slices) == 13 and len(set(slices)) == 2, log[-3000:]


_PIDS = None  # where the spy below writes (set before the processes are forked)


def _spying_slice(args):
    with open(_PIDS, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    # Hold this slice until another process has taken one too (at most 20 s), so a fast
    # first process cannot take every slice before the second starts.
    deadline = time.monotonic() + 20
    while len(set(_PIDS.read_text().split())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return _real_slice(args)


_real_slice = services._slice_in_child


@pytest.mark.django_db(transaction=True)
def test_the_cli_path_screens_and_logs_on_several_processes(active_list, tmp_path,
                                                            monkeypatch):
    global _PIDS
    _PIDS = tmp_path / "pids"
    monkeypatch.setattr(services, "_slice_in_child", _spying_slice)
    whole = screening_batch_run(batch_id=_start().pk, chunk_size=4)
    batch = _start()
    done = services.screening_batch_run_local(batch_id=batch.pk, processes=2, slice_rows=2)
    assert done.status == "succeeded" and done.processed == 13
    assert [rest for _, *rest in _outcome(done)] == [rest for _, *rest in _outcome(whole)]
    assert [row for row, *_ in _outcome(done)] == list(range(1, 14))
    pids = set(_PIDS.read_text().split())
    assert len(pids) == 2 and str(os.getpid()) not in pids  # 7 slices, two processes


def test_the_cli_path_stays_in_process_inside_a_transaction(active_list, monkeypatch):
    monkeypatch.setattr(services, "_slice_in_child", None)  # would fail if called
    batch = services.screening_batch_run_local(batch_id=_start().pk, processes=2)
    assert batch.status == "succeeded" and batch.processed == 13


def _failed_half_way() -> BatchRun:
    batch = _start()
    screening_batch_run(batch_id=batch.pk, lo=0, hi=5)
    services.screening_batch_fail(batch_id=batch.pk, error="OperationalError: server closed")
    batch.refresh_from_db()
    return batch


def test_a_failed_batch_resumes_with_only_its_rows_not_yet_logged(
        active_list, django_capture_on_commit_callbacks):
    batch = _failed_half_way()
    assert (batch.status, batch.processed) == ("failed", 5)
    with django_capture_on_commit_callbacks(execute=True):
        services.screening_batch_resume(batch_id=batch.pk, actor=ACTOR)
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.error) == ("succeeded", 13, "")
    assert [row for row, *_ in _outcome(batch)] == list(range(1, 14))
    entry = sealed_ledger().get(action="screening.batch_resumed", object_id=str(batch.pk))
    body = json.loads(bytes(entry.body))
    assert body["previous_error"] == "OperationalError: server closed"
    assert (body["processed"], body["total"]) == (5, 13)


def test_only_a_failed_batch_with_rows_can_be_resumed(active_list):
    done = screening_batch_run(batch_id=_start().pk)
    with pytest.raises(services.ScreeningInputError, match="is succeeded"):
        services.screening_batch_resume(batch_id=done.pk, actor=ACTOR)
    with pytest.raises(services.ScreeningInputError):
        screening_batch_start(file_name="bad.csv", data=b"nom\r\nx\r\n", actor=ACTOR,
                              enqueue=False)
    refused = BatchRun.objects.get(file_name="bad.csv")
    with pytest.raises(services.ScreeningInputError, match="refused at upload"):
        services.screening_batch_resume(batch_id=refused.pk, actor=ACTOR)
    refused.refresh_from_db()
    assert refused.status == "failed"


def test_analysts_resume_from_the_batch_page_and_auditors_cannot(
        active_list, portal_as, analyst, auditor, django_capture_on_commit_callbacks):
    batch = _failed_half_way()
    page = portal_as(auditor).get(f"/screening/batches/{batch.pk}/")
    assert page.status_code == 200 and b"Resume" not in page.content
    assert portal_as(auditor).post(f"/screening/batches/{batch.pk}/resume").status_code == 403
    page = portal_as(analyst).get(f"/screening/batches/{batch.pk}/")
    assert b">Resume</button>" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        resp = portal_as(analyst).post(f"/screening/batches/{batch.pk}/resume", follow=True)
    assert b"8 rows not yet screened are queued" in resp.content
    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.processed == 13
    entry = sealed_ledger().get(action="screening.batch_resumed", object_id=str(batch.pk))
    assert entry.actor_label == analyst.username


def test_the_api_resumes_a_failed_batch_for_work_roles_only(
        active_list, api_as, analyst, auditor, django_capture_on_commit_callbacks):
    batch = _failed_half_way()
    url = f"/api/v1/screening/batches/{batch.pk}/resume"
    assert api_as(auditor).post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_as(analyst).post(url)
    assert resp.status_code == 202, resp.content
    batch.refresh_from_db()
    assert batch.status == "succeeded"
    again = api_as(analyst).post(url)
    assert again.status_code == 400
    assert "only a failed batch" in again.json()["error"]["fields"]["batch"][0]
    assert api_as(analyst).post("/api/v1/screening/batches/999999/resume").status_code == 404


def test_an_earlier_dispatchs_slices_do_nothing_once_the_batch_is_dispatched_again(
        active_list, monkeypatch, django_capture_on_commit_callbacks):
    from screening.tasks import screening_batch_slice_task

    sent: list[tuple] = []
    monkeypatch.setattr(screening_batch_slice_task, "apply_async",
                        lambda args, **kwargs: sent.append(args))
    batch = _start()
    with django_capture_on_commit_callbacks(execute=True):
        screening_batch_dispatch(batch_id=batch.pk, slice_rows=5)
    # its messages wait in a long queue; the stale-batch sweep dispatches it again
    with django_capture_on_commit_callbacks(execute=True):
        screening_batch_dispatch(batch_id=batch.pk, slice_rows=5)
    first, second = sent[:3], sent[3:]
    assert [args[3] for args in first] == [1, 1, 1]
    assert [args[3] for args in second] == [2, 2, 2]
    for args in first:  # the earlier messages arrive first: nothing is screened
        screening_batch_slice_task.run(*args)
    assert not ScreeningQuery.objects.filter(batch=batch).exists()
    for args in second:
        screening_batch_slice_task.run(*args)
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.dispatches) == ("succeeded", 13, 2)
    assert batch.dispatched_at is not None
    assert [row for row, *_ in _outcome(batch)] == list(range(1, 14))


def test_a_running_slice_stops_before_its_next_chunk_once_dispatched_again(active_list):
    batch = _start()
    dispatch = services._batch_begin(batch.pk, dispatch=True).dispatches

    def dispatched_again_after_the_first_chunk(processed: int, total: int) -> None:
        if processed:
            services._batch_begin(batch.pk, dispatch=True)

    done = screening_batch_run(batch_id=batch.pk, lo=0, hi=6, chunk_size=2,
                               dispatch=dispatch,
                               progress=dispatched_again_after_the_first_chunk)
    assert done.processed == 2 and done.status == "running"
    assert [row for row, *_ in _outcome(done)] == [1, 2]
    # the later dispatch's slice screens the rest of those rows
    done = screening_batch_run(batch_id=batch.pk, lo=0, hi=6, dispatch=dispatch + 1)
    assert done.processed == 6


def test_a_batch_run_as_one_task_is_a_dispatch_of_its_own(active_list, settings):
    from screening.tasks import screening_batch_run_task, screening_batch_slice_task

    settings.SCREENING_BATCH_SLICE_ROWS = 0
    batch = _start()
    earlier = services._batch_begin(batch.pk, dispatch=True).dispatches
    assert screening_batch_run_task.run(batch.pk) == "0 slices queued"
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.dispatches) == ("succeeded", 13, earlier + 1)
    # a slice of the earlier dispatch arriving now finds the batch finished
    assert screening_batch_slice_task.run(batch.pk, 0, 5, earlier) == "succeeded"
    assert ScreeningQuery.objects.filter(batch=batch).count() == 13
