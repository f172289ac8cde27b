"""Every change to a case goes through a service here.

Workflow: new → assigned → investigating → (escalated) → pending approval → closed, and
reopen (approver, with a reason). Each transition is `case_<verb>(*, case, actor_user,
expected_version, ...)`: it locks the row, refuses a stale `expected_version` (optimistic
concurrency: a concurrent edit is reported, never overwritten), bumps the version, saves
with `update_fields` (history + ledger entry) and records decisions with `audit_record`,
all in one transaction.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import structlog
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.context import Actor, audit_context
from audit.services import audit_record
from cases import deadlines
from cases.choices import (
    OPEN_STATES,
    CaseSource,
    CaseState,
    DecisionKind,
    Disposition,
    EvidenceKind,
    MatchResolution,
)
from cases.models import (
    Case,
    CaseAttachment,
    CaseComment,
    CaseDecision,
    CaseEvidence,
    Customer,
    SarDraft,
)
from config.accounts.roles import APPROVE_ROLES, WORK_ROLES, can_write

logger = structlog.get_logger("vigil.cases")


class CaseError(Exception):
    """A refused case operation; `message` is shown to the user as is."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class CaseConflict(CaseError):
    """Someone else changed the case since the actor loaded it."""

    status = 409


class CaseStateError(CaseError):
    """The transition is not allowed from the case's current state (or the case is closed)."""

    status = 409


class CasePermissionError(CaseError):
    """The actor's role (or the four-eyes rule) does not allow this."""

    status = 403


class FourEyesViolation(CasePermissionError):
    """The approver is the investigator: a second person must decide."""


# --- helpers ---------------------------------------------------------------------------


def _require_role(user: User, roles: Iterable[str], what: str) -> None:
    if not can_write(user, frozenset(roles)):
        raise CasePermissionError(f"Your role does not allow you to {what}.")


def _locked(case: Case, expected_version: int | None, *, allow_closed: bool = False) -> Case:
    """Re-read the case under a row lock and check the caller saw its latest version."""
    fresh = Case.objects.select_for_update().get(pk=case.pk)
    if expected_version is not None and int(expected_version) != fresh.version:
        raise CaseConflict(
            f"Case {fresh.reference} was changed by someone else (version {fresh.version}, "
            f"you had {expected_version}). Reload it and try again."
        )
    if not allow_closed and fresh.state == CaseState.CLOSED:
        raise CaseStateError(f"Case {fresh.reference} is closed and read-only.")
    return fresh


def _require_state(case: Case, allowed: Iterable[str], verb: str) -> None:
    allowed = list(allowed)
    if case.state not in allowed:
        names = ", ".join(CaseState(s).label.lower() for s in allowed)
        raise CaseStateError(
            f"Cannot {verb} case {case.reference}: it is {case.get_state_display().lower()}"
            f" (must be {names})."
        )


