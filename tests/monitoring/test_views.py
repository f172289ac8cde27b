"""Portal pages: who sees them, the trace shown as a table, approval and replay writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import pytest
import redis

from monitoring.choices import DeadLetterStatus, RuleVersionStatus
from monitoring.models import Alert, DeadLetter, Rule
from monitoring.rules.schema import validate_event
from monitoring.services import dead_letter_record, rule_version_create, transactions_ingest
from tests.monitoring.conftest import make_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def alert(seeded):
    events = [
        make_event(account="V1", amount="9500", channel="cash"),
        make_event(account="V1", amount="9200", channel="cash", at=dt.timedelta(hours=2)),
    ]
    transactions_ingest(events=[validate_event(e) for e in events])
    return Alert.objects.get(rule_code="T1")


@pytest.mark.parametrize("page", ["", "alerts/", "rules/", "dead-letters/", "ctr/"])
def test_pages_for_readers_and_not_outsiders(alert, portal_as, auditor, outsider, client, page):
    assert portal_as(auditor).get(f"/monitoring/{page}").status_code == 200
    assert portal_as(outsider).get(f"/monitoring/{page}").status_code == 403
    assert client.get(f"/monitoring/{page}").status_code == 302


def test_alert_page_shows_trace_table(alert, portal_as, analyst, django_assert_max_num_queries):
    client = portal_as(analyst)
    response = client.get(f"/monitoring/alerts/{alert.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "in-band cash txns today" in body and "Observed values against thresholds" in body
    start = dt.datetime.fromisoformat(alert.trace["window"]["start"]).astimezone(dt.UTC)
    assert start.strftime("<dd>%Y-%m-%d %H:%M UTC → ") in body  # not raw ISO
    with django_assert_max_num_queries(12):
        assert client.get("/monitoring/alerts/", {"account_id": "V1"}).status_code == 200
    assert client.get("/monitoring/alerts/999999/").status_code == 404


def test_alert_list_filters_read_as_a_form_and_link_each_case(alert, portal_as, auditor):
    client = portal_as(auditor)
    body = client.get("/monitoring/alerts/").content.decode()
    assert '<select name="severity"' in body and '<option value="high">' in body
    assert 'type="datetime-local" name="since"' in body and "Raised from (UTC)" in body
    assert alert.case is not None
    assert f'href="/cases/{alert.case.pk}/">{alert.case.reference}</a>' in body
    # what the datetime-local inputs send: a time without seconds or offset, read as UTC
    raised = alert.created_at.astimezone(dt.UTC)
    before = (raised - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    after = (raised + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert f"/monitoring/alerts/{alert.pk}/" in client.get(
        "/monitoring/alerts/", {"since": before, "until": after, "severity": alert.severity}
    ).content.decode()
    assert "No alerts match." in client.get(
        "/monitoring/alerts/", {"since": after}).content.decode()


def test_alert_pages_name_the_stored_customer(alert, portal_as, auditor):
    """The feed carries only the bank's customer id; a stored customer's name is shown
    beside it, and an id without a stored customer is shown alone."""
    from cases.services import customer_upsert

    client = portal_as(auditor)
    assert "Maria Ruiz" not in client.get("/monitoring/alerts/").content.decode()
    customer_upsert(external_id=alert.customer_id, name="Maria Ruiz", entity_type="person")
    listing = client.get("/monitoring/alerts/").content.decode()
    link = f'<a href="/cases/customers/{alert.customer_id}/">Maria Ruiz</a>'
    assert f'{link}<br><span class="muted">{alert.customer_id}</span>' in listing
    detail = client.get(f"/monitoring/alerts/{alert.pk}/").content.decode()
    assert f"{link} ({alert.customer_id})" in detail


def test_approval_from_portal_needs_another_approver(seeded, portal_as, analyst, approver, auditor):
    rule = Rule.objects.get(code="T9")
    draft = rule_version_create(
        rule=rule, params={"tolerance": "0.05"}, severity="low", actor_user=analyst
    )
    url = f"/monitoring/versions/{draft.pk}/approve/"
    assert portal_as(auditor).post(url, {"decision": "approve"}).status_code == 403
    assert portal_as(analyst).post(url, {"decision": "approve"}).status_code == 403
    assert portal_as(approver).post(url, {"decision": "approve"}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == RuleVersionStatus.ACTIVE and draft.approved_by == approver


def test_draft_created_from_portal(seeded, portal_as, analyst):
    rule = Rule.objects.get(code="T6")
    response = portal_as(analyst).post(
        f"/monitoring/rules/{rule.pk}/versions/",
        {"params": json.dumps({"min_count": 4}), "severity": "low", "note": "fewer"},
    )
    assert response.status_code == 302
    assert rule.versions.get(version=2).params["min_count"] == 4
    bad = portal_as(analyst).post(
        f"/monitoring/rules/{rule.pk}/versions/",
        {"params": "{oops", "severity": "low"},
        follow=True,
    )
    assert "Not valid JSON" in bad.content.decode()
    assert rule.versions.count() == 2


@pytest.mark.redis
def test_dead_letter_replay_puts_corrected_payload_on_stream(
    seeded, portal_as, analyst, auditor, settings
):
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("Redis is not available")
    settings.REDIS_URL = url
    stream = f"test-dl-{uuid.uuid4().hex[:8]}"
    letter = dead_letter_record(
        stream=stream,
        entry_id="1-0",
        payload="{bad",
        reason="invalid event: data: invalid JSON",
        errors={"data": "invalid JSON"},
    )
    page = f"/monitoring/dead-letters/{letter.pk}/"
    assert portal_as(auditor).post(page, {"action": "replay", "payload": "{}"}).status_code == 403
    fixed = json.dumps(make_event())
    assert portal_as(analyst).post(page, {"action": "replay", "payload": fixed}).status_code == 302
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.REPLAYED
    client = redis.Redis.from_url(url)
    try:
        entries = client.xrange(stream)
        assert entries[0][1][b"data"].decode() == fixed
    finally:
        client.delete(stream)
    assert DeadLetter.objects.get(pk=letter.pk).replayed_entry_id


def test_rule_toggle_needs_approver_and_ctr_filing_needs_worker(
    seeded, portal_as, analyst, approver, auditor
):
    from monitoring.models import CtrReport

    rule = Rule.objects.get(code="T4a")
    url = f"/monitoring/rules/{rule.pk}/toggle/"
    assert portal_as(analyst).post(url, {"enabled": "0"}).status_code == 403
    assert portal_as(approver).post(url, {"enabled": "0"}).status_code == 302
    rule.refresh_from_db()
    assert rule.enabled is False
    events = [
        make_event(account="K", amount="6000", channel="cash"),
        make_event(account="K", amount="6000", channel="cash", at=dt.timedelta(hours=1)),
    ]
    transactions_ingest(events=[validate_event(e) for e in events])
    report = CtrReport.objects.get(account_id="K")
    assert portal_as(auditor).post(f"/monitoring/ctr/{report.pk}/filed/").status_code == 403
    assert portal_as(analyst).post(f"/monitoring/ctr/{report.pk}/filed/").status_code == 302
    report.refresh_from_db()
    assert report.status == "filed"


def test_case_page_shows_the_alert_that_opened_it(alert, portal_as, analyst):
    """The case an alert opened shows that alert's rule and version, each measure against
    its threshold, the parameters and the contributing transactions, linked to the alert
    page (it once read "Monitoring alert: rule", "No parameters recorded"). The inbox's
    rule filter and the dashboard find the case by the rule's code."""
    from cases.selectors import dashboard_stats

    client = portal_as(analyst)
    body = client.get(f"/cases/{alert.case.pk}/").content.decode()
    assert f'<a href="/monitoring/alerts/{alert.pk}/">#{alert.pk}</a>: rule T1 v1' in body
    assert "No parameters recorded" not in body
    comparison = alert.trace["comparisons"][0]
    assert f"<td>{comparison['measure']}</td><td><strong>{comparison['observed']}</strong>" in body
    assert "Contributing transactions (2, total" in body
    for ref in alert.trace["contributing"]["ids"]:
        assert f"<code>{ref}</code>" in body
    inbox = client.get("/cases/", {"rule": "T1", "status": "all"}).content.decode()
    assert alert.case.reference in inbox
    assert alert.case.reference not in client.get(
        "/cases/", {"rule": "T9", "status": "all"}).content.decode()
    assert sum(dashboard_stats()["alerts_per_rule"]["T1"]) == 1
    # Evidence recorded before alerts carried `rule_code` names the rule as "SAN v1".
    from cases.services import case_open

    older = case_open(source="monitoring", title="older", subject_type="customer",
                      subject_id="C-OLD", dedupe_key="older", priority=50,
                      evidence={"kind": "alert", "object_id": "999999",
                                "summary": {"rule": "SAN v1"}})
    assert older.reference in client.get("/cases/", {"rule": "SAN"}).content.decode()
    assert sum(dashboard_stats()["alerts_per_rule"]["SAN"]) == 1
    page = client.get(f"/cases/{older.pk}/").content.decode()
    assert "No parameters recorded" in page  # no such alert stored: the summary's shape


