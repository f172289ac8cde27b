"""The resumable pipeline (memory store) and the application-v1 document (no database)."""

from __future__ import annotations

import copy
import json

import pytest

from enrichment.document import (
    SCHEMA_PATH,
    DocumentInvalid,
    build_document,
    compute_patches,
    document_diff,
    validate_document,
)
from enrichment.pipeline import (
    STEP_BUREAU_REPORT,
    STEP_BUREAU_SEARCH,
    STEP_DIRECT_PARENT,
    STEP_REGISTRY,
    STEP_ULTIMATE_PARENT,
    ApplicantInput,
    EnrichmentPipeline,
    MemoryStepStore,
)
from enrichment.providers.errors import ProviderUnavailable, UnknownOutcome
from enrichment.stubs import demo_company, direct_parent_of


def applicant_for(index: int, **overrides) -> ApplicantInput:
    company = demo_company(index)
    values = {"application_id": f"app-{index}", "legal_name": company.legal_name,
              "country": company.country, "registration_number": company.registration_number}
    values.update(overrides)
    return ApplicantInput(**values)


def document_for(steps, index=0):
    return build_document(application_id=f"app-{index}", run_id="run-1", idempotency_key="k-1",
                          generated_at="2026-11-28T16:00:00+00:00", steps=steps,
                          registry_provider="gleif", bureau_provider="experian")


def test_full_run_builds_a_valid_sourced_document(clients):
    gleif, bureau = clients
    store = MemoryStepStore()
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=store).run(applicant_for(80))
    document = document_for(steps, 80)
    validate_document(document)
    company = demo_company(80)
    assert document["business"]["lei"]["value"] == company.lei
    assert document["parents"]["direct"]["lei"] == direct_parent_of(company).lei
    call_ids = {r.call_id for r in store.records}
    # Every sourced value points at a call that was actually made.
    sources = [document["business"][f]["source"] for f in ("lei", "legal_name")]
    sources += [document["credit"]["commercial_score"]["source"],
                document["parents"]["direct"]["source"]]
    assert all(s["call_id"] in call_ids for s in sources)
    assert sources[0]["provider"] == "gleif" and sources[2]["provider"] == "experian"


def test_applicant_without_lei_in_registry_is_not_found_but_still_credit_checked(clients):
    gleif, bureau = clients
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=MemoryStepStore()).run(
        applicant_for(24))  # index % 25 == 24: no LEI
    document = document_for(steps, 24)
    validate_document(document)
    assert document["business"]["match"]["status"] == "not_found"
    assert "lei" not in document["business"]
    assert document["parents"] == {"direct": None, "ultimate": None}
    assert document["credit"]["match"]["status"] == "matched"


def test_known_lei_is_looked_up_directly(clients, stub):
    gleif, bureau = clients
    company = demo_company(41)
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=MemoryStepStore()).run(
        applicant_for(41, lei=company.lei))
    assert steps[STEP_REGISTRY]["entity"]["lei"] == company.lei
    assert "/gleif/api/v1/lei-records" not in stub.stats()["by_path"]  # no search


def test_resumed_run_reuses_finished_steps(clients, stub):
    gleif, bureau = clients
    store = MemoryStepStore()
    stub.configure(script=[{"match": "v1/search", "fault": "500",
                            "times": 4}])
    pipeline = EnrichmentPipeline(registry=gleif, bureau=bureau, store=store)
    with pytest.raises(Exception, match="gave up"):
        pipeline.run(applicant_for(80))
    assert STEP_DIRECT_PARENT in store.results
    gleif_calls = sum(v for k, v in stub.stats()["by_path"].items() if "gleif" in k)
    steps = pipeline.run(applicant_for(80))
    assert STEP_BUREAU_REPORT in steps
    # The registry steps were not fetched again.
    assert sum(v for k, v in stub.stats()["by_path"].items() if "gleif" in k) == gleif_calls


def test_pending_billable_intent_blocks_a_second_pull(clients, stub):
    gleif, bureau = clients
    store = MemoryStepStore()
    stub.configure(script=[{"match": "premierprofiles", "fault": "drop", "times": 1}])
    pipeline = EnrichmentPipeline(registry=gleif, bureau=bureau, store=store)
    with pytest.raises(UnknownOutcome):
        pipeline.run(applicant_for(81))
    with pytest.raises(UnknownOutcome, match="no recorded outcome"):
        pipeline.run(applicant_for(81))
    assert stub.stats()["by_path"][
        "/experian/businessinformation/businesses/v1/reports/premierprofiles"] == 1


def test_schema_is_published_and_versioned():
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$id"].endswith("application-v1.json")
    assert "1.0.0" in schema["description"]


def test_schema_rejects_unsourced_or_wrongly_typed_values(clients):
    gleif, bureau = clients
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=MemoryStepStore()).run(
        applicant_for(80))
    document = document_for(steps, 80)
    broken = copy.deepcopy(document)
    del broken["business"]["legal_name"]["source"]
    broken["credit"]["commercial_score"]["value"] = 640
    broken["business"]["lei"]["value"] = "not-an-lei"
    broken["surprise"] = 1
    with pytest.raises(DocumentInvalid) as info:
        validate_document(broken)
    text = str(info.value)
    assert "business/legal_name" in text and "credit/commercial_score/value" in text
    assert "business/lei/value" in text and "surprise" in text


