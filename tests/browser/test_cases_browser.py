"""The issue's scenario in a real browser: claim a screening hit, compare names, mark a false
positive; escalate a monitoring case; an approver signs off; four-eyes refuses the same
person; an auditor browses and finds no write control. Plus screenshots for the README."""

from __future__ import annotations

import pytest

from cases import services
from cases.choices import CaseState
from cases.models import Case

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _post_forms(page) -> list[str]:
    """Actions of POST forms on the page, except logging out."""
    actions = page.eval_on_selector_all(
        "form", "fs => fs.filter(f => f.method === 'post').map(f => f.action)"
    )
    return [a for a in actions if not a.endswith("/logout/")]


def _open(page, live_server, case):
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.wait_for_selector("[data-testid=case-state]")


def _state(case) -> str:
    return Case.objects.get(pk=case.pk).state


def test_case_workflow_in_the_browser(login, live_server, demo_users):
    from django.contrib.auth.models import User

    customer = services.customer_upsert(
        external_id="B-1", name="Ivan Petrov", dob="1971-03-14", country="RU"
    )
    hit = services.case_open(
        source="screening",
        title="Possible OFAC match: Ivan Petrov",
        subject_type="customer",
        subject_id="B-1",
        customer=customer,
        priority=92,
        dedupe_key="screening:B-1:sdn:1",
        evidence={
            "kind": "screening_match",
            "object_id": "m1",
            "summary": {
                "query_name": "Ivan Petrov",
                "matched_name": "PETROV, Ivan Sergeyevich",
                "score": 92,
                "list": "ofac-sdn",
                "entity_uid": "OFAC-25913",
                "content_hash": "abc",
                "explanation": "2 of 3 name tokens equal",
            },
        },
    )
    alert = services.case_open(
        source="monitoring",
        title="STRUCT-01: deposits under threshold",
        subject_type="customer",
        subject_id="B-1",
        customer=customer,
        priority=40,
        dedupe_key="monitoring:B-1:STRUCT-01:2026-11-01",
        evidence={
            "kind": "alert",
            "object_id": "a1",
            "summary": {
                "rule_code": "STRUCT-01",
                "rule_version": 2,
                "parameters": {"threshold": 10000},
                "observed": {"threshold": 9900},
                "contributing_ids": ["TX-1"],
            },
        },
    )

    # 1. An analyst claims the next case (the screening hit), compares names, marks the
    #    match a false positive and closes the case.
    analyst = login("analyst")
    analyst.goto(f"{live_server.url}/cases/")
    analyst.click("[data-testid=claim-next]")
    analyst.wait_for_url(f"**/cases/{hit.pk}/")
    compare = analyst.locator("[data-testid=name-compare]")
    assert "Ivan" in compare.inner_text() and "Sergeyevich" in compare.inner_text()
    assert analyst.locator(".tok-diff", has_text="Sergeyevich").count() == 1
    analyst.click("text=Start investigating")
    analyst.fill("textarea[name=note]", "Different date of birth and nationality.")
    analyst.click("[data-testid=mark-false-positive]")
    analyst.wait_for_selector("text=Match resolved.")
    assert analyst.locator(".evidence .badge", has_text="False positive").count() == 1
    analyst.select_option("#id_disposition", "false_positive")
    analyst.fill("#id_rationale", "The listed person is someone else.")
    analyst.click("text=Record decision")
    analyst.wait_for_selector("text=now closed")
    assert _state(hit) == CaseState.CLOSED
    assert _post_forms(analyst) == []  # a closed case is read-only

    # 2. Another analyst escalates the monitoring case and proposes a disposition.
    second = login("analyst2")
    _open(second, live_server, alert)
    second.click("text=Claim this case")
    second.click("text=Start investigating")
    second.fill("#id_escalate_reason", "Four deposits just under 10,000 in a week.")
    second.click("button:has-text('Escalate')")
    second.wait_for_selector("text=now escalated")
    second.select_option("#id_disposition", "no_further_action")
    second.fill("#id_rationale", "Deposits are the customer's documented shop takings.")
    second.click("text=Record decision")
    second.wait_for_selector("text=now pending approval")

    # 3. An approver signs it off; the page shows who decided what.
    approver = login("approver")
    _open(approver, live_server, alert)
    approver.click("text=Approve and close")
    approver.wait_for_selector("text=now closed")
    decisions = approver.locator("#decisions").inner_text()
    assert "analyst2 — Escalated" in decisions and "approver — Approved closure" in decisions

    # 4. Four-eyes: the approver cannot sign off a case they investigated themself.
    own = services.case_open(
        source="monitoring",
        title="VEL-02 velocity",
        subject_type="customer",
        subject_id="B-1",
        customer=customer,
        dedupe_key="monitoring:B-1:VEL-02:1",
    )
    user = User.objects.get(username="approver")
    own = services.case_claim(case=own, actor_user=user, expected_version=own.version)
    own = services.case_start(case=own, actor_user=user, expected_version=own.version)
    own = services.case_resolve(
        case=own,
        actor_user=user,
        expected_version=own.version,
        disposition="true_match",
        rationale="Rapid movement of funds.",
    )
    _open(approver, live_server, own)
    approver.click("text=Approve and close")
    approver.wait_for_selector(".messages .msg-error")
    assert "Four-eyes rule" in approver.locator(".messages").inner_text()
    assert _state(own) == CaseState.PENDING_APPROVAL

    # 5. An auditor browses everything and finds no write control.
    auditor = login("auditor")
    for path in [
        "/cases/",
        "/cases/dashboard/",
        f"/cases/{hit.pk}/",
        f"/cases/{alert.pk}/",
        f"/cases/{own.pk}/",
        f"/cases/{own.pk}/sar/",
    ]:
        response = auditor.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert _post_forms(auditor) == [], path
        assert auditor.locator("button", has_text="Claim").count() == 0
        assert auditor.locator("input[type=file], textarea").count() == 0, path
    assert auditor.locator(".badge.readonly").first.is_visible()


