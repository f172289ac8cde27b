"""Auditor portal pages and the read-only audit API: who may see what, and the one
action auditors may take (start a verification run)."""

from __future__ import annotations

import pytest

from audit.digests import digest_create
from audit.models import LedgerEntry, VerificationRun
from audit.services import ledger_seal_pending

pytestmark = pytest.mark.django_db

READ_URLS = [
    "/api/v1/audit/entries/",
    "/api/v1/audit/entries/1/",
    "/api/v1/audit/entries/1/proof/",
    "/api/v1/audit/digests/",
    "/api/v1/audit/verifications/",
]


@pytest.mark.parametrize("url", READ_URLS)
def test_api_read_access_by_role(
    url, customers, api_as, auditor, analyst, outsider, integration_client
):
    assert api_as().get(url).status_code in (401, 403)
    assert api_as(outsider).get(url).status_code == 403
    assert api_as(token=integration_client[1]).get(url).status_code == 403
    assert api_as(analyst).get(url).status_code == 200
    assert api_as(auditor).get(url).status_code == 200


def test_api_entries_filter_and_detail(customers, api_as, auditor):
    client = api_as(auditor)
    res = client.get(
        "/api/v1/audit/entries/",
        {"object_type": "cases.customer", "object_id": str(customers[0].pk)},
    )
    assert res.status_code == 200
    assert [e["action"] for e in res.json()["results"]] == ["update", "create"]
    bad = client.get("/api/v1/audit/entries/", {"since": "not a date"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]
    detail = client.get("/api/v1/audit/entries/1/").json()
    assert detail["data"]["state"]["external_id"] == "C0"
    assert detail["header"].startswith('{"action":"create"')


def test_api_proof_and_object_history(customers, api_as, auditor):
    client = api_as(auditor)
    proof = client.get("/api/v1/audit/entries/2/proof/").json()
    assert proof["leaf_index"] == 1 and proof["digest"]["first_seq"] == 1
    history = client.get(f"/api/v1/audit/objects/cases.customer/{customers[0].pk}/history/")
    steps = history.json()
    assert steps[1]["changes"] == [
        {"field": "name", "before": "Customer 0", "after": "Customer 0 Jr"}
    ]
    assert client.get("/api/v1/audit/objects/cases.customer/424242/history/").status_code == 404


def test_api_auditor_starts_verification_but_cannot_write_elsewhere(
    customers, api_as, auditor, outsider, django_capture_on_commit_callbacks
):
    client = api_as(auditor)
    # Background sealing: the users' entries are chained before the run, as the sealer would
    # have done after their commits; the run's own entry after it.
    ledger_seal_pending()
    with django_capture_on_commit_callbacks(execute=True):
        res = client.post("/api/v1/audit/verifications/start/", {"mode": "full"}, format="json")
    assert res.status_code == 202
    run = VerificationRun.objects.get(pk=res.json()["id"])
    ledger_seal_pending()
    assert run.status == "passed" and run.checked == LedgerEntry.objects.count() - 1
    assert LedgerEntry.objects.filter(action="audit.verify", object_id=str(run.pk)).exists()
    detail = client.get(f"/api/v1/audit/verifications/{run.pk}/").json()
    assert detail["progress_percent"] == 100
    bad = client.post("/api/v1/audit/verifications/start/", {"mode": "sideways"}, format="json")
    assert bad.status_code == 400 and "mode" in bad.json()["error"]["fields"]
    assert api_as(outsider).post("/api/v1/audit/verifications/start/", {}).status_code == 403
    # The rest of the audit API is read-only for everyone.
    assert client.post("/api/v1/audit/entries/", {}).status_code in (403, 405)


def test_api_evidence_and_digest_download(customers, api_as, auditor):
    client = api_as(auditor)
    res = client.get(
        "/api/v1/audit/evidence/",
        {"object_type": "cases.customer", "object_id": str(customers[0].pk)},
    )
    assert res.status_code == 200 and res["Content-Type"] == "application/zip"
    assert client.get("/api/v1/audit/evidence/", {"kind": "case"}).status_code == 400
    assert client.get("/api/v1/audit/evidence/", {"kind": "nope", "id": "1"}).status_code == 400
    digest = digest_create() or __import__("audit.models").models.Digest.objects.first()
    dl = client.get(f"/api/v1/audit/digests/{digest.pk}/download/")
    assert dl.status_code == 200 and b'"signature"' in dl.content


PORTAL_URLS = ["/audit/", "/audit/entries/1/", "/audit/digests/", "/audit/verifications/"]


@pytest.mark.parametrize("url", PORTAL_URLS)
def test_portal_pages_by_role(url, customers, client, portal_as, auditor, analyst, outsider):
    assert client.get(url).status_code == 302  # to login
    assert portal_as(outsider).get(url).status_code == 403
    assert portal_as(analyst).get(url).status_code == 200
    assert portal_as(auditor).get(url).status_code == 200


def test_portal_ledger_filters_and_object_history(
    customers, portal_as, auditor, django_assert_max_num_queries
):
    page = portal_as(auditor)
    with django_assert_max_num_queries(12):
        res = page.get("/audit/", {"actor": "test-seed", "action": "update"})
    assert res.status_code == 200
    assert res.content.count(b"/audit/entries/") == 3
    res = page.get(f"/audit/objects/cases.customer/{customers[0].pk}/")
    assert b"Customer 0 Jr" in res.content and b"Download evidence bundle" in res.content


def test_portal_verify_now_button_for_auditors(
    customers, portal_as, auditor, django_capture_on_commit_callbacks
):
    page = portal_as(auditor)
    assert b"verify-now" in page.get("/audit/verifications/").content
    with django_capture_on_commit_callbacks(execute=True):
        res = page.post("/audit/verifications/start/", {"mode": "incremental"})
    run = VerificationRun.objects.get()
    assert res.status_code == 302 and res["Location"] == f"/audit/verifications/{run.pk}/"
    status = page.get(f"/audit/verifications/{run.pk}/", HTTP_HX_REQUEST="true")
    assert b"Passed" in status.content and b"hx-trigger" not in status.content


def test_portal_evidence_download(customers, portal_as, auditor):
    res = portal_as(auditor).get(
        "/audit/evidence/", {"object_type": "cases.customer", "object_id": str(customers[2].pk)}
    )
    assert res.status_code == 200 and res["Content-Type"] == "application/zip"
    res = portal_as(auditor).get("/audit/evidence/", {"kind": "case", "id": "999"})
    assert res.status_code == 302
