"""Enrichment services against PostgreSQL and the stub providers over real HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from cases.models import Case
from enrichment import services
from enrichment.choices import EnrichmentStatus, RunStatus
from enrichment.document import validate_document
from enrichment.models import DataPatch, EnrichmentDocument, EnrichmentRun, ProviderCall
from enrichment.services import application_create, enrichment_run_request  # noqa: F401
from enrichment.stubs import demo_company, direct_parent_of
from tests.conftest import sealed_ledger

from .conftest import PRINCIPALS, application_data

pytestmark = [pytest.mark.django_db]
REPORT_PATH = "/experian/businessinformation/businesses/v1/reports/premierprofiles"


def create(index: int, **overrides):
    principals = [dict(p, date_of_birth=dt.date.fromisoformat(p["date_of_birth"]))
                  for p in PRINCIPALS]
    return application_create(data=application_data(index, **overrides), principals=principals)


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    """Run the queued task (in process) when the request's transaction would commit."""
    global _capture
    _capture = django_capture_on_commit_callbacks


_capture = None


def request_run(application, key=None):
    with _capture(execute=True):
        return enrichment_run_request(application=application, idempotency_key=key)


def enrich(application, key=None):
    run, _ = request_run(application, key)
    run.refresh_from_db()
    return run


def call_entries(run):
    return sealed_ledger().filter(action="enrichment.provider_call",
                                      object_type="enrichment.enrichmentrun", object_id=str(run.pk))


