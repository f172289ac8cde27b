"""500 applications over real HTTP with 30 % injected transient faults: every one ends
fully enriched or cleanly failed; no partial record, no duplicate, every call audited."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from enrichment.choices import RunStatus
from enrichment.document import PATCH_TARGETS, document_value
from enrichment.models import (
    DataPatch,
    EnrichmentDocument,
    EnrichmentRun,
    LoanApplication,
    ProviderCall,
)
from enrichment.services import application_create, enrichment_run_execute, enrichment_run_request
from enrichment.stubs import demo_company
from tests.conftest import sealed_ledger

from .conftest import application_data, reset_around

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
APPLICATIONS = int(os.environ.get("ENRICHMENT_SCALE_APPLICATIONS", "500"))
WORKERS = int(os.environ.get("ENRICHMENT_SCALE_WORKERS", "16"))


@pytest.fixture
def stub(stub_process_server):
    """The providers' stub in a process of its own, as the providers are: served from a
    thread of this process, its answers would wait for the interpreter behind the 16
    runs' threads, and with a 0.3 s read timeout the test could see time-outs it did not
    inject. Reset for the test."""
    yield from reset_around(stub_process_server)


def _submit(index: int) -> int:
    """Register application ``index`` and request its run."""
    application = application_create(
        data=application_data(index), principals=[
            {"full_name": f"Principal {index}", "date_of_birth": dt.date(1970, 1, 1)}])
    run, created = enrichment_run_request(application=application,
                                          idempotency_key=f"scale-{index}", queue=False)
    assert created
    return run.pk


def _execute(run_id: int) -> str:
    try:
        return enrichment_run_execute(run_id=run_id).status
    finally:
        connection.close()  # each worker thread has its own connection


def test_500_applications_with_30_percent_faults(enrichment_settings_for_stub, stub, settings):
    settings.ENRICHMENT_READ_TIMEOUT = 0.3
    stub.configure(fault_rate=0.3, seed=20261128, retry_after=0, timeout_s=0.4,
                   fault_kinds=["429", "500", "502", "503", "drop", "timeout", "latency"],
                   latency_ms=0)
    # Submitting from many threads only queues them on the ledger's chain lock; the
    # runs themselves are what must be concurrent.
    runs = [_submit(i) for i in range(APPLICATIONS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(_execute, runs))
    connections.close_all()

    # Every run finished, one way or the other, exactly once per application.
    assert set(statuses) <= {RunStatus.SUCCEEDED, RunStatus.FAILED}
    assert EnrichmentRun.objects.count() == APPLICATIONS
    succeeded = statuses.count(RunStatus.SUCCEEDED)
    failures = Counter(e["code"] for e in EnrichmentRun.objects.filter(
        status=RunStatus.FAILED).values_list("error", flat=True))
    assert "internal_error" not in failures, EnrichmentRun.objects.filter(
        error__code="internal_error").values_list("error", flat=True)[:3]
    # Only transient exhaustion or a billable pull of unknown outcome may fail a run.
    assert set(failures) <= {"provider_unavailable", "unknown_outcome"}, failures
    assert succeeded >= APPLICATIONS * 0.5, failures
    assert EnrichmentDocument.objects.count() == succeeded

    # Zero partial records.
    for application in LoanApplication.objects.prefetch_related("runs"):
        run = application.runs.get()
        if run.status == RunStatus.FAILED:
            assert run.error["code"] and run.error["message"]
            assert not DataPatch.objects.filter(run=run).exists()
            assert not EnrichmentDocument.objects.filter(run=run).exists()
            assert application.lei == "" and application.registered_name == ""
            assert application.credit_score is None and application.direct_parent_lei == ""
            assert application.enrichment_status == "failed"
        else:
            document = run.document.document
            for path, attribute in PATCH_TARGETS.items():
                present, value, _ = document_value(document, path)
                if present and value is not None:
                    assert getattr(application, attribute) == value, (application, path)
            assert application.enrichment_status == "enriched"

    # Zero duplicates: one billable pull per business at most, one document per run.
    pulls = stub.stats()["report_pulls"]
    assert all(count == 1 for count in pulls.values()), pulls
    assert len(pulls) <= APPLICATIONS
    bins = {demo_company(i).bin for i in range(APPLICATIONS)}
    assert set(pulls) <= bins

    # Every call that reached the providers is stored and on the ledger.
    stats = stub.stats()
    sent = ProviderCall.objects.exclude(outcome="circuit_open").count()
    assert sent == stats["requests"], (sent, stats["requests"], failures)
    # (The ledger is append-only: entries of earlier test runs stay, so scope by run.)
    entries = sealed_ledger().filter(action="enrichment.provider_call",
                                         object_id__in=[str(r) for r in runs])
    assert entries.count() == ProviderCall.objects.count()
    sample = {json.loads(bytes(e.body))["call_id"] for e in entries}
    assert {str(c) for c in ProviderCall.objects.values_list("call_id", flat=True)} == sample
    assert sum(stats["faults"].values()) > APPLICATIONS  # faults really were injected
    assert ProviderCall.objects.filter(outcome="retry").exists()

    # Asking again with the same keys creates nothing new.
    for application in LoanApplication.objects.order_by("pk")[:20]:
        _, created = enrichment_run_request(
            application=application, idempotency_key=application.runs.get().idempotency_key,
            queue=False)
        assert not created
    assert EnrichmentRun.objects.count() == APPLICATIONS