def _require_text(value: str, field: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        raise CaseError(f"{label} is required.", field=field)
    return value


def _save(case: Case, fields: list[str]) -> Case:
    case.version += 1
    case.save(update_fields=[*fields, "version", "updated_at"])
    return case


def _decision(
    case: Case,
    *,
    kind: str,
    actor_user: User,
    disposition: str = "",
    rationale: str = "",
    data: dict | None = None,
) -> CaseDecision:
    decision = CaseDecision.objects.create(
        case=case, kind=kind, actor=actor_user, disposition=disposition, rationale=rationale
    )
    audit_record(
        action=f"case.{kind}",
        object_type="cases.case",
        object_id=str(case.pk),
        data={
            "reference": case.reference,
            "decision_id": decision.pk,
            "actor": actor_user.get_username(),
            "disposition": disposition,
            "rationale": rationale[:2000],
            "state": case.state,
            **(data or {}),
        },
    )
    return decision


def needs_four_eyes(*, case: Case, disposition: str) -> bool:
    """Closing an escalated case and any true-match (SAR) decision need a second person."""
    return (
        case.state == CaseState.ESCALATED
        or case.escalated_at is not None
        or (disposition == Disposition.TRUE_MATCH)
    )


def _search_text(case: Case, evidence: Iterable[CaseEvidence] = ()) -> str:
    parts = [case.reference, case.title, case.subject_id]
    if case.customer_id:
        customer = case.customer
        parts += [customer.name, customer.external_id]
    for item in evidence:
        summary = item.summary or {}
        for key in ("matched_name", "query_name", "entity_uid", "list", "rule_code"):
            if summary.get(key):
                parts.append(str(summary[key]))
    return " ".join(p for p in parts if p).lower()[:4000]


def _next_case_id() -> int:
    """A fresh case id, so the reference (C-000123) is fixed at insert time.

    PostgreSQL: drawn from the id sequence, safe under any number of concurrent openers.
    SQLite: the IMMEDIATE transaction already holds the database's single write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))",
                           [Case._meta.db_table])
            return int(cursor.fetchone()[0])
    last = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return last + 1


# --- opening ---------------------------------------------------------------------------


@transaction.atomic
def case_open(
    *,
    source: str,
    title: str,
    subject_type: str,
    subject_id: str,
    dedupe_key: str | None = None,
    customer: Customer | None = None,
    priority: int = 50,
    summary: str = "",
    evidence: dict | None = None,
    actor: Actor | None = None,
) -> Case:
    """Open a case, or add to the open case with the same `dedupe_key` (one case per
    customer and matter, not one per hit). Evidence is attached once per object. The SAR
    clock starts at detection (now)."""
    if source not in CaseSource.values:
        raise ValueError(f"unknown case source {source!r}")
    priority = max(0, min(100, int(priority)))
    with audit_context(actor=actor) if actor else nullcontext():
        case = None
        if dedupe_key:
            case = (
                Case.objects.select_for_update()
                .filter(dedupe_key=dedupe_key, state__in=OPEN_STATES)
                .first()
            )
        if case is None:
            now = timezone.now()
            try:
                with transaction.atomic():
                    case_id = _next_case_id()
                    case = Case(
                        pk=case_id,
                        reference=f"C-{case_id:06d}",
                        source=source,
                        title=title[:300],
                        summary=summary,
                        subject_type=subject_type,
                        subject_id=str(subject_id),
                        dedupe_key=dedupe_key or "",
                        customer=customer,
                        priority=priority,
                        opened_at=now,
                        detected_at=now,
                        due_at=deadlines.sar_due_at(detected_at=now, suspect_identified=True),
                    )
                    # Index the triggering evidence now: one history row for the opening.
                    pending = (
                        [CaseEvidence(summary=evidence.get("summary") or {})] if (evidence) else []
                    )
                    case.search_text = _search_text(case, pending)
                    case.save(force_insert=True)
            except IntegrityError:
                # A concurrent opener won the race for this dedupe key (or the reference).
                case = (
                    Case.objects.select_for_update()
                    .filter(dedupe_key=dedupe_key, state__in=OPEN_STATES)
                    .first()
                    if dedupe_key
                    else None
                )
                if case is None:
                    raise
        elif priority > case.priority:
            case.priority = priority
            case.version += 1
            case.save(update_fields=["priority", "version", "updated_at"])
        if evidence:
            if not CaseEvidence.objects.filter(
                case=case, kind=evidence["kind"], object_id=str(evidence["object_id"])
            ).exists():
                item = CaseEvidence.objects.create(
                    case=case,
                    kind=evidence["kind"],
                    object_id=str(evidence["object_id"]),
                    summary=evidence.get("summary") or {},
                )
                extra = _search_text(case, [item])[len(_search_text(case, [])) :].strip()
                if extra and extra not in case.search_text:
                    case.search_text = f"{case.search_text} {extra}"[:4000]
                    case.save(update_fields=["search_text"])
        return case


@transaction.atomic
def customer_upsert(
    *,
    external_id: str,
    name: str,
    dob: str = "",
    country: str = "",
    entity_type: str = "person",
    data: dict | None = None,
) -> Customer:
    """Create or update a customer by its external id. A new customer is linked to the
    cases already opened about that id (a monitoring alert can name a customer id the
    bank has not sent yet), so those cases show who they are about."""
    customer = Customer.objects.select_for_update().filter(external_id=external_id).first()
    if customer is None:
        customer = Customer.objects.create(
            external_id=external_id,
            name=name,
            dob=dob,
            country=country,
            entity_type=entity_type,
            data=data or {},
        )
        cases_link_customers(customer)
        return customer
    changed = []
    for field, value in (
        ("name", name),
        ("dob", dob),
        ("country", country),
        ("entity_type", entity_type),
    ):
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.append(field)
    if data is not None and customer.data != data:
        customer.data = data
        changed.append("data")
    if changed:
        customer.save(update_fields=changed)
    return customer


def cases_link_customers(*customers: Customer) -> None:
    """Name newly stored customers on the cases opened about their ids without one (each
    change versioned and on the audit trail, like any other)."""
    by_id = {c.external_id: c for c in customers}
    for case in Case.objects.select_for_update().filter(
        subject_type="customer", subject_id__in=list(by_id), customer__isnull=True
    ):
        case.customer = by_id[case.subject_id]
        case.search_text = _search_text(case, case.evidence.all())
        _save(case, ["customer", "search_text"])


# --- queue work ------------------------------------------------------------------------


@transaction.atomic
def case_claim(*, case: Case, actor_user: User, expected_version: int) -> Case:
    """An analyst takes an unassigned new case for themself."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    with audit_context(user=actor_user, reason="claim"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.NEW], "claim")
        if case.assignee_id is not None:
            raise CaseConflict(f"Case {case.reference} is already assigned.")
        case.assignee, case.state = actor_user, CaseState.ASSIGNED
        return _save(case, ["assignee", "state"])


def case_claim_next(
    *, actor_user: User, source: str | None = None, attempts: int = 5
) -> Case | None:
    """Give the analyst the highest-priority, oldest unassigned new case (optionally from one
    queue). Compare-and-set: the UPDATE only matches a row still new and unassigned, so two
    analysts claiming at once never get the same case; the loser tries the next one."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    for _ in range(attempts):
        candidates = Case.objects.filter(state=CaseState.NEW, assignee__isnull=True)
        if source:
            candidates = candidates.filter(source=source)
        pk = candidates.order_by("-priority", "opened_at").values_list("pk", flat=True).first()
        if pk is None:
            return None
        with transaction.atomic(), audit_context(user=actor_user, reason="claim-next"):
            won = Case._base_manager.filter(
                pk=pk, state=CaseState.NEW, assignee__isnull=True
            ).update(state=CaseState.ASSIGNED, assignee=actor_user, updated_at=timezone.now())
            if won == 1:
                case = Case.objects.select_for_update().get(pk=pk)
                case.version += 1
                # The save records the history row and ledger entry for the claim.
                case.save(update_fields=["version"])
                return case
    return None


@transaction.atomic
def case_assign(*, case: Case, actor_user: User, expected_version: int, assignee: User) -> Case:
    """An approver assigns (or reassigns) an open case to a person who can work cases."""
    _require_role(actor_user, APPROVE_ROLES, "assign cases")
    if not can_write(assignee, WORK_ROLES):
        raise CaseError(f"{assignee.get_username()} cannot work cases.", field="assignee")
    with audit_context(user=actor_user, reason=f"assign to {assignee.get_username()}"):
        case = _locked(case, expected_version)
        if case.state == CaseState.PENDING_APPROVAL:
            raise CaseStateError(f"Case {case.reference} is awaiting approval.")
        previous = case.assignee.get_username() if case.assignee_id else ""
        case.assignee = assignee
        fields = ["assignee"]
        if case.state == CaseState.NEW:
            case.state = CaseState.ASSIGNED
            fields.append("state")
        _save(case, fields)
        audit_record(
            action="case.assign",
            object_type="cases.case",
            object_id=str(case.pk),
            data={"reference": case.reference, "from": previous, "to": assignee.get_username()},
        )
        return case


def _require_assignee(case: Case, actor_user: User, verb: str) -> None:
    if case.assignee_id != actor_user.pk:
        raise CasePermissionError(
            f"Only the assignee of case {case.reference} can {verb} it; claim it first."
        )


@transaction.atomic
def case_start(*, case: Case, actor_user: User, expected_version: int) -> Case:
    """The assignee starts investigating."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    with audit_context(user=actor_user, reason="start investigation"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.ASSIGNED], "start")
        _require_assignee(case, actor_user, "start")
        case.state, case.investigator = CaseState.INVESTIGATING, actor_user
        return _save(case, ["state", "investigator"])


@transaction.atomic
def case_escalate(*, case: Case, actor_user: User, expected_version: int, reason: str) -> Case:
    """The assignee escalates a case that looks suspicious; closing it will need four eyes."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    reason = _require_text(reason, "reason", "A reason for escalating")
    with audit_context(user=actor_user, reason="escalate"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.ASSIGNED, CaseState.INVESTIGATING], "escalate")
        _require_assignee(case, actor_user, "escalate")
        case.state, case.escalated_at = CaseState.ESCALATED, timezone.now()
        case.investigator = actor_user
        _save(case, ["state", "escalated_at", "investigator"])
        _decision(case, kind=DecisionKind.ESCALATE, actor_user=actor_user, rationale=reason)
        return case


def _validate_disposition(disposition: str, rationale: str) -> str:
    if disposition not in Disposition.values:
        raise CaseError("Choose a disposition.", field="disposition")
    return _require_text(rationale, "rationale", "A rationale for the disposition")


@transaction.atomic
def case_resolve(
    *,
    case: Case,
    actor_user: User,
    expected_version: int,
    disposition: str,
    rationale: str,
    suspect_identified: bool | None = None,
) -> Case:
    """The investigator decides. A plain false positive / no further action closes the case;
    an escalated case or a true-match (SAR) decision goes to an approver instead."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    rationale = _validate_disposition(disposition, rationale)
    with audit_context(user=actor_user, reason=f"resolve: {disposition}"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.INVESTIGATING, CaseState.ESCALATED], "resolve")
        _require_assignee(case, actor_user, "resolve")
        case.disposition, case.rationale, case.investigator = disposition, rationale, actor_user
        fields = ["disposition", "rationale", "investigator"]
        if suspect_identified is not None and suspect_identified != case.suspect_identified:
            case.suspect_identified = suspect_identified
            case.due_at = deadlines.sar_due_at(
                detected_at=case.detected_at, suspect_identified=suspect_identified
            )
            fields += ["suspect_identified", "due_at"]
        if needs_four_eyes(case=case, disposition=disposition):
            case.state = CaseState.PENDING_APPROVAL
            _save(case, [*fields, "state"])
            _decision(
                case,
                kind=DecisionKind.SUBMIT,
                actor_user=actor_user,
                disposition=disposition,
                rationale=rationale,
            )
            return case
        _close(case, actor_user=actor_user, fields=fields)
        _decision(
            case,
            kind=DecisionKind.CLOSE,
            actor_user=actor_user,
            disposition=disposition,
            rationale=rationale,
        )
        return case


