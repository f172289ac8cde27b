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
from cases.choices import Disposition
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
    approval: str = "Agree: file a SAR."


@transaction.atomic
def demo_customers_load(*, actor: Actor | None = None) -> int:
    """Create the demo customers (idempotent); returns how many were created."""
    created = 0
    with audit_context(actor=actor or Actor.system("demo_customers_load"), reason="demo data"):
        for ext, name, dob, country, kind in CUSTOMERS:
            if not Customer.objects.filter(external_id=ext).exists():
                services.customer_upsert(
                    external_id=ext, name=name, dob=dob, country=country, entity_type=kind
                )
                created += 1
    return created


def demo_cases_work(cases: list[Case], *, actor: Actor, notes: WorkNotes = WorkNotes(),
                    steps: list[int] | None = None) -> int:
    """Work open cases through the real services so the demo shows every state, each
    backdated by `AGES` (the queue gets ages, and some cases pass their SAR deadline).

    Step per case (by default its position, modulo 6): 0 stays new in the queue; 1
    assigned; 2 under investigation with a comment; 3 closed, no further action; 4
    escalated; 5 resolved as a true match, awaiting four-eyes approval (every other one
    approved). Returns how many cases were worked."""
    analyst, analyst2 = demo_user("analyst"), demo_user("analyst2")
    approver, admin = demo_user("approver"), demo_user("admin")
    with audit_context(actor=actor, reason="demo data"):
        for index, case in enumerate(cases):
            step = steps[index] if steps is not None else index % 6
            backdate(case, days=AGES[index % len(AGES)])
            _work(case, step, index, notes, analyst if index % 2 == 0 else analyst2,
                  approver, admin)
    return len(cases)


def _work(case: Case, step: int, index: int, notes: WorkNotes, worker: User, approver: User,
          admin: User) -> None:
    if step == 0:
        return  # stays new in the queue
    case = services.case_assign(
        case=case, actor_user=approver, expected_version=case.version, assignee=worker
    )
    if step == 1:
        return
    case = services.case_start(case=case, actor_user=worker, expected_version=case.version)
    if step == 2:
        services.case_comment_add(case=case, actor_user=worker, body=notes.comment)
        return
    if step == 3:
        services.case_resolve(case=case, actor_user=worker, expected_version=case.version,
                              disposition=Disposition.NO_FURTHER_ACTION,
                              rationale=notes.no_action)
        return
    case = services.case_escalate(case=case, actor_user=worker, expected_version=case.version,
                                  reason=notes.escalation)
    if step == 4:
        return
    case = services.case_resolve(case=case, actor_user=worker, expected_version=case.version,
                                 disposition=Disposition.TRUE_MATCH,
                                 rationale=notes.true_match)
    if index % 4 == 1:
        services.case_approve(case=case, actor_user=admin, expected_version=case.version,
                              rationale=notes.approval)
