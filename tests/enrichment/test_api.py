"""Enrichment API: access per role, validation, idempotent enrich, run status."""

from __future__ import annotations

import pytest

from enrichment.models import EnrichmentRun, LoanApplication
from tests.conftest import sealed_ledger

from .conftest import PRINCIPALS, application_data

pytestmark = [pytest.mark.django_db]
URL = "/api/v1/enrichment/applications"


def payload(index=80, **overrides):
    return {**application_data(index), "principals": PRINCIPALS, **overrides}


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    def run(callable_, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return callable_(*args, **kwargs)
    return run


def test_anonymous_is_refused(api_as):
    assert api_as().get(URL).status_code in (401, 403)
    assert api_as().post(URL, payload(), format="json").status_code in (401, 403)


def test_outsider_sees_nothing(api_as, outsider):
    assert api_as(outsider).get(URL).status_code == 403


def test_auditor_reads_but_never_writes(api_as, auditor, analyst):
    created = api_as(analyst).post(URL, payload(), format="json")
    assert created.status_code == 201
    client = api_as(auditor)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/{created.data['id']}").status_code == 200
    assert client.post(URL, payload(), format="json").status_code == 403
    assert client.post(f"{URL}/{created.data['id']}/enrich", {}, format="json").status_code == 403
    assert LoanApplication.objects.count() == 1


def test_create_records_history_on_the_ledger(api_as, analyst):
    before = sealed_ledger().count()
    response = api_as(analyst).post(URL, payload(), format="json")
    assert response.status_code == 201, response.data
    application = LoanApplication.objects.get(pk=response.data["id"])
    assert application.principals.count() == 1
    assert response.data["reference"].startswith("LA-")
    assert sealed_ledger().filter(object_type="enrichment.loanapplication",
                                      object_id=str(application.pk)).count() >= 1
    assert sealed_ledger().count() > before


@pytest.mark.parametrize("body,field", [
    ({"unexpected": 1}, "unexpected"),
    ({"country": "Germany"}, "country"),
    ({"lei": "52990000000000000000"}, "lei"),
    ({"requested_amount": "-5"}, "requested_amount"),
    ({"legal_name": "Evil\x00Corp"}, "legal_name"),
    ({"principals": []}, "principals"),
    ({"principals": [{"full_name": "A", "date_of_birth": "2999-01-01"}]},
     "principals.0.date_of_birth"),
    ({"principals": [{"full_name": "A", "date_of_birth": "1970-01-01", "ssn": "x"}]},
     "principals.0.ssn"),
])
def test_bad_input_gets_field_errors(api_as, analyst, body, field):
    response = api_as(analyst).post(URL, payload(**body), format="json")
    assert response.status_code == 400
    assert response.data["error"]["code"] == "validation_error"
    assert any(k.startswith(field) for k in response.data["error"]["fields"]), response.data
    assert LoanApplication.objects.count() == 0


def test_malformed_json_body_is_a_parse_error(api_as, analyst):
    response = api_as(analyst).post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.data["error"]["code"] == "parse_error"


def test_enrich_is_idempotent_per_key_and_reports_run_status(
        api_as, integration_client, enrichment_settings_for_stub, stub, run_tasks):
    client_row, token = integration_client
    client = api_as(token=token)
    created = client.post(URL, payload(80), format="json")
    assert created.status_code == 201, created.data
    enrich_url = f"{URL}/{created.data['id']}/enrich"
    first = run_tasks(client.post, enrich_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 202
    again = run_tasks(client.post, enrich_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert again.status_code == 200 and again.data["id"] == first.data["id"]
    assert EnrichmentRun.objects.count() == 1
    status = client.get(f"/api/v1/enrichment/runs/{first.data['id']}")
    assert status.status_code == 200
    assert status.data["status"] == "succeeded"
    assert status.data["document"]["business"]["match"]["status"] == "matched"
    assert {c["operation"] for c in status.data["calls"]} >= {"lei_search", "premier_profile"}
    assert any(p["field"] == "lei" for p in status.data["patches"])
    detail = client.get(f"{URL}/{created.data['id']}")
    assert detail.data["enrichment_status"] == "enriched" and detail.data["lei"]


def test_enrich_rejects_unknown_fields_and_missing_application(api_as, analyst):
    created = api_as(analyst).post(URL, payload(), format="json")
    response = api_as(analyst).post(f"{URL}/{created.data['id']}/enrich", {"force": True},
                                    format="json")
    assert response.status_code == 400 and "force" in response.data["error"]["fields"]
    assert api_as(analyst).post(f"{URL}/999999/enrich", {}, format="json").status_code == 404
    assert api_as(analyst).get("/api/v1/enrichment/runs/999999").status_code == 404
