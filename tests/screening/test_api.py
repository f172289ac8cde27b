"""API tests: access per role, input errors, the logged query and audit entry."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from screening.models import BatchRun, ScreeningQuery
from tests.conftest import sealed_ledger

URL = "/api/v1/screening/search"


def test_anonymous_is_refused(api_as, active_list):
    assert api_as().post(URL, {"name": "Kim Jong Un"}, format="json").status_code in (401, 403)


def test_outsider_and_auditor_cannot_search(api_as, active_list, outsider, auditor):
    assert api_as(outsider).post(URL, {"name": "Kim"}, format="json").status_code == 403
    assert api_as(auditor).post(URL, {"name": "Kim"}, format="json").status_code == 403
    assert not ScreeningQuery.objects.exists()


def test_analyst_search_returns_ranked_explained_matches(api_as, active_list, analyst):
    resp = api_as(analyst).post(URL, {"name": "김정은", "dob": "1984"}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["list_versions"] == {"ofac-sdn": active_list.pk}
    top = body["matches"][0]
    assert top["entity_uid"] == "20157" and top["score"] >= body["threshold"]
    assert top["explanation"]["aligned"] and top["matched_name"] == "KIM, Jong Un"
    q = ScreeningQuery.objects.get(pk=body["query_id"])
    assert q.actor_label == analyst.username
    entry = sealed_ledger().filter(action="screening.query", object_id=str(q.pk)).get()
    assert entry.actor_label == analyst.username


def test_integration_client_can_search(api_as, active_list, integration_client):
    _client, token = integration_client
    resp = api_as(token=token).post(URL, {"name": "Banco Nacional de Cuba"}, format="json")
    assert resp.status_code == 201
    assert resp.json()["matches"][0]["entity_uid"] == "306"


@pytest.mark.parametrize("payload, field", [
    ({"name": ""}, "name"), ({"name": "😀"}, "name"), ({"name": "a" * 2000}, "name"),
    ({"name": "Bob", "dob": "yesterday"}, "dob"), ({"name": "Bob", "colour": "red"}, "colour"),
    ({"name": "Bob", "threshold": 101}, "threshold"), ({}, "name"),
])
def test_bad_input_is_a_400_naming_the_field(api_as, active_list, analyst, payload, field):
    resp = api_as(analyst).post(URL, payload, format="json")
    assert resp.status_code == 400
    assert field in resp.json()["error"]["fields"]


def test_batch_upload_status_and_report(api_as, active_list, analyst, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        f = SimpleUploadedFile("c.csv", b"id,name\r\nA1,Usama bin Ladin\r\nA2,Jane Roe\r\n")
        resp = api_as(analyst).post("/api/v1/screening/batches",
                                    {"file": f, "keep_customers": "true"}, format="multipart")
    finally:
        app.conf.task_always_eager = previous
    assert resp.status_code == 202, resp.content
    assert resp.json()["keep_customers"] is True
    batch_id = resp.json()["batch_id"]
    status = api_as(analyst).get(f"/api/v1/screening/batches/{batch_id}").json()
    assert status["total"] == 2
    report = api_as(analyst).get(f"/api/v1/screening/batches/{batch_id}/report")
    assert report.status_code == 200
    if status["status"] == "succeeded":
        assert b"A1,Usama bin Ladin" in report.content


def test_batch_without_name_column_is_400_and_recorded_failed(api_as, active_list, analyst):
    f = SimpleUploadedFile("c.csv", b"id,fullname\r\n1,Bob\r\n")
    resp = api_as(analyst).post("/api/v1/screening/batches", {"file": f}, format="multipart")
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["fields"]["file"][0]
    assert BatchRun.objects.get().status == "failed"


def test_oversized_upload_is_refused_and_recorded(api_as, active_list, analyst, settings):
    settings.SCREENING_BATCH_MAX_BYTES = 50
    f = SimpleUploadedFile("big.csv", b"name\r\n" + b"A" * 100)
    resp = api_as(analyst).post("/api/v1/screening/batches", {"file": f}, format="multipart")
    assert resp.status_code == 400 and "too large" in resp.json()["error"]["fields"]["file"][0]
    assert BatchRun.objects.get().status == "failed"


def test_whitelist_api_requires_a_work_role_and_suppresses(api_as, active_list, analyst,
                                                           auditor, customer):
    from screening.services import screening_search

    hit = screening_search(name=customer.name, customer=customer, actor=None).results[0]
    payload = {"customer_id": customer.external_id, "list": hit["list"],
               "entity_uid": hit["entity_uid"], "content_hash": hit["content_hash"],
               "reason": "different date of birth"}
    assert api_as(auditor).post("/api/v1/screening/whitelist", payload,
                                format="json").status_code == 403
    resp = api_as(analyst).post("/api/v1/screening/whitelist", payload, format="json")
    assert resp.status_code == 201 and resp.json()["reviewer"] == analyst.username
    again = screening_search(name=customer.name, customer=customer, actor=None)
    assert again.hit_count == 0 and again.suppressed
    bad = api_as(analyst).post("/api/v1/screening/whitelist", {**payload, "reason": " "},
                               format="json")
    assert bad.status_code == 400