def _close(case: Case, *, actor_user: User, fields: list[str]) -> Case:
    now = timezone.now()
    case.state, case.closed_at, case.decided_by = CaseState.CLOSED, now, actor_user
    fields = [*fields, "state", "closed_at", "decided_by"]
    if case.disposition == Disposition.TRUE_MATCH:
        # A filed SAR starts the continuing-activity review clock.
        case.review_due_at = deadlines.continuing_review_due_at(filed_at=now)
        fields.append("review_due_at")
    return _save(case, fields)


def _require_second_person(case: Case, actor_user: User) -> None:
    if actor_user.pk in {case.investigator_id, case.assignee_id}:
        raise FourEyesViolation(
            f"Four-eyes rule: {actor_user.get_username()} investigated case {case.reference} "
            "and cannot also approve it. Another approver must sign off."
        )


@transaction.atomic
def case_approve(
    *, case: Case, actor_user: User, expected_version: int, rationale: str = ""
) -> Case:
    """An approver who did not investigate the case signs off the proposed disposition."""
    _require_role(actor_user, APPROVE_ROLES, "approve cases")
    with audit_context(user=actor_user, reason="approve"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.PENDING_APPROVAL], "approve")
        _require_second_person(case, actor_user)
        _close(case, actor_user=actor_user, fields=[])
        _decision(
            case,
            kind=DecisionKind.APPROVE,
            actor_user=actor_user,
            disposition=case.disposition,
            rationale=(rationale or "").strip(),
            data={"investigator": case.investigator.get_username() if case.investigator_id else ""},
        )
        return case


