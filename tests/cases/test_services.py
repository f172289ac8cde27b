"""The case workflow against real PostgreSQL: transitions, four-eyes, optimistic locking,
claim-next, bulk closure, match resolution, attachments and SAR export."""

from __future__ import annotations

import hashlib
import sys
import threading
import types
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases import services
from cases.choices import CaseState, DecisionKind, Disposition
from cases.models import Case, CaseDecision
from tests.cases.factories import monitoring_case, screening_case
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


def _entries(case, action=None):
    qs = sealed_ledger().filter(object_type="cases.case", object_id=str(case.pk))
    return qs.filter(action=action) if action else qs


def _investigating(case, user):
    case = services.case_claim(case=case, actor_user=user, expected_version=case.version)
    return services.case_start(case=case, actor_user=user, expected_version=case.version)


def test_case_open_starts_the_sar_clock_and_indexes_search_text():
    case = screening_case(name="Maria Gonzalez", listed="GONZALEZ RUIZ, Maria")
    assert case.due_at - case.detected_at == timedelta(days=30)
    assert "maria gonzalez" in case.search_text and "gonzalez ruiz, maria" in case.search_text
    assert case.customer.external_id.lower() in case.search_text


def test_false_positive_closes_directly_with_decision_and_audit(analyst):
    case = _investigating(screening_case(), analyst)
    assert case.state == CaseState.INVESTIGATING and case.investigator == analyst
    closed = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.FALSE_POSITIVE,
        rationale="Different person: DOB differs by 20 years.",
    )
    assert closed.state == CaseState.CLOSED and closed.decided_by == analyst
    assert closed.closed_at is not None
    decision = CaseDecision.objects.get(case=case)
    assert (decision.kind, decision.actor) == (DecisionKind.CLOSE, analyst)
    entry = _entries(case, "case.close").get()
    assert entry.actor_label == analyst.username
    # claim, start and close each left a history row sealed into the ledger
    assert _entries(case, "update").count() == 3


def test_disposition_needs_a_rationale(analyst):
    case = _investigating(screening_case(), analyst)
    with pytest.raises(services.CaseError, match="rationale") as info:
        services.case_resolve(
            case=case,
            actor_user=analyst,
            expected_version=case.version,
            disposition=Disposition.FALSE_POSITIVE,
            rationale="  ",
        )
    assert info.value.field == "rationale"
    case.refresh_from_db()
    assert case.state == CaseState.INVESTIGATING


def test_escalated_case_needs_a_second_person_to_close(approver, admin_user):
    # The approver works the case themself: they cannot also sign it off.
    case = _investigating(monitoring_case(), approver)
    case = services.case_escalate(
        case=case, actor_user=approver, expected_version=case.version, reason="Layering pattern"
    )
    case = services.case_resolve(
        case=case,
        actor_user=approver,
        expected_version=case.version,
        disposition=Disposition.NO_FURTHER_ACTION,
        rationale="Explained by payroll.",
    )
    assert case.state == CaseState.PENDING_APPROVAL
    with pytest.raises(services.FourEyesViolation, match="Four-eyes"):
        services.case_approve(case=case, actor_user=approver, expected_version=case.version)
    case.refresh_from_db()
    assert case.state == CaseState.PENDING_APPROVAL
    done = services.case_approve(
        case=case, actor_user=admin_user, expected_version=case.version, rationale="Agreed."
    )
    assert done.state == CaseState.CLOSED and done.decided_by == admin_user
    assert done.investigator == approver
    entry = _entries(case, "case.approve").get()
    assert entry.actor_label == admin_user.username


def test_true_match_goes_to_approval_and_starts_continuing_review(analyst, approver):
    case = _investigating(screening_case(), analyst)
    case = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.TRUE_MATCH,
        rationale="Same DOB and passport.",
        suspect_identified=False,
    )
    assert case.state == CaseState.PENDING_APPROVAL
    assert case.due_at - case.detected_at == timedelta(days=60)
    case = services.case_approve(case=case, actor_user=approver, expected_version=case.version)
    assert case.review_due_at - case.closed_at == timedelta(days=90)


def test_analyst_cannot_approve(analyst, analyst2):
    case = _investigating(screening_case(), analyst)
    case = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.TRUE_MATCH,
        rationale="Match.",
    )
    with pytest.raises(services.CasePermissionError):
        services.case_approve(case=case, actor_user=analyst2, expected_version=case.version)