def test_customer_page_gathers_cases_queries_whitelist_alerts_and_applications(
        alert, portal_as, auditor, outsider, analyst):
    """Everything Vigil holds about one customer, for any reader (an auditor too): every
    case (open first), the screening queries and reviewed false positives, the alerts and
    the loan applications, each linked to its own page."""
    from cases.services import customer_upsert
    from screening.models import Whitelist

    customer = customer_upsert(external_id=alert.customer_id, name="Maria Ruiz",
                               entity_type="person")
    from audit.context import Actor
    from cases.services import case_open
    from screening.services import screening_search

    query = screening_search(name="Maria Ruiz", customer=customer, actor=Actor.system("t"))
    own = case_open(source="manual", title="Source of wealth review", subject_type="customer",
                    subject_id=customer.external_id, customer=customer, priority=10,
                    dedupe_key="manual:maria")
    Whitelist.objects.create(customer=customer, list_code="ofac-sdn", entity_uid="306",
                             content_hash="h", reviewer=analyst, reason="other party")
    url = f"/cases/customers/{alert.customer_id}/"
    assert portal_as(outsider).get(url).status_code == 403
    page = portal_as(auditor).get(url)
    body = page.content.decode()
    assert page.status_code == 200 and "<h1>Maria Ruiz" in body
    assert f'href="/screening/queries/{query.pk}/"' in body
    assert "ofac-sdn 306" in body and "other party" in body
    assert f'href="/monitoring/alerts/{alert.pk}/"' in body
    assert "No loan application." in body
    assert f'href="/cases/{own.pk}/">{own.reference}</a>' in body
    # the alert's case was opened before the bank sent the customer: storing the
    # customer linked it (versioned, and searchable by the name)
    alert.case.refresh_from_db()
    assert alert.case.customer_id == customer.pk and "maria ruiz" in alert.case.search_text
    assert f'href="/cases/{alert.case.pk}/">{alert.case.reference}</a>' in body
    assert portal_as(auditor).get("/cases/customers/NO-SUCH/").status_code == 404