@transaction.atomic
def case_reject(*, case: Case, actor_user: User, expected_version: int, reason: str) -> Case:
    """An approver sends a proposed disposition back to the investigator."""
    _require_role(actor_user, APPROVE_ROLES, "approve cases")
    reason = _require_text(reason, "reason", "A reason for sending the case back")
    with audit_context(user=actor_user, reason="send back"):
        case = _locked(case, expected_version)
        _require_state(case, [CaseState.PENDING_APPROVAL], "send back")
        _require_second_person(case, actor_user)
        case.state = CaseState.ESCALATED if case.escalated_at else CaseState.INVESTIGATING
        case.disposition = ""
        _save(case, ["state", "disposition"])
        _decision(case, kind=DecisionKind.REJECT, actor_user=actor_user, rationale=reason)
        return case


@transaction.atomic
def case_reopen(*, case: Case, actor_user: User, expected_version: int, reason: str) -> Case:
    """An approver reopens a closed case, with a reason; it goes back to investigation."""
    _require_role(actor_user, APPROVE_ROLES, "reopen cases")
    reason = _require_text(reason, "reason", "A reason for reopening")
    with audit_context(user=actor_user, reason="reopen"):
        case = _locked(case, expected_version, allow_closed=True)
        _require_state(case, [CaseState.CLOSED], "reopen")
        if (
            case.dedupe_key
            and Case.objects.filter(dedupe_key=case.dedupe_key, state__in=OPEN_STATES)
            .exclude(pk=case.pk)
            .exists()
        ):
            raise CaseStateError(
                f"Another open case already covers {case.reference}'s matter; work that one."
            )
        case.state = CaseState.INVESTIGATING if case.assignee_id else CaseState.NEW
        case.closed_at, case.decided_by, case.disposition = None, None, ""
        _save(case, ["state", "closed_at", "decided_by", "disposition"])
        _decision(case, kind=DecisionKind.REOPEN, actor_user=actor_user, rationale=reason)
        return case


