"""Monitoring API: who may call it, bad input named field by field, idempotent ingest,
alert list filters and the trace by id."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import LedgerEntry
from audit.services import ledger_seal_pending
from monitoring.models import Alert, Transaction
from tests.monitoring.conftest import make_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
URL = "/api/v1/monitoring/transactions"


@pytest.fixture
def integration(integration_client, api_as):
    _, token = integration_client
    return api_as(token=token)


def _structuring(account="API-1"):
    return [
        make_event(account=account, amount="9500", channel="cash"),
        make_event(account=account, amount="9100", channel="cash", at=dt.timedelta(hours=1)),
    ]


def test_ingest_batch_raises_alert_and_is_idempotent(seeded, integration):
    batch = _structuring()
    response = integration.post(URL, {"transactions": batch}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["inserted"] == 2 and len(body["alert_ids"]) >= 1
    again = integration.post(URL, {"transactions": batch}, format="json")
    assert again.status_code == 200 and again.json()["duplicates"] == 2
    assert Transaction.objects.count() == 2
    ledger_seal_pending()  # background sealing: chain what committed (inline: no-op)
    assert LedgerEntry.objects.filter(action="monitoring.transactions_ingested").count() == 1


def test_ingest_single_object(seeded, integration):
    response = integration.post(URL, make_event(), format="json")
    assert response.status_code == 201 and response.json()["inserted"] == 1


def test_ingest_bad_input_names_fields_and_stores_nothing(seeded, integration):
    good, bad = make_event(), {**make_event(), "amount": "abc", "timestamp": "2026-01-01"}
    response = integration.post(URL, {"transactions": [good, bad]}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"transactions[1].amount", "transactions[1].timestamp"}
    assert not Transaction.objects.exists()
    assert integration.post(URL, "not json", content_type="application/json").status_code == 400


@pytest.mark.parametrize("who", ["anonymous", "outsider", "auditor", "analyst"])
def test_ingest_refused_to_others(seeded, api_as, who, request):
    client = api_as(None if who == "anonymous" else request.getfixturevalue(who))
    response = client.post(URL, make_event(), format="json")
    assert response.status_code in (401, 403)
    assert not Transaction.objects.exists()


def test_alert_list_filters_and_detail_trace(seeded, integration, api_as, auditor, outsider):
    integration.post(
        URL, {"transactions": _structuring("F-1") + _structuring("F-2")}, format="json"
    )
    reader = api_as(auditor)
    listed = reader.get("/api/v1/alerts/", {"account_id": "F-1", "rule": "T1"}).json()
    assert listed["count"] == 1 and listed["results"][0]["account_id"] == "F-1"
    assert "trace" not in listed["results"][0]
    assert reader.get("/api/v1/alerts/", {"customer_id": "C-F-2"}).json()["count"] >= 1
    assert reader.get("/api/v1/alerts/", {"since": "2100-01-01T00:00:00Z"}).json()["count"] == 0
    alert = Alert.objects.filter(account_id="F-1", rule_code="T1").get()
    detail = reader.get(f"/api/v1/alerts/{alert.pk}")
    assert detail.status_code == 200
    trace = detail.json()["trace"]
    assert trace["rule"]["code"] == "T1" and trace["contributing"]["count"] == 2
    assert integration.get(f"/api/v1/alerts/{alert.pk}").status_code == 200
    assert api_as(outsider).get(f"/api/v1/alerts/{alert.pk}").status_code == 403
    assert api_as(None).get("/api/v1/alerts/").status_code == 401
    assert reader.get("/api/v1/alerts/999999").status_code == 404
    assert reader.post("/api/v1/alerts/", {}).status_code == 403
