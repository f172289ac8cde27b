"""First activation screens the whole customer base; the stale-batch sweep; whitelisting a
hit from the query page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.context import Actor
from cases.models import Case
from cases.services import customer_upsert
from screening.models import BatchRun, ScreeningQuery, Whitelist
from screening.services import (
    screening_batch_resume_stale,
    screening_batch_start,
    screening_rescreen_delta,
    screening_search,
)
from tests.conftest import sealed_ledger

ACTOR = Actor.system("test")


def test_first_activation_screens_the_whole_customer_base(active_list):
    customer_upsert(external_id="C-K", name="Kim Jong Un", dob="1984")
    customer_upsert(external_id="C-N", name="Erika Mustermann")
    summary = screening_rescreen_delta(version_id=active_list.pk)
    assert summary["mode"] == "full"
    assert summary["entities"] == 4 and summary["customers"] == 2
    logged = ScreeningQuery.objects.filter(origin="delta")
    assert {(q.customer.external_id, m["entity_uid"]) for q in logged for m in q.results} == {
        ("C-K", "20157")}
    assert Case.objects.filter(dedupe_key="screening:C-K:ofac-sdn:20157").exists()
    assert sealed_ledger().filter(action="screening.delta_rescreen",
                                  object_id=str(active_list.pk)).exists()


def _batch(**kwargs) -> BatchRun:
    return screening_batch_start(file_name="c.csv", data=b"id,name\r\nC-1,Kim Jong Un\r\n",
                                 actor=ACTOR, enqueue=False, **kwargs)


def test_sweep_requeues_only_batches_whose_worker_died(active_list, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    queued: list[int] = []
    monkeypatch.setattr("screening.tasks.screening_batch_run_task.delay", queued.append)
    start = timezone.now()
    with time_machine.travel(start - timedelta(hours=1), tick=False):
        dead = _batch()
        BatchRun.objects.filter(pk=dead.pk).update(status="running", started_at=timezone.now())
        never_started = _batch()  # its message was lost: still pending an hour later
        finished = _batch()
        BatchRun.objects.filter(pk=finished.pk).update(status="succeeded")
        # dispatched again a minute ago (its tasks wait in a long queue): not stale yet
        waiting = _batch()
        BatchRun.objects.filter(pk=waiting.pk).update(
            status="running", started_at=timezone.now(), dispatches=2,
            dispatched_at=start - timedelta(minutes=1))
    fresh = _batch()
    BatchRun.objects.filter(pk=fresh.pk).update(status="running", started_at=start)
    with time_machine.travel(start, tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        resumed = screening_batch_resume_stale(stale_after_seconds=600)
    assert resumed == [dead.pk, never_started.pk] == queued
    entries = sealed_ledger().filter(action="screening.batch_resumed")
    assert sorted(e.object_id for e in entries) == sorted([str(dead.pk), str(never_started.pk)])


def test_resumed_batch_runs_to_the_end(active_list, monkeypatch,
                                       django_capture_on_commit_callbacks):
    from screening.tasks import screening_batch_run_task

    monkeypatch.setattr("screening.tasks.screening_batch_run_task.delay",
                        lambda pk: screening_batch_run_task.run(pk))
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        dead = _batch()
        BatchRun.objects.filter(pk=dead.pk).update(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        assert screening_batch_resume_stale(stale_after_seconds=60) == [dead.pk]
    dead.refresh_from_db()
    assert dead.status == "succeeded" and dead.processed == 1
    assert ScreeningQuery.objects.filter(batch=dead).count() == 1
    assert screening_batch_resume_stale(stale_after_seconds=60) == []


@pytest.fixture
def customer_hit(active_list):
    customer = customer_upsert(external_id="C-9", name="Kim Jong Un")
    return screening_search(name=customer.name, customer=customer, actor=ACTOR)


def test_analyst_whitelists_a_hit_with_a_reason(portal_as, analyst, customer_hit):
    c = portal_as(analyst)
    page = c.get(f"/screening/queries/{customer_hit.pk}/")
    assert page.status_code == 200 and b"Whitelist this hit" in page.content
    resp = c.post(f"/screening/queries/{customer_hit.pk}/whitelist",
                  {"list_code": "ofac-sdn", "entity_uid": "20157",
                   "reason": "different person: born 1990"})
    assert resp.status_code == 302
    w = Whitelist.objects.get()
    hit = customer_hit.results[0]
    assert (w.entity_uid, w.content_hash, w.reviewer) == ("20157", hit["content_hash"], analyst)
    assert w.reason == "different person: born 1990"
    assert sealed_ledger().filter(object_type="screening.whitelist",
                                  object_id=str(w.pk)).exists()
    page = c.get(f"/screening/queries/{customer_hit.pk}/")
    assert b"Whitelist this hit" not in page.content and b"Whitelisted for this" in page.content
    again = screening_search(name="Kim Jong Un", customer=customer_hit.customer, actor=ACTOR)
    assert again.hit_count == 0 and again.suppressed[0]["entity_uid"] == "20157"


@pytest.mark.parametrize("data, message", [
    ({"list_code": "ofac-sdn", "entity_uid": "20157", "reason": "  "}, b"required"),
    ({"list_code": "ofac-sdn", "entity_uid": "306", "reason": "x"}, b"is not a hit"),
])
def test_whitelisting_needs_a_reason_and_a_real_hit(portal_as, analyst, customer_hit, data,
                                                    message):
    resp = portal_as(analyst).post(f"/screening/queries/{customer_hit.pk}/whitelist", data)
    assert resp.status_code == 400 and message in resp.content
    assert not Whitelist.objects.exists()


def test_auditor_neither_sees_nor_posts_the_whitelist_button(portal_as, auditor, customer_hit):
    c = portal_as(auditor)
    page = c.get(f"/screening/queries/{customer_hit.pk}/")
    assert page.status_code == 200 and b"Whitelist this hit" not in page.content
    resp = c.post(f"/screening/queries/{customer_hit.pk}/whitelist",
                  {"list_code": "ofac-sdn", "entity_uid": "20157", "reason": "x"})
    assert resp.status_code == 403
    assert not Whitelist.objects.exists()


def test_anonymous_and_outsider_cannot_whitelist(client, portal_as, outsider, customer_hit):
    url = f"/screening/queries/{customer_hit.pk}/whitelist"
    data = {"list_code": "ofac-sdn", "entity_uid": "20157", "reason": "x"}
    assert client.post(url, data).status_code == 302  # to the login page
    assert portal_as(outsider).post(url, data).status_code == 403
    assert not Whitelist.objects.exists()


def test_a_query_without_customer_offers_no_whitelisting(portal_as, analyst, active_list):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    c = portal_as(analyst)
    assert b"Whitelist this hit" not in c.get(f"/screening/queries/{q.pk}/").content
    resp = c.post(f"/screening/queries/{q.pk}/whitelist",
                  {"list_code": "ofac-sdn", "entity_uid": "20157", "reason": "x"})
    assert resp.status_code == 400 and not Whitelist.objects.exists()
