"""Releasing a billable request of unknown outcome in a real browser: an analyst must give
the provider's answer, the release lands on the audit trail under the analyst's name, and
an auditor sees the blocked request but no control to release it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REASON = "Experian support (ticket 4471): no inquiry recorded for this BIN"


def _blocked_application():
    from enrichment.choices import RunStatus, StepStatus
    from enrichment.models import EnrichmentRun, ProviderStep
    from enrichment.services import application_create
    from enrichment.stubs import demo_company

    company = demo_company(86)
    application = application_create(data={
        "legal_name": company.legal_name, "registration_number": company.registration_number,
        "country": company.country, "address_line": company.street, "city": company.city,
        "postal_code": company.postal_code, "requested_amount": 250_000, "currency": "USD",
        "purpose": "Working capital"},
        principals=[{"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])
    run = EnrichmentRun.objects.create(
        application=application, idempotency_key="browser-unknown", status=RunStatus.FAILED,
        error={"code": "unknown_outcome", "message": "experian premier_profile: dropped"})
    step = ProviderStep.objects.create(
        run=run, key="bureau.report", fingerprint="b" * 64, status=StepStatus.UNKNOWN,
        result={"error": {"code": "unknown_outcome",
                          "message": "experian premier_profile: ConnectionError (dropped)"}})
    return application, run, step


def _release_entries(run):
    from audit import services as audit_services
    from audit.models import LedgerEntry

    seal = getattr(audit_services, "ledger_seal_pending", None)
    if seal is not None:
        seal()
    return LedgerEntry.objects.filter(action="enrichment.unknown_outcome_released",
                                      object_id=str(run.pk))


def test_analyst_releases_an_unknown_outcome_with_a_reason(login, live_server):
    from django.contrib.auth.models import User

    from enrichment.choices import StepStatus

    application, run, step = _blocked_application()
    page = login("analyst")
    page.goto(f"{live_server.url}/enrichment/applications/{application.pk}/")
    panel = page.locator("#unknown-outcome")
    assert "bureau.report" in panel.inner_text()

    # No reason: refused with a clear message, nothing released.
    panel.get_by_role("button", name="Release only (mark resolved)").click()
    page.wait_for_selector("#unknown-outcome .errorlist li")
    assert "Say what the provider confirmed" in page.locator("#unknown-outcome").inner_text()
    step.refresh_from_db()
    assert step.status == StepStatus.UNKNOWN

    page.fill(f"#release-reason-{run.pk}", REASON)
    page.locator("#unknown-outcome").get_by_role(
        "button", name="Release only (mark resolved)").click()
    page.wait_for_selector(".messages .msg-success")
    assert f"Released 1 request(s) of run {run.pk}" in page.locator(".messages").inner_text()
    assert page.locator("#unknown-outcome").count() == 0
    step.refresh_from_db()
    assert step.status == StepStatus.FAILED and step.result["released"] == REASON
    entry = _release_entries(run).get()
    assert entry.actor_id == str(User.objects.get(username="analyst").pk)
    assert json.loads(bytes(entry.body))["note"] == REASON


def test_auditor_sees_the_blocked_request_but_no_release_control(login, live_server):
    from enrichment.choices import StepStatus

    application, run, step = _blocked_application()
    page = login("auditor")
    for path in (f"/enrichment/applications/{application.pk}/", f"/enrichment/runs/{run.pk}/"):
        page.goto(f"{live_server.url}{path}")
        assert "bureau.report" in page.locator("#unknown-outcome").inner_text()
        assert page.locator("form.release-unknown").count() == 0
        assert page.get_by_role("button", name="Release and retry now").count() == 0
    # Posting by hand is refused too.
    response = page.request.post(
        f"{live_server.url}/enrichment/runs/{run.pk}/release-unknown/",
        form={"reason": REASON, "action": "resolve"},
        headers={"X-CSRFToken": next(c["value"] for c in page.context.cookies()
                                     if c["name"] == "csrftoken"),
                 "Referer": live_server.url + "/"})
    assert response.status == 403
    assert "Your role does not give access" in response.text()  # not a CSRF refusal
    step.refresh_from_db()
    assert step.status == StepStatus.UNKNOWN
    assert not _release_entries(run).exists()
