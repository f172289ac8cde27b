"""Demo data for `make run`: the bank's demo customers, and the pattern by which the
demo works the cases the other loaders open for real (monitoring alerts of the demo feed,
a failed enrichment), so the queue shows every state with a genuine timeline, decisions
and audit trail. No case here is made up: each one comes from a real alert, hit or run.
Screening cases: `screening.demo` screens customers against the shipped real lists and
works the cases its hits open, by plans of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, audit_context
from cases import deadlines, services
from cases.choices import Disposition, EvidenceKind, MatchResolution
from cases.models import Case, CaseEvidence, Customer

CUSTOMERS = [
    ("CUST-1001", "Ivan Petrov", "1971-03-14", "RU", "person"),
    ("CUST-1002", "Maria Gonzalez Ruiz", "1985-07-02", "ES", "person"),
    ("CUST-1003", "Ali Hassan Mahmoud", "1969-11-23", "EG", "person"),
    ("CUST-1004", "Northwind Trading LLC", "", "AE", "organisation"),
    ("CUST-1005", "Chen Wei", "1990-01-30", "CN", "person"),
    ("CUST-1006", "Olena Kovalenko", "1979-05-18", "UA", "person"),
    ("CUST-1007", "Blue Harbor Shipping Ltd", "", "PA", "organisation"),
    ("CUST-1008", "John Michael Smith", "1964-09-09", "US", "person"),
    ("CUST-1009", "Fatima Al-Sayed", "1988-12-01", "SA", "person"),
    ("CUST-1010", "Kim Jong Su", "1975-04-15", "KR", "person"),
]
def demo_user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        from config.accounts.services import demo_users_create

        demo_users_create()
        user = User.objects.get(username=username)
    return user


def backdate(case: Case, days: int) -> None:
    opened = timezone.now() - timedelta(days=days)
    due = deadlines.sar_due_at(detected_at=opened, suspect_identified=case.suspect_identified)
    Case.objects.filter(pk=case.pk).update(opened_at=opened, detected_at=opened, due_at=due)
    # The triggering alert or hit arrived when the case opened (spreads the dashboard).
    CaseEvidence.objects.filter(case=case).update(added_at=opened)
    case.refresh_from_db()


#: Ages (days since opening) the worked cases get, in order: some past their SAR deadline.
AGES = (1, 2, 3, 5, 6, 8, 9, 11, 12, 13, 20, 35, 45, 70)


@dataclass(frozen=True)
class WorkNotes:
    """What the demo's analysts write on the cases they work."""

    comment: str = "Requested source-of-funds documents."
    no_action: str = "Activity matches the customer's payroll."
    escalation: str = "Pattern consistent with layering."
    true_match: str = "Funds moved through three shell companies within 48 hours."
    false_positive: str = "Different person: date and place of birth differ."
    match: str = ""  # on each screening match the case holds, when resolving it
    approval: str = "Agree: file a SAR."


#: How far the demo takes a case: each plan goes one step further than the one before it
#: ("false_positive" and "no_action" close from investigation; "approved" is a true match
#: a second person signed off).
PLANS = ("new", "assigned", "investigating", "no_action", "false_positive", "escalated",
         "true_match", "approved")
#: The plans `demo_cases_work` gives cases by default, in turn.
CYCLE = ("new", "assigned", "investigating", "no_action", "escalated", "approved",
         "new", "assigned", "investigating", "no_action", "escalated", "true_match")
_DISPOSITIONS = {"no_action": Disposition.NO_FURTHER_ACTION,
                 "false_positive": Disposition.FALSE_POSITIVE,
                 "true_match": Disposition.TRUE_MATCH, "approved": Disposition.TRUE_MATCH}


@transaction.atomic
def demo_customers_load(*, actor: Actor | None = None) -> int:
    """Create the demo customers (idempotent); returns how many were created."""
    from cases.customers import customer_rows_clean, customers_upsert_many

    stored = set(Customer.objects.filter(external_id__in=[c[0] for c in CUSTOMERS])
                 .values_list("external_id", flat=True))
    rows = [dict(zip(("external_id", "name", "dob", "country", "entity_type"), c, strict=True))
            for c in CUSTOMERS if c[0] not in stored]
    if not rows:
        return 0
    with audit_context(actor=actor or Actor.system("demo_customers_load"), reason="demo data"):
        return customers_upsert_many(customer_rows_clean(rows), source="demo").created


@transaction.atomic
def demo_cases_work(cases: list[Case], *, actor: Actor, plans: list[str] | None = None,
                    ages: list[int] | None = None,
                    notes: list[WorkNotes] | None = None) -> int:
    """Work open cases through the real services into the states an analyst meets, one
    plan per case (`PLANS`; by default `CYCLE` in turn), each backdated by its age in days
    (by default `AGES` in turn: the queue gets ages, and some cases pass their SAR
    deadline), with its notes (by default `WorkNotes()`). Two analysts share the cases.
    Returns how many cases were worked."""
    team = {"approver": demo_user("approver"), "admin": demo_user("admin")}
    workers = (demo_user("analyst"), demo_user("analyst2"))
    with audit_context(actor=actor, reason="demo data"):
        for index, case in enumerate(cases):
            backdate(case, days=ages[index] if ages else AGES[index % len(AGES)])
            _work(case, plans[index] if plans else CYCLE[index % len(CYCLE)],
                  notes[index] if notes else WorkNotes(), worker=workers[index % 2], **team)
    return len(cases)


def _work(case: Case, plan: str, notes: WorkNotes, *, worker: User, approver: User,
          admin: User) -> None:
    """Take one case as far as `plan` says, as the demo team would."""
    if plan not in PLANS:
        raise ValueError(f"unknown demo plan {plan!r}")
    if plan == "new":
        return
    case = services.case_assign(case=case, actor_user=approver, expected_version=case.version,
                                assignee=worker)
    if plan == "assigned":
        return
    case = services.case_start(case=case, actor_user=worker, expected_version=case.version)
    if plan == "investigating":
        services.case_comment_add(case=case, actor_user=worker, body=notes.comment)
        return
    if plan in ("escalated", "true_match", "approved"):
        case = services.case_escalate(case=case, actor_user=worker,
                                      expected_version=case.version, reason=notes.escalation)
        if plan == "escalated":
            return
    disposition = _DISPOSITIONS[plan]
    rationale = {Disposition.NO_FURTHER_ACTION: notes.no_action,
                 Disposition.FALSE_POSITIVE: notes.false_positive,
                 Disposition.TRUE_MATCH: notes.true_match}[disposition]
    if plan != "no_action":  # a screening case's matches are decided before the case
        resolution = (MatchResolution.TRUE_MATCH if disposition == Disposition.TRUE_MATCH
                      else MatchResolution.FALSE_POSITIVE)
        for evidence in case.evidence.filter(kind=EvidenceKind.SCREENING_MATCH,
                                             resolution=MatchResolution.UNRESOLVED):
            services.case_match_resolve(evidence=evidence, actor_user=worker,
                                        expected_version=case.version, resolution=resolution,
                                        note=notes.match or rationale)
            case.refresh_from_db()
    case = services.case_resolve(case=case, actor_user=worker, expected_version=case.version,
                                 disposition=disposition, rationale=rationale)
    if plan == "approved":
        services.case_approve(case=case, actor_user=admin, expected_version=case.version,
                              rationale=notes.approval)