@pytest.mark.parametrize("damage", ["no_source", "score_type", "bad_lei", "extra_key",
                                    "no_match", "bad_version"])
def test_compiled_and_reference_validators_agree(clients, damage):
    """Stored documents pass the compiled validator only: it must reject each damage the
    reference validator rejects (and accept the sound document)."""
    from enrichment.document import _fast_validator, _validator

    gleif, bureau = clients
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=MemoryStepStore()).run(
        applicant_for(80))
    document = document_for(steps, 80)
    assert _fast_validator().is_valid(document) and _validator().is_valid(document)
    broken = copy.deepcopy(document)
    if damage == "no_source":
        del broken["business"]["legal_name"]["source"]
    elif damage == "score_type":
        broken["credit"]["commercial_score"]["value"] = "640"
    elif damage == "bad_lei":
        broken["business"]["lei"]["value"] = "not-an-lei"
    elif damage == "extra_key":
        broken["surprise"] = 1
    elif damage == "no_match":
        del broken["credit"]["match"]
    else:
        broken["schema_version"] = "2.0"
    assert not _validator().is_valid(broken)
    assert not _fast_validator().is_valid(broken)
    with pytest.raises(DocumentInvalid):
        validate_document(broken)


def test_patches_only_where_values_change(clients):
    gleif, bureau = clients
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau, store=MemoryStepStore()).run(
        applicant_for(80))
    document = document_for(steps, 80)
    patches = compute_patches({}, document)
    fields = {p.field for p in patches}
    assert {"lei", "registered_name", "credit_score", "direct_parent_lei"} <= fields
    applied = {p.field: p.after for p in patches}
    assert compute_patches(applied, document) == []
    lei_patch = next(p for p in patches if p.field == "lei")
    assert lei_patch.before is None and lei_patch.source["provider"] == "gleif"


def test_document_diff_lists_changed_values():
    old = {"business": {"legal_name": {"value": "A", "source": {}}},
           "credit": {"score": {"value": 10, "source": {}}}}
    new = {"business": {"legal_name": {"value": "A", "source": {"x": 1}}},
           "credit": {"score": {"value": 12, "source": {}}}}
    assert document_diff(old, new) == [{"path": "credit.score", "before": 10, "after": 12}]


@pytest.fixture
def side_calls():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_parents_fetched_alongside_the_bureau_give_the_same_steps(clients, side_calls):
    gleif, bureau = clients
    sequential = EnrichmentPipeline(registry=gleif, bureau=bureau,
                                    store=MemoryStepStore()).run(applicant_for(80))
    store = MemoryStepStore()
    parallel = EnrichmentPipeline(registry=gleif, bureau=bureau, store=store,
                                  executor=side_calls).run(applicant_for(80))
    assert sorted(parallel) == sorted(sequential) == sorted(
        [STEP_REGISTRY, STEP_DIRECT_PARENT, STEP_ULTIMATE_PARENT, STEP_BUREAU_SEARCH,
         STEP_BUREAU_REPORT])
    for key in (STEP_DIRECT_PARENT, STEP_ULTIMATE_PARENT):
        assert parallel[key]["entity"]["lei"] == sequential[key]["entity"]["lei"]
    assert (parallel[STEP_BUREAU_REPORT]["report"]["commercial_score"]
            == sequential[STEP_BUREAU_REPORT]["report"]["commercial_score"])
    assert len(store.records) == 5 and set(store.results) == set(parallel)
    validate_document(document_for(parallel, 80))


def test_a_failing_bureau_still_stores_the_parents_calls(clients, stub, side_calls):
    gleif, bureau = clients
    stub.configure(script=[{"match": "v1/search", "fault": "503", "times": 10}], retry_after=0)
    store = MemoryStepStore()
    with pytest.raises(ProviderUnavailable) as failure:
        EnrichmentPipeline(registry=gleif, bureau=bureau, store=store,
                           executor=side_calls).run(applicant_for(80))
    assert failure.value.provider == "experian"
    assert {STEP_DIRECT_PARENT, STEP_ULTIMATE_PARENT} <= set(store.results)
    operations = [r.operation for r in store.records]
    assert operations.count("direct_parent") == 1 and operations.count("ultimate_parent") == 1
    assert operations.count("business_search") == 4  # every failed attempt is recorded


def test_a_failing_parent_fails_the_run_after_the_bureau_answered(clients, stub, side_calls):
    gleif, bureau = clients
    stub.configure(script=[{"match": "direct-parent", "fault": "503", "times": 10}],
                   retry_after=0)
    store = MemoryStepStore()
    with pytest.raises(ProviderUnavailable) as failure:
        EnrichmentPipeline(registry=gleif, bureau=bureau, store=store,
                           executor=side_calls).run(applicant_for(80))
    assert failure.value.provider == "gleif" and "direct_parent" in str(failure.value)
    # The report pulled meanwhile is kept: a retried run reuses it instead of pulling again.
    assert {STEP_BUREAU_REPORT, STEP_ULTIMATE_PARENT} <= set(store.results)
    assert [r.operation for r in store.failures[0].records].count("direct_parent") == 4