def test_successful_run_applies_patches_and_stores_a_valid_document(
        enrichment_settings_for_stub, stub):
    application = create(80)
    run = enrich(application)
    assert run.status == RunStatus.SUCCEEDED, run.error
    application.refresh_from_db()
    company = demo_company(80)
    assert application.lei == company.lei
    assert application.direct_parent_lei == direct_parent_of(company).lei
    assert application.enrichment_status == EnrichmentStatus.ENRICHED
    assert application.credit_score is not None
    document = EnrichmentDocument.objects.get(run=run)
    validate_document(document.document)
    canonical = json.dumps(document.document, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
    assert document.sha256 == hashlib.sha256(canonical).hexdigest()
    patches = {p.field: p for p in DataPatch.objects.filter(run=run)}
    assert patches["lei"].before is None and patches["lei"].after == company.lei
    assert patches["lei"].source["provider"] == "gleif"
    # One ledger entry holds the run's change set: every patch with its source.
    entries = sealed_ledger().filter(action="enrichment.patches", object_id=str(application.pk))
    assert entries.count() == 1
    on_ledger = {p["field"]: p for p in json.loads(bytes(entries.get().body))["patches"]}
    assert on_ledger.keys() == patches.keys()
    assert on_ledger["lei"]["after"] == company.lei
    assert on_ledger["lei"]["source"] == patches["lei"].source
    # Every external call is stored and on the ledger with the body's SHA-256.
    calls = list(ProviderCall.objects.filter(run=run))
    assert len(calls) == stub.stats()["requests"] == call_entries(run).count()
    ledger = {json.loads(bytes(e.body))["call_id"]: json.loads(bytes(e.body))
              for e in call_entries(run)}
    for call in calls:
        assert ledger[str(call.call_id)]["response_sha256"] == call.response_sha256
        if call.operation != "oauth_token":
            assert hashlib.sha256(call.response_body.encode()).hexdigest() == call.response_sha256
    # Every sourced value in the document points at a stored call.
    call_ids = {str(c.call_id) for c in calls}
    assert document.document["business"]["legal_name"]["source"]["call_id"] in call_ids
    assert document.document["credit"]["commercial_score"]["source"]["call_id"] in call_ids


def test_same_idempotency_key_returns_the_same_run(enrichment_settings_for_stub, stub):
    application = create(81)
    first, created = request_run(application, "k-81")
    again, created_again = request_run(application, "k-81")
    assert created and not created_again and first.pk == again.pk
    assert EnrichmentRun.objects.filter(application=application).count() == 1
    assert stub.stats()["report_pulls"] == {demo_company(81).bin: 1}
    other = create(82)
    with pytest.raises(ValueError, match="another application"):
        request_run(other, "k-81")


def test_rerun_reuses_the_billable_report(enrichment_settings_for_stub, stub):
    application = create(83)
    first = enrich(application)
    second = enrich(application)
    assert first.status == second.status == RunStatus.SUCCEEDED
    assert first.pk != second.pk
    assert stub.stats()["report_pulls"] == {demo_company(83).bin: 1}
    assert sealed_ledger().filter(action="enrichment.step_reused",
                                      object_id=str(second.pk)).count() == 1
    # Nothing changed between the runs, so the second run patches nothing.
    assert DataPatch.objects.filter(run=second).count() == 0


def test_transient_failure_fails_cleanly_with_the_full_error(enrichment_settings_for_stub, stub):
    application = create(84)
    stub.configure(script=[{"match": "v1/search", "fault": "503", "times": 10}], retry_after=0)
    run = enrich(application)
    assert run.status == RunStatus.FAILED
    assert run.error["provider"] == "experian" and run.error["status"] == 503
    assert run.error["attempts"] == 4 and "v1/search" in run.error["url"]
    assert run.error["excerpt"]
    application.refresh_from_db()
    assert application.lei == "" and application.credit_score is None  # nothing applied
    assert application.enrichment_status == EnrichmentStatus.FAILED
    assert not DataPatch.objects.filter(run=run).exists()
    assert not EnrichmentDocument.objects.filter(run=run).exists()
    assert run.case_reference == ""  # transient: retry later, no human needed
    # The failed attempts are on the record too.
    assert ProviderCall.objects.filter(run=run, outcome="retry").count() == 3
    assert call_entries(run).count() == ProviderCall.objects.filter(run=run).count()


def test_malformed_provider_json_is_rejected_and_opens_a_case(enrichment_settings_for_stub, stub):
    application = create(85)
    stub.configure(script=[{"match": "/lei-records", "fault": "malformed", "times": 1}])
    run = enrich(application)
    assert run.status == RunStatus.FAILED
    assert run.error["code"] == "malformed_response"
    assert "not valid JSON" in run.error["message"] and run.error["provider"] == "gleif"
    case = Case.objects.get(reference=run.case_reference)
    assert case.source == "enrichment" and case.subject_id == application.reference
    assert case.evidence.get().object_id == str(run.pk)


def test_unknown_outcome_of_a_billable_pull_is_never_repeated(enrichment_settings_for_stub,
                                                               stub):
    application = create(86)
    stub.configure(script=[{"match": "premierprofiles", "fault": "drop", "times": 1}])
    run = enrich(application)
    assert run.status == RunStatus.FAILED and run.error["code"] == "unknown_outcome"
    assert run.case_reference
    again = enrich(application)
    assert again.status == RunStatus.FAILED and again.error["code"] == "unknown_outcome"
    assert stub.stats()["by_path"][REPORT_PATH] == 1
    assert again.case_reference == run.case_reference  # same case, more evidence
    # A human reconciles with the bureau and releases the step: the next run pulls.
    with pytest.raises(ValueError, match="note"):
        services.enrichment_unknown_outcome_release(run_id=run.pk, note=" ")
    assert services.enrichment_unknown_outcome_release(
        run_id=run.pk, note="bureau confirms no inquiry was recorded").released == 1
    third = enrich(application)
    assert third.status == RunStatus.SUCCEEDED, third.error
    assert stub.stats()["by_path"][REPORT_PATH] == 2


def test_failure_while_applying_rolls_back_every_patch(enrichment_settings_for_stub, stub,
                                                       monkeypatch):
    application = create(87)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    insert_rows = services.insert_rows

    def explode_on_document(model, *args, **kwargs):
        if model is services.EnrichmentDocument:
            explode()
        return insert_rows(model, *args, **kwargs)

    # The document is stored after the patches.
    monkeypatch.setattr(services, "insert_rows", explode_on_document)
    run = enrich(application)
    assert run.status == RunStatus.FAILED and "disk full" in run.error["message"]
    application.refresh_from_db()
    assert application.lei == "" and application.registered_name == ""
    assert not DataPatch.objects.exists()
    assert not sealed_ledger().filter(action="enrichment.patches",
                                          object_id=str(application.pk)).exists()


def test_resume_skips_steps_already_saved(enrichment_settings_for_stub, stub):
    application = create(88)
    stub.configure(script=[{"match": "v1/search", "fault": "503", "times": 4}], retry_after=0)
    run = enrich(application)
    assert run.status == RunStatus.FAILED
    gleif_calls = sum(v for k, v in stub.stats()["by_path"].items() if "gleif" in k)
    # Hand the same run back to a worker (as a retry of a failed run would).
    EnrichmentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    resumed = services.enrichment_run_execute(run_id=run.pk, reclaim_after=0)
    assert resumed.status == RunStatus.SUCCEEDED
    assert sum(v for k, v in stub.stats()["by_path"].items() if "gleif" in k) == gleif_calls


def test_screening_hits_open_a_case_linked_to_the_application(enrichment_settings_for_stub,
                                                              monkeypatch):
    seen = []

    def fake_search(*, name, entity_type, use, country=None, dob=None, customer=None):
        seen.append((name, entity_type))
        return {"hits": [{"score": 0.97}] if name == "Maria Keller" else []}

    monkeypatch.setattr(services, "_screening_function",
                        lambda: lambda subjects: [fake_search(**s) for s in subjects])
    application = create(80)
    run = enrich(application)
    assert run.status == RunStatus.SUCCEEDED, run.error
    document = run.document.document
    roles = {s["role"] for s in document["screening"]["subjects"]}
    assert roles == {"applicant", "principal", "direct_parent", "ultimate_parent"}
    principal = next(s for s in document["screening"]["subjects"] if s["role"] == "principal")
    assert principal["hits"] == 1 and principal["case_id"] == run.case_reference
    case = Case.objects.get(reference=run.case_reference)
    assert case.subject_id == application.reference and case.customer == application.customer
    assert ("Maria Keller", "person") in seen


def test_real_screening_engine_is_called_when_present(enrichment_settings_for_stub):
    if services._screening_function() is None:
        pytest.skip("screening.services.screening_search_many is not there yet")
    from screening.models import ScreeningQuery

    application = create(80)
    run = enrich(application)
    assert run.status == RunStatus.SUCCEEDED, run.error
    screening = run.document.document["screening"]
    assert screening["status"] == "screened"
    # applicant, one principal, direct and ultimate parent: four logged queries
    assert ScreeningQuery.objects.count() == len(screening["subjects"]) == 4
    assert ScreeningQuery.objects.filter(customer=application.customer).count() == 1


def test_bureau_ofac_flag_opens_a_case(enrichment_settings_for_stub):
    run = enrich(create(102))  # 102 % 97 == 5: the bureau flags an OFAC match
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.application.bureau_ofac_match is True
    case = Case.objects.get(reference=run.case_reference)
    assert "OFAC" in case.summary