@dataclass(frozen=True)
class BulkResult:
    closed: list[Case]


@transaction.atomic
def case_bulk_close(
    *, versions: dict[int, int], actor_user: User, disposition: str, rationale: str
) -> BulkResult:
    """An approver closes many cases at once (e.g. a bad list import's false positives).
    All or nothing: a stale version, a closed case or a case the approver investigated
    refuses the whole batch. True-match decisions are never made in bulk."""
    _require_role(actor_user, APPROVE_ROLES, "close cases in bulk")
    rationale = _validate_disposition(disposition, rationale)
    if disposition == Disposition.TRUE_MATCH:
        raise CaseError(
            "True-match (SAR) decisions are made one case at a time.", field="disposition"
        )
    if not versions:
        raise CaseError("Select at least one case.", field="cases")
    closed = []
    with audit_context(user=actor_user, reason=f"bulk close: {disposition}"):
        for pk in sorted(versions):  # a fixed lock order avoids deadlocks between batches
            case = _locked(Case(pk=pk), versions[pk])
            _require_second_person(case, actor_user)
            case.disposition, case.rationale = disposition, rationale
            _close(case, actor_user=actor_user, fields=["disposition", "rationale"])
            CaseDecision.objects.create(
                case=case,
                kind=DecisionKind.BULK_CLOSE,
                actor=actor_user,
                disposition=disposition,
                rationale=rationale,
            )
            closed.append(case)
        audit_record(
            action="case.bulk_close",
            object_type="cases.case",
            object_id="bulk",
            data={
                "cases": [c.reference for c in closed],
                "disposition": disposition,
                "rationale": rationale[:2000],
                "actor": actor_user.get_username(),
            },
        )
    return BulkResult(closed=closed)


@transaction.atomic
def case_bulk_assign(*, versions: dict[int, int], actor_user: User, assignee: User) -> list[Case]:
    """An approver hands many cases to one person (all or nothing)."""
    if not versions:
        raise CaseError("Select at least one case.", field="cases")
    return [
        case_assign(case=Case(pk=pk), actor_user=actor_user, expected_version=v, assignee=assignee)
        for pk, v in sorted(versions.items())
    ]


# --- evidence, comments, attachments ---------------------------------------------------


def _whitelist_hook():
    try:
        from screening import services as screening_services
    except ImportError:
        return None
    return getattr(screening_services, "whitelist_add", None)


