"""Portal pages: list, form, application page (timeline, document, diff), enrich button."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from enrichment.choices import RunStatus, StepStatus
from enrichment.models import EnrichmentRun, LoanApplication, ProviderStep
from enrichment.services import application_create, enrichment_run_request
from tests.conftest import sealed_ledger

from .conftest import application_data

pytestmark = [pytest.mark.django_db]


def make_application(index=80):
    return application_create(data=application_data(index), principals=[
        {"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])


def form_post(index=80, **overrides):
    data = {**application_data(index), "form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0",
            "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "4",
            "form-0-full_name": "Maria Keller", "form-0-date_of_birth": "1975-04-02",
            "form-0-nationality": "de", "form-0-role": "owner",
            "form-1-full_name": "", "form-1-date_of_birth": "", "form-1-role": "owner"}
    data.update(overrides)
    return data


def test_pages_need_a_role(client, outsider, portal_as):
    assert client.get("/enrichment/").status_code == 302  # to login
    assert portal_as(outsider).get("/enrichment/").status_code == 403


def test_list_page_shows_applications(portal_as, auditor, django_assert_max_num_queries):
    make_application(80)
    make_application(81)
    page = portal_as(auditor)
    with django_assert_max_num_queries(12):
        response = page.get("/enrichment/")
    assert response.status_code == 200
    assert b"LA-" in response.content and b"New application" not in response.content


def test_form_creates_an_application(portal_as, analyst):
    response = portal_as(analyst).post("/enrichment/applications/new/", form_post())
    assert response.status_code == 302
    application = LoanApplication.objects.get()
    assert application.principals.get().nationality == "DE"


def test_form_shows_field_errors(portal_as, analyst):
    response = portal_as(analyst).post("/enrichment/applications/new/",
                                       form_post(country="Germany", requested_amount="x"))
    assert response.status_code == 400
    assert b"ISO 3166 alpha-2" in response.content
    assert LoanApplication.objects.count() == 0


def test_auditor_cannot_post(portal_as, auditor):
    application = make_application()
    assert portal_as(auditor).post("/enrichment/applications/new/",
                                   form_post()).status_code == 403
    assert portal_as(auditor).post(
        f"/enrichment/applications/{application.pk}/enrich/").status_code == 403
    assert EnrichmentRun.objects.count() == 0


def test_enrich_button_and_detail_pages(portal_as, analyst, enrichment_settings_for_stub,
                                        django_capture_on_commit_callbacks):
    application = make_application(80)
    page = portal_as(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/enrichment/applications/{application.pk}/enrich/")
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        enrichment_run_request(application=application)  # a second run: the diff
    detail = page.get(f"/enrichment/applications/{application.pk}/")
    assert detail.status_code == 200
    assert b"Enrichment document" in detail.content and b"Changes since" in detail.content
    run = EnrichmentRun.objects.order_by("pk").first()
    timeline = page.get(f"/enrichment/runs/{run.pk}/")
    assert timeline.status_code == 200
    assert b"gleif lei_search" in timeline.content and b"patched lei" in timeline.content
    partial = page.get(f"/enrichment/applications/{application.pk}/runs/")
    assert partial.status_code == 200 and b"Succeeded" in partial.content


def ledger(**filters):
    """Ledger entries (sealed first when the ledger seals in the background)."""
    return sealed_ledger().filter(**filters)


def unknown_outcome_run(application):
    """A finished run whose billable pull was sent and never answered."""
    run = EnrichmentRun.objects.create(application=application, idempotency_key="unknown-1",
                                       status=RunStatus.FAILED,
                                       error={"code": "unknown_outcome", "message": "drop"})
    step = ProviderStep.objects.create(
        run=run, key="bureau.report", fingerprint="f" * 64, status=StepStatus.UNKNOWN,
        result={"error": {"code": "unknown_outcome",
                          "message": "experian premier_profile: ConnectionError"}})
    return run, step


RELEASE_REASON = "Experian support: no inquiry recorded for this BIN today"


def test_release_form_is_shown_to_workers_and_hidden_from_auditors(portal_as, analyst,
                                                                    approver, auditor):
    application = make_application(80)
    run, _step = unknown_outcome_run(application)
    for user in (analyst, approver):
        for url in (f"/enrichment/applications/{application.pk}/", f"/enrichment/runs/{run.pk}/"):
            page = portal_as(user).get(url)
            assert b"Request of unknown outcome" in page.content
            assert b"Release and retry now" in page.content
    for url in (f"/enrichment/applications/{application.pk}/", f"/enrichment/runs/{run.pk}/"):
        page = portal_as(auditor).get(url)
        assert page.status_code == 200 and b"Request of unknown outcome" in page.content
        assert b"release-unknown" not in page.content and b"Release and retry" not in page.content


def test_release_is_refused_to_auditors_outsiders_and_anonymous(client, portal_as, auditor,
                                                               outsider):
    application = make_application(80)
    run, step = unknown_outcome_run(application)
    url = f"/enrichment/runs/{run.pk}/release-unknown/"
    data = {"reason": RELEASE_REASON, "action": "resolve"}
    assert portal_as(auditor).post(url, data).status_code == 403
    assert portal_as(outsider).post(url, data).status_code == 403
    assert client.post(url, data).status_code == 302  # to login
    step.refresh_from_db()
    assert step.status == StepStatus.UNKNOWN
    assert not ledger(action="enrichment.unknown_outcome_released").exists()


def test_release_needs_a_reason(portal_as, analyst):
    application = make_application(80)
    run, step = unknown_outcome_run(application)
    response = portal_as(analyst).post(f"/enrichment/runs/{run.pk}/release-unknown/",
                                       {"reason": "  ", "action": "retry"})
    assert response.status_code == 400
    assert b"Say what the provider confirmed" in response.content
    step.refresh_from_db()
    assert step.status == StepStatus.UNKNOWN
    assert EnrichmentRun.objects.count() == 1


def test_release_only_marks_it_resolved_on_the_audit_trail(portal_as, approver):
    application = make_application(80)
    run, step = unknown_outcome_run(application)
    response = portal_as(approver).post(f"/enrichment/runs/{run.pk}/release-unknown/",
                                        {"reason": RELEASE_REASON, "action": "resolve"})
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.status == StepStatus.FAILED and step.result["released"] == RELEASE_REASON
    assert EnrichmentRun.objects.count() == 1  # no new run
    entry = ledger(action="enrichment.unknown_outcome_released", object_id=str(run.pk)).get()
    assert (entry.actor_type, entry.actor_id) == ("user", str(approver.pk))
    body = json.loads(bytes(entry.body))
    assert body["note"] == RELEASE_REASON and body["step"] == "bureau.report"
    assert body["retry"] is False and body["new_run"] is None
    # Released once: a second post has nothing left to release and says so.
    again = portal_as(approver).post(f"/enrichment/runs/{run.pk}/release-unknown/",
                                     {"reason": RELEASE_REASON, "action": "resolve"},
                                     follow=True)
    assert b"no step of unknown outcome" in again.content
    assert ledger(action="enrichment.unknown_outcome_released").count() == 1


def test_release_and_retry_pulls_the_report_once_more(portal_as, analyst, stub,
                                                      enrichment_settings_for_stub,
                                                      django_capture_on_commit_callbacks):
    application = make_application(86)
    stub.configure(script=[{"match": "premierprofiles", "fault": "drop", "times": 1}])
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = enrichment_run_request(application=application)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error["code"] == "unknown_outcome"
    page = portal_as(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/enrichment/runs/{run.pk}/release-unknown/",
                             {"reason": RELEASE_REASON, "action": "retry"})
    assert response.status_code == 302
    retried = EnrichmentRun.objects.exclude(pk=run.pk).get()
    assert retried.status == RunStatus.SUCCEEDED, retried.error
    assert retried.requested_by == analyst.get_username()
    assert stub.stats()["by_path"][
        "/experian/businessinformation/businesses/v1/reports/premierprofiles"] == 2
    entry = ledger(action="enrichment.unknown_outcome_released", object_id=str(run.pk)).get()
    assert json.loads(bytes(entry.body))["new_run"] == retried.pk
    detail = page.get(f"/enrichment/applications/{application.pk}/")
    assert b"Request of unknown outcome" not in detail.content


@pytest.mark.postgres
def test_run_page_counts_entries_not_yet_chained_once(settings):
    """Background sealing: the run page's ledger count includes pending entries, and an
    entry counts once whether it is pending or chained."""
    from audit.context import Actor, audit_context
    from audit.services import audit_record, ledger_seal_pending
    from enrichment.selectors import RUN_OBJECT_TYPE, run_ledger_count

    application = make_application(81)
    run = EnrichmentRun.objects.create(application=application, idempotency_key="count-1",
                                       status=RunStatus.RUNNING)
    before = run_ledger_count(run=run)
    settings.AUDIT_SEAL_MODE = "background"
    settings.AUDIT_SEALER = "process"  # nothing seals behind the test's back
    with audit_context(actor=Actor.system("t")):
        audit_record(action="enrichment.test", object_type=RUN_OBJECT_TYPE,
                     object_id=str(run.pk), data={"n": 1})
    assert run_ledger_count(run=run) == before + 1
    ledger_seal_pending()
    assert run_ledger_count(run=run) == before + 1