def test_screenshots_of_inbox_case_page_and_dashboard(login, live_server):
    from audit.context import Actor
    from monitoring.services import demo_monitoring_load
    from screening.lists.services import demo_lists_load
    from screening.matcher_cache import matcher_cache_clear
    from screening.services import demo_screening_load
    from tests.browser.conftest import SCREENSHOTS

    # The demo as `make run` loads it (a smaller feed): the screening cases are real hits
    # on the shipped lists, so the case page shows the listed entry, not a stand-in, and
    # the monitoring cases come from the feed's alerts.
    actor = Actor.system("test")
    matcher_cache_clear()
    services.demo_customers_load()
    demo_lists_load(actor=actor)
    demo_screening_load(actor=actor)
    demo_monitoring_load(actor=actor, accounts=20)
    matcher_cache_clear()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = login("approver")
    page.goto(f"{live_server.url}/cases/")
    page.wait_for_selector("table.cases")
    page.screenshot(path=str(SCREENSHOTS / "cases-inbox.png"), full_page=True)
    case = (
        Case.objects.filter(source="screening", state=CaseState.INVESTIGATING).first()
        or Case.objects.filter(source="screening").first()
    )
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.wait_for_selector("[data-testid=match-card]")
    assert "was not found in the stored list versions" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "cases-case-page.png"), full_page=True)
    page.goto(f"{live_server.url}/cases/dashboard/")
    page.wait_for_selector("svg")
    page.screenshot(path=str(SCREENSHOTS / "cases-dashboard.png"), full_page=True)
    for name in ("cases-inbox.png", "cases-case-page.png", "cases-dashboard.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000


@pytest.mark.parametrize(
    ("username", "role"),
    [("analyst", "analyst"), ("approver", "approver"), ("auditor", "auditor"), ("admin", "admin")],
)
def test_each_demo_role_logs_in_and_navigates(login, live_server, username, role):
    page = login(username)
    nav = page.locator("header nav")
    for label in ("Cases", "Screening", "Lists", "Monitoring", "Enrichment", "Audit", "API"):
        assert nav.get_by_role("link", name=label, exact=True).count() == 1, label
    assert (nav.get_by_role("link", name="Admin", exact=True).count() == 1) == (role == "admin")
    assert page.locator(f".whoami .role-{role}").count() == 1
    assert (page.locator(".whoami .readonly").count() == 1) == (role == "auditor")
    nav.get_by_role("link", name="Cases", exact=True).click()
    page.wait_for_selector("h1:has-text('Case inbox')")
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Cases"
    claim = page.locator("[data-testid=claim-next]").count()
    assert claim == (0 if role == "auditor" else 1)