def test_sending_back_returns_the_case_to_the_investigator(analyst, approver):
    case = _investigating(screening_case(), analyst)
    case = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.TRUE_MATCH,
        rationale="Match.",
    )
    case = services.case_reject(
        case=case,
        actor_user=approver,
        expected_version=case.version,
        reason="Check the second passport.",
    )
    assert case.state == CaseState.INVESTIGATING and case.disposition == ""


def test_stale_version_is_refused_not_overwritten(analyst):
    case = _investigating(screening_case(), analyst)
    stale = case.version - 1
    with pytest.raises(services.CaseConflict, match="changed by someone else"):
        services.case_escalate(case=case, actor_user=analyst, expected_version=stale, reason="x")
    case.refresh_from_db()
    assert case.state == CaseState.INVESTIGATING


def test_closed_case_is_read_only_until_reopened(analyst, approver):
    case = _investigating(screening_case(), analyst)
    case = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.FALSE_POSITIVE,
        rationale="Not him.",
    )
    with pytest.raises(services.CaseStateError, match="closed and read-only"):
        services.case_comment_add(case=case, actor_user=analyst, body="late note")
    with pytest.raises(services.CaseStateError):
        services.case_escalate(
            case=case, actor_user=analyst, expected_version=case.version, reason="x"
        )
    with pytest.raises(services.CasePermissionError):
        services.case_reopen(
            case=case, actor_user=analyst, expected_version=case.version, reason="new facts"
        )
    with pytest.raises(services.CaseError, match="reason"):
        services.case_reopen(
            case=case, actor_user=approver, expected_version=case.version, reason=""
        )
    reopened = services.case_reopen(
        case=case, actor_user=approver, expected_version=case.version, reason="New adverse media."
    )
    assert reopened.state == CaseState.INVESTIGATING and reopened.disposition == ""
    assert _entries(case, "case.reopen").count() == 1


def test_claim_next_takes_highest_priority_then_oldest(analyst, analyst2):
    low = screening_case(priority=40)
    high = screening_case(priority=90)
    first = services.case_claim_next(actor_user=analyst)
    second = services.case_claim_next(actor_user=analyst2)
    assert (first.pk, first.assignee, first.state) == (high.pk, analyst, CaseState.ASSIGNED)
    assert second.pk == low.pk and second.assignee == analyst2
    assert services.case_claim_next(actor_user=analyst) is None
    assert _entries(high, "update").count() == 1  # the claim is on the audit trail