def _call_whitelist(
    hook, *, case: Case, evidence: CaseEvidence, actor_user: User, note: str
) -> bool | str:
    """Feed the screening whitelist (this entity is not this customer). The screening app
    owns the function; pass only the keyword arguments its signature accepts."""
    summary = evidence.summary or {}
    offered = {
        "customer": case.customer,
        "customer_id": case.customer.external_id if case.customer_id else case.subject_id,
        "list_code": summary.get("list", ""),
        "list": summary.get("list", ""),
        "entity_uid": summary.get("entity_uid", ""),
        "reason": note,
        "note": note,
        "actor": Actor.user(actor_user),
        "actor_user": actor_user,
        "reviewer": actor_user,
        "content_hash": summary.get("content_hash", ""),
        "match_id": evidence.object_id,
        "case": case,
    }
    params = inspect.signature(hook).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        offered = {k: v for k, v in offered.items() if k in params}
    try:
        # A savepoint: a refusal by the screening app must not undo the case decision.
        with transaction.atomic():
            hook(**offered)
    except Exception as exc:  # the other app's errors vary; the decision records them
        logger.warning("case.whitelist_failed", case=case.reference, error=str(exc)[:300])
        return f"not whitelisted: {exc}"[:300]
    return True


@transaction.atomic
def case_match_resolve(
    *, evidence: CaseEvidence, actor_user: User, expected_version: int, resolution: str, note: str
) -> CaseEvidence:
    """Resolve one screening match on a case: a false positive for this customer feeds the
    screening whitelist so the same pair does not alert again."""
    _require_role(actor_user, WORK_ROLES, "work cases")
    note = _require_text(note, "note", "A note explaining the resolution")
    if resolution not in (MatchResolution.FALSE_POSITIVE, MatchResolution.TRUE_MATCH):
        raise CaseError("Choose false positive or true match.", field="resolution")
    with audit_context(user=actor_user, reason=f"match {resolution}"):
        case = _locked(evidence.case, expected_version)
        _require_assignee(case, actor_user, "resolve matches on")
        evidence = CaseEvidence.objects.select_for_update().get(pk=evidence.pk, case=case)
        if evidence.kind != EvidenceKind.SCREENING_MATCH:
            raise CaseError("Only screening matches are resolved one by one.")
        if evidence.resolution:
            raise CaseStateError("This match is already resolved.")
        evidence.resolution, evidence.resolution_note = resolution, note
        evidence.resolved_by, evidence.resolved_at = actor_user, timezone.now()
        evidence.save(update_fields=["resolution", "resolution_note", "resolved_by", "resolved_at"])
        _save(case, [])
        whitelisted: bool | str = False
        hook = _whitelist_hook()
        if resolution == MatchResolution.FALSE_POSITIVE and hook is not None:
            whitelisted = _call_whitelist(
                hook, case=case, evidence=evidence, actor_user=actor_user, note=note
            )
        _decision(
            case,
            kind=DecisionKind.MATCH_RESOLVE,
            actor_user=actor_user,
            rationale=note,
            data={
                "evidence_id": evidence.pk,
                "resolution": resolution,
                "entity_uid": evidence.summary.get("entity_uid", ""),
                "whitelisted": whitelisted,
            },
        )
        return evidence


@transaction.atomic
def case_comment_add(*, case: Case, actor_user: User, body: str) -> CaseComment:
    """Add a comment to an open case (comments do not bump the version: they never
    conflict with a transition)."""
    _require_role(actor_user, WORK_ROLES, "comment on cases")
    body = _require_text(body, "body", "A comment")
    if len(body) > 10_000:
        raise CaseError("A comment is limited to 10,000 characters.", field="body")
    with audit_context(user=actor_user, reason="comment"):
        case = _locked(case, None)
        return CaseComment.objects.create(case=case, author=actor_user, body=body)


ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
# Accepted types, recognised by their first bytes (never by the name or declared type).
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/plain": (),
    "text/csv": (),
}


def attachment_sniff(content: bytes, filename: str) -> str:
    """The accepted content type of an upload, or CaseError naming the problem."""
    for content_type, magics in ATTACHMENT_TYPES.items():
        if magics and any(content.startswith(m) for m in magics):
            return content_type
    if b"\x00" in content[:8192]:
        raise CaseError(
            "Unsupported file type: only PDF, PNG, JPEG, plain text and CSV files can be attached.",
            field="file",
        )
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseError("Text attachments must be UTF-8.", field="file") from None
    return "text/csv" if filename.lower().endswith(".csv") else "text/plain"


