"""Demo screening for `make run`: customers screened for real against the shipped lists.

Nothing here is made up: the customers below resemble parties on the shipped OFAC SDN and
UN lists (a bank, a shipping company, people, one name in Cyrillic), so screening them
logs real queries whose hits open cases through `screening.services`, with the logged
match as evidence. The demo team then works those cases through `cases.services` into the
states an analyst meets: new in the queue, assigned, under investigation, escalated, a
false positive closed (which whitelists the pair) and a true match awaiting four-eyes
approval.
"""

from __future__ import annotations

from django.db import transaction

from audit.context import Actor, audit_context
from cases import services as case_services
from cases.choices import CaseSource, Disposition, MatchResolution
from cases.demo import backdate, demo_user
from cases.models import Case, Customer

# external id, name, date of birth, country, entity type, what the team did with its hits
CUSTOMERS = [
    ("CUST-2001", "Banco Nacional de Cuba", "", "CU", "organisation", "approval"),
    ("CUST-2002", "Ali Habib Mahmoud", "1986-04-02", "GB", "person", "false_positive"),
    ("CUST-2003", "Кирилл Алексеевич Мордашов", "1999-09-12", "RU", "person", "investigating"),
    ("CUST-2004", "Sovcomflot JSC", "", "RU", "organisation", "new"),
    ("CUST-2005", "Oleg Deripaska", "1968-01-02", "CY", "person", "escalated"),
    ("CUST-2006", "Rosneft Trading SA", "", "CH", "organisation", "assigned"),
    ("CUST-2007", "Sultani Makenga", "1973-12-25", "CD", "person", "new"),
]
# days since each customer's hits arrived (spreads the inbox and the deadlines)
AGE_DAYS = {"CUST-2001": 12, "CUST-2002": 9, "CUST-2003": 4, "CUST-2004": 1,
            "CUST-2005": 20, "CUST-2006": 2, "CUST-2007": 33}


def demo_customers_create(*, actor: Actor) -> dict[str, str]:
    """The demo's screening customers (idempotent); returns each one's plan by id."""
    with audit_context(actor=actor, reason="demo data"):
        for ext, name, dob, country, kind, _plan in CUSTOMERS:
            case_services.customer_upsert(external_id=ext, name=name, dob=dob,
                                          country=country, entity_type=kind)
    return {c[0]: c[5] for c in CUSTOMERS}


def _work(case: Case, plan: str, *, analyst, approver) -> Case:
    """Take one screening case as far as `plan` says, as the demo team would."""
    if plan == "new":
        return case
    case = case_services.case_assign(case=case, actor_user=approver,
                                     expected_version=case.version, assignee=analyst)
    if plan == "assigned":
        return case
    case = case_services.case_start(case=case, actor_user=analyst,
                                    expected_version=case.version)
    evidence = case.evidence.order_by("pk").first()
    if plan == "investigating":
        case_services.case_comment_add(
            case=case, actor_user=analyst,
            body="Cyrillic name transliterates to the listed one and the month and year "
                 "of birth agree; asked the branch for the passport copy.")
        return case
    if plan == "false_positive":
        case_services.case_match_resolve(
            evidence=evidence, actor_user=analyst, expected_version=case.version,
            resolution=MatchResolution.FALSE_POSITIVE,
            note="Listed person was born in 1939 and is a Syrian general; the customer "
                 "was born in 1986 in London (passport seen).")
        case.refresh_from_db()
        return case_services.case_resolve(
            case=case, actor_user=analyst, expected_version=case.version,
            disposition=Disposition.FALSE_POSITIVE,
            rationale="Different person: date and place of birth differ.")
    if plan == "escalated":
        return case_services.case_escalate(
            case=case, actor_user=analyst, expected_version=case.version,
            reason="Name and full date of birth agree with the listed entry.")
    # "approval": a true match goes to a second person (four-eyes)
    case_services.case_match_resolve(
        evidence=evidence, actor_user=analyst, expected_version=case.version,
        resolution=MatchResolution.TRUE_MATCH,
        note="The customer is the listed bank itself (same name, Cuba).")
    case.refresh_from_db()
    return case_services.case_resolve(
        case=case, actor_user=analyst, expected_version=case.version,
        disposition=Disposition.TRUE_MATCH,
        rationale="Customer is the listed Banco Nacional de Cuba: block and report.")


@transaction.atomic
def demo_cases_work(plans: dict[str, str], *, actor: Actor) -> int:
    """Work the open screening cases of the demo customers by their plans; returns how
    many cases were worked."""
    customers = Customer.objects.filter(external_id__in=list(plans))
    cases = list(Case.objects.filter(source=CaseSource.SCREENING, customer__in=customers,
                                     closed_at__isnull=True)
                 .select_related("customer").order_by("pk"))
    team = {"analyst": demo_user("analyst"), "approver": demo_user("approver")}
    with audit_context(actor=actor, reason="demo data"):
        for case in cases:
            ext = case.customer.external_id
            backdate(case, days=AGE_DAYS.get(ext, 1))
            _work(case, plans[ext], **team)
    return len(cases)