def test_claim_next_respects_the_queue(analyst):
    screening_case(priority=90)
    monitoring = monitoring_case(priority=10)
    assert services.case_claim_next(actor_user=analyst, source="monitoring").pk == monitoring.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_claim_next_never_gives_one_case_twice(analyst, analyst2):
    screening_case(priority=70)
    results, barrier = {}, threading.Barrier(2)

    def claim(user):
        try:
            barrier.wait()
            results[user.username] = services.case_claim_next(actor_user=user)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in (analyst, analyst2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [c for c in results.values() if c is not None]
    assert len(winners) == 1
    assert Case.objects.get().assignee.username in results
    assert Case.objects.get().version == 2


def test_assign_is_for_approvers_and_to_people_who_work_cases(analyst, analyst2, approver, auditor):
    case = screening_case()
    with pytest.raises(services.CasePermissionError):
        services.case_assign(case=case, actor_user=analyst, expected_version=1, assignee=analyst2)
    with pytest.raises(services.CaseError, match="cannot work cases"):
        services.case_assign(case=case, actor_user=approver, expected_version=1, assignee=auditor)
    case = services.case_assign(
        case=case, actor_user=approver, expected_version=1, assignee=analyst
    )
    assert case.state == CaseState.ASSIGNED
    case = services.case_assign(
        case=case, actor_user=approver, expected_version=case.version, assignee=analyst2
    )
    assert case.assignee == analyst2
    assert _entries(case, "case.assign").count() == 2


def test_auditor_cannot_do_anything(auditor):
    case = screening_case()
    with pytest.raises(services.CasePermissionError):
        services.case_claim(case=case, actor_user=auditor, expected_version=1)
    with pytest.raises(services.CasePermissionError):
        services.case_claim_next(actor_user=auditor)
    with pytest.raises(services.CasePermissionError):
        services.case_comment_add(case=case, actor_user=auditor, body="hi")


def test_bulk_close_is_all_or_nothing_and_four_eyes(analyst, approver, admin_user):
    a, b = screening_case(), screening_case()
    mine = _investigating(screening_case(), approver)
    versions = {a.pk: a.version, b.pk: b.version, mine.pk: mine.version}
    with pytest.raises(services.FourEyesViolation):
        services.case_bulk_close(
            versions=versions,
            actor_user=approver,
            disposition=Disposition.FALSE_POSITIVE,
            rationale="Bad list.",
        )
    assert not Case.objects.filter(state=CaseState.CLOSED).exists()
    with pytest.raises(services.CaseError, match="one case at a time"):
        services.case_bulk_close(
            versions={a.pk: 1},
            actor_user=approver,
            disposition=Disposition.TRUE_MATCH,
            rationale="x",
        )
    with pytest.raises(services.CasePermissionError):
        services.case_bulk_close(
            versions={a.pk: 1},
            actor_user=analyst,
            disposition=Disposition.FALSE_POSITIVE,
            rationale="x",
        )
    result = services.case_bulk_close(
        versions=versions,
        actor_user=admin_user,
        disposition=Disposition.FALSE_POSITIVE,
        rationale="List import error.",
    )
    assert len(result.closed) == 3
    assert Case.objects.filter(state=CaseState.CLOSED, decided_by=admin_user).count() == 3
    assert sealed_ledger().filter(action="case.bulk_close").count() == 1


@pytest.fixture
def whitelist_calls(monkeypatch):
    calls = []

    def whitelist_add(
        *, customer, list_code, entity_uid, content_hash, reason, reviewer, actor=None
    ):
        calls.append(
            {
                "customer_id": customer.external_id,
                "list_code": list_code,
                "entity_uid": entity_uid,
                "content_hash": content_hash,
                "reason": reason,
                "reviewer": reviewer,
                "actor": actor,
            }
        )

    try:
        import screening.services as real  # noqa: PLC0415
    except ImportError:
        fake = types.ModuleType("screening.services")
        fake.whitelist_add = whitelist_add
        monkeypatch.setitem(sys.modules, "screening.services", fake)
        import screening

        monkeypatch.setattr(screening, "services", fake, raising=False)
    else:
        monkeypatch.setattr(real, "whitelist_add", whitelist_add, raising=False)
    return calls


def test_false_positive_match_feeds_the_screening_whitelist(analyst, whitelist_calls):
    case = _investigating(screening_case(entity_uid="OFAC-777"), analyst)
    evidence = case.evidence.get()
    resolved = services.case_match_resolve(
        evidence=evidence,
        actor_user=analyst,
        expected_version=case.version,
        resolution="false_positive",
        note="DOB differs.",
    )
    assert resolved.resolution == "false_positive" and resolved.resolved_by == analyst
    assert whitelist_calls == [
        {
            "customer_id": case.customer.external_id,
            "list_code": "ofac-sdn",
            "entity_uid": "OFAC-777",
            "content_hash": "h-OFAC-777",
            "reason": "DOB differs.",
            "reviewer": analyst,
            "actor": whitelist_calls[0]["actor"],
        }
    ]
    assert whitelist_calls[0]["actor"].label == analyst.username
    entry = _entries(case, "case.match_resolve").get()
    assert b'"whitelisted":true' in bytes(entry.body)
    with pytest.raises(services.CaseStateError, match="already resolved"):
        case.refresh_from_db()
        services.case_match_resolve(
            evidence=evidence,
            actor_user=analyst,
            expected_version=case.version,
            resolution="false_positive",
            note="again",
        )


def test_false_positive_reaches_the_real_screening_whitelist(analyst):
    screening_services = pytest.importorskip("screening.services")
    if not hasattr(screening_services, "whitelist_add"):
        pytest.skip("screening.services.whitelist_add is not built yet")
    from screening.models import Whitelist

    case = _investigating(screening_case(entity_uid="OFAC-888"), analyst)
    services.case_match_resolve(
        evidence=case.evidence.get(),
        actor_user=analyst,
        expected_version=case.version,
        resolution="false_positive",
        note="Different nationality.",
    )
    row = Whitelist.objects.get(customer=case.customer)
    assert (row.list_code, row.entity_uid, row.content_hash, row.reviewer) == (
        "ofac-sdn",
        "OFAC-888",
        "h-OFAC-888",
        analyst,
    )


def test_whitelist_refusal_does_not_undo_the_decision(analyst, monkeypatch):
    screening_services = pytest.importorskip("screening.services")

    def refuse(**kwargs):
        raise ValueError("the entity's content hash is required")

    monkeypatch.setattr(screening_services, "whitelist_add", refuse, raising=False)
    case = _investigating(screening_case(), analyst)
    evidence = services.case_match_resolve(
        evidence=case.evidence.get(),
        actor_user=analyst,
        expected_version=case.version,
        resolution="false_positive",
        note="Not him.",
    )
    evidence.refresh_from_db()
    assert evidence.resolution == "false_positive"
    entry = _entries(case, "case.match_resolve").get()
    assert b"not whitelisted: the entity" in bytes(entry.body)


def test_true_match_resolution_does_not_whitelist(analyst, whitelist_calls):
    case = _investigating(screening_case(), analyst)
    services.case_match_resolve(
        evidence=case.evidence.get(),
        actor_user=analyst,
        expected_version=case.version,
        resolution="true_match",
        note="Same passport.",
    )
    assert whitelist_calls == []


def test_match_resolution_is_for_the_assignee(analyst, analyst2):
    case = _investigating(screening_case(), analyst)
    with pytest.raises(services.CasePermissionError, match="assignee"):
        services.case_match_resolve(
            evidence=case.evidence.get(),
            actor_user=analyst2,
            expected_version=case.version,
            resolution="false_positive",
            note="x",
        )


def test_attachment_is_stored_with_its_sha256(analyst, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = screening_case()
    content = b"%PDF-1.7\n passport scan"
    attachment = services.case_attachment_add(
        case=case, actor_user=analyst, filename="passport.pdf", content=content
    )
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.content_type == "application/pdf" and attachment.size == len(content)
    assert attachment.file.read() == content
    assert attachment.sha256 in attachment.file.name  # the user's name never hits the disk
    with pytest.raises(services.CaseError, match="already attached"):
        services.case_attachment_add(
            case=case, actor_user=analyst, filename="again.pdf", content=content
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "Unsupported file type"),
        (b"", "empty"),
        (b"\xff\xfe\x00h\x00i", "Unsupported file type"),
        (b"caf\xe9", "UTF-8"),
    ],
)
def test_attachment_type_is_checked_by_content(analyst, content, message, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(services.CaseError, match=message):
        services.case_attachment_add(
            case=screening_case(), actor_user=analyst, filename="notes.txt", content=content
        )


def test_attachment_size_is_limited(analyst, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(services, "ATTACHMENT_MAX_BYTES", 10)
    with pytest.raises(services.CaseError, match="larger than"):
        services.case_attachment_add(
            case=screening_case(), actor_user=analyst, filename="a.txt", content=b"x" * 11
        )


def _true_match_case(analyst, approver):
    case = _investigating(screening_case(), analyst)
    case = services.case_resolve(
        case=case,
        actor_user=analyst,
        expected_version=case.version,
        disposition=Disposition.TRUE_MATCH,
        rationale="Match.",
    )
    return services.case_approve(case=case, actor_user=approver, expected_version=case.version)


def test_sar_export_validates_then_audits(analyst, approver):
    case = _true_match_case(analyst, approver)
    services.case_sar_save(case=case, actor_user=analyst, amount=None)
    with pytest.raises(services.CaseError, match="amount is required"):
        services.case_sar_export(case=case, actor_user=analyst, fmt="json")
    assert not _entries(case, "case.sar_export").exists()
    draft = services.case_sar_save(
        case=case,
        actor_user=analyst,
        amount="48000.50",
        categories=["sanctions"],
        activity_start=timezone.now().date() - timedelta(days=10),
        activity_end=timezone.now().date(),
        narrative="Customer matched an SDN entry and "
        "received three wires from a listed shipping company.",
    )
    assert draft.subject_name == case.customer.name
    content, ctype, name = services.case_sar_export(case=case, actor_user=analyst, fmt="json")
    assert ctype == "application/json" and name == f"SAR-{case.reference}.json"
    assert b'"amount": "48000.50"' in content
    entry = _entries(case, "case.sar_export").get()
    assert hashlib.sha256(content).hexdigest().encode() in bytes(entry.body)
    csv_content, _ctype, _name = services.case_sar_export(case=case, actor_user=analyst, fmt="csv")
    assert csv_content.startswith(b"case_reference,")


def test_sar_is_only_for_true_matches(analyst):
    case = _investigating(screening_case(), analyst)
    with pytest.raises(services.CaseStateError, match="true-match"):
        services.case_sar_save(case=case, actor_user=analyst, narrative="x")


def test_demo_customers_load_once_and_cases_are_worked_into_every_state():
    from django.contrib.auth.models import User

    from audit.context import Actor
    from cases.demo import demo_cases_work
    from tests.cases.factories import monitoring_case

    for name in ("analyst", "analyst2", "approver", "admin"):
        User.objects.filter(username=name).delete()
    assert services.demo_customers_load() == 10
    assert services.demo_customers_load() == 0
    cases = [monitoring_case() for _ in range(14)]
    assert demo_cases_work(cases, actor=Actor.system("test")) == 14
    states = set(Case.objects.values_list("state", flat=True))
    assert states == {CaseState.NEW, CaseState.ASSIGNED, CaseState.INVESTIGATING,
                      CaseState.CLOSED, CaseState.ESCALATED, CaseState.PENDING_APPROVAL}
    assert Case.objects.filter(
        due_at__lt=timezone.now(), state__in=[CaseState.NEW, CaseState.ASSIGNED]
    ).exists()  # some are overdue
    assert Case.objects.get(pk=cases[2].pk).comments.exists()


def test_timeline_reads_the_ledger_for_the_case_and_its_parts(analyst):
    from cases.selectors import case_timeline

    case = _investigating(screening_case(), analyst)
    services.case_comment_add(case=case, actor_user=analyst, body="Called the branch.")
    timeline = case_timeline(case=case)
    assert [item["object"] for item in timeline[:2]] == ["Comment", "Case"]
    assert timeline[0]["actor"] == analyst.username
    claim = next(i for i in timeline if i["reason"] == "claim")
    changes = {c["field"]: (c["before"], c["after"]) for c in claim["changes"]}
    assert changes["state"] == ("new", "assigned")
    assert changes["assignee"] == ("—", analyst.username)
    opened = timeline[-1]
    assert opened["action"] == "create" and opened["object"] == "Case"
    due = {c["field"]: c["after"] for c in opened["changes"]}["due_at"]
    assert len(due) == 16 and due[10] == " "  # "YYYY-MM-DD HH:MM", not raw ISO
    assert {i["object"] for i in timeline} >= {"Case", "Evidence", "Comment"}


def test_timeline_shows_an_empty_value_as_a_dash(analyst, approver):
    """An assignment of a case nobody held read "from: ; to: analyst"."""
    from cases.selectors import case_timeline

    case = screening_case()
    services.case_assign(case=case, actor_user=approver, expected_version=case.version,
                         assignee=analyst)
    assign = next(i for i in case_timeline(case=case) if i["action"] == "case.assign")
    assert {c["field"]: c["after"] for c in assign["changes"]} == {
        "from": "—", "to": analyst.username}


@pytest.mark.postgres
def test_timeline_shows_a_pending_entry_at_once_then_its_chained_place(analyst, settings):
    """Background sealing: the analyst's own action is on the case page right after the
    redirect, marked as not yet chained, and appears once (with its seq) after sealing."""
    from audit.services import ledger_seal_pending
    from cases.selectors import case_timeline

    case = _investigating(screening_case(), analyst)
    settings.AUDIT_SEAL_MODE = "background"
    settings.AUDIT_SEALER = "process"  # nothing seals behind the test's back
    services.case_comment_add(case=case, actor_user=analyst, body="Pending comment.")
    first = case_timeline(case=case)[0]
    assert first["object"] == "Comment" and first["seq"] is None
    before = len(case_timeline(case=case))
    assert ledger_seal_pending() >= 1
    timeline = case_timeline(case=case)
    assert len(timeline) == before
    assert timeline[0]["object"] == "Comment" and timeline[0]["seq"] is not None