@transaction.atomic
def case_attachment_add(
    *, case: Case, actor_user: User, filename: str, content: bytes
) -> CaseAttachment:
    """Attach a document to an open case, stored under its SHA-256 (size-limited,
    type-checked by content)."""
    _require_role(actor_user, WORK_ROLES, "attach documents")
    if not content:
        raise CaseError("The file is empty.", field="file")
    if len(content) > ATTACHMENT_MAX_BYTES:
        raise CaseError(
            f"The file is larger than {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.", field="file"
        )
    safe_name = "".join(ch for ch in filename if ch.isprintable())[-200:] or "attachment"
    content_type = attachment_sniff(content, safe_name)
    digest = hashlib.sha256(content).hexdigest()
    with audit_context(user=actor_user, reason="attach"):
        case = _locked(case, None)
        if CaseAttachment.objects.filter(case=case, sha256=digest).exists():
            raise CaseError("This file is already attached to the case.", field="file")
        attachment = CaseAttachment(
            case=case,
            uploaded_by=actor_user,
            filename=safe_name,
            content_type=content_type,
            size=len(content),
            sha256=digest,
        )
        attachment.file.save(digest, ContentFile(content), save=False)
        attachment.save()
        return attachment


# --- SAR -------------------------------------------------------------------------------

SAR_FIELDS = (
    "subject_name",
    "subject_id",
    "subject_dob",
    "subject_country",
    "amount",
    "currency",
    "activity_start",
    "activity_end",
    "categories",
    "narrative",
)


@transaction.atomic
def case_sar_save(*, case: Case, actor_user: User, **values) -> SarDraft:
    """Create or update the SAR draft of a true-match case."""
    _require_role(actor_user, WORK_ROLES, "prepare SARs")
    unknown = set(values) - set(SAR_FIELDS)
    if unknown:
        raise CaseError(f"Unknown SAR fields: {', '.join(sorted(unknown))}.")
    with audit_context(user=actor_user, reason="SAR draft"):
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.disposition != Disposition.TRUE_MATCH:
            raise CaseStateError("A SAR is prepared only for a true-match decision.")
        draft = SarDraft.objects.filter(case=case).first()
        if draft is None:
            defaults = {
                "subject_name": case.customer.name if case.customer_id else case.title,
                "subject_id": case.customer.external_id if case.customer_id else "",
                "subject_dob": case.customer.dob if case.customer_id else "",
                "subject_country": case.customer.country if case.customer_id else "",
            }
            draft = SarDraft.objects.create(case=case, **{**defaults, **values})
            return draft
        changed = [k for k, v in values.items() if getattr(draft, k) != v]
        for key in changed:
            setattr(draft, key, values[key])
        if changed:
            draft.save(update_fields=[*changed, "updated_at"])
        return draft


@transaction.atomic
def case_sar_export(*, case: Case, actor_user: User, fmt: str) -> tuple[bytes, str, str]:
    """Validate and export the SAR draft as JSON or CSV; the export (with the SHA-256 of
    what left the system) goes on the audit trail. Returns (content, content type, name)."""
    from cases import sar

    _require_role(actor_user, WORK_ROLES, "export SARs")
    if fmt not in ("json", "csv"):
        raise CaseError("Export format must be json or csv.", field="format")
    with audit_context(user=actor_user, reason="SAR export"):
        draft = SarDraft.objects.select_for_update().filter(case_id=case.pk).first()
        if draft is None:
            raise CaseError("Prepare the SAR draft first.")
        document = sar.sar_document(draft)
        errors = sar.sar_validate(document)
        if errors:
            raise CaseError("The SAR draft is incomplete: " + "; ".join(errors))
        content = sar.sar_json(document) if fmt == "json" else sar.sar_csv(document)
        draft.exported_at = timezone.now()
        draft.save(update_fields=["exported_at"])
        audit_record(
            action="case.sar_export",
            object_type="cases.case",
            object_id=str(case.pk),
            data={
                "reference": draft.case.reference,
                "format": fmt,
                "sha256": hashlib.sha256(content).hexdigest(),
                "bytes": len(content),
                "actor": actor_user.get_username(),
            },
        )
        ctype = "application/json" if fmt == "json" else "text/csv"
        return content, ctype, f"SAR-{draft.case.reference}.{fmt}"


def demo_customers_load(*, actor: Actor | None = None) -> int:
    """Load the demo customers for `make run` (idempotent). The demo's cases are opened
    by the screening, monitoring and enrichment loaders, from real hits, alerts and runs."""
    from cases.demo import demo_customers_load as load

    return load(actor=actor)
