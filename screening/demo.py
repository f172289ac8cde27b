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

from audit.context import Actor, audit_context
from cases.choices import CaseSource
from cases.customers import customer_rows_clean, customers_upsert_many
from cases.demo import WorkNotes
from cases.demo import demo_cases_work as cases_work
from cases.models import Case

# external id, name, date of birth, country, entity type, how far the team took its hits
# (a plan of `cases.demo.PLANS`)
CUSTOMERS = [
    ("CUST-2001", "Banco Nacional de Cuba", "", "CU", "organisation", "true_match"),
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
# what the team wrote on each customer's case
NOTES = {
    "CUST-2001": WorkNotes(
        escalation="The customer is the listed bank itself: for the MLRO.",
        match="The customer is the listed bank itself (same name, Cuba).",
        true_match="Customer is the listed Banco Nacional de Cuba: block and report."),
    "CUST-2002": WorkNotes(
        match="Listed person was born in 1939 and is a Syrian general; the customer was "
              "born in 1986 in London (passport seen).",
        false_positive="Different person: date and place of birth differ."),
    "CUST-2003": WorkNotes(
        comment="Cyrillic name transliterates to the listed one and the month and year of "
                "birth agree; asked the branch for the passport copy."),
    "CUST-2005": WorkNotes(escalation="Name and full date of birth agree with the listed entry."),
}


def demo_customers_create(*, actor: Actor) -> dict[str, str]:
    """The demo's screening customers (idempotent); returns each one's plan by id."""
    rows = [dict(zip(("external_id", "name", "dob", "country", "entity_type"), c[:5],
                     strict=True)) for c in CUSTOMERS]
    with audit_context(actor=actor, reason="demo data"):
        customers_upsert_many(customer_rows_clean(rows), source="demo")
    return {c[0]: c[5] for c in CUSTOMERS}


def demo_cases_work(plans: dict[str, str], *, actor: Actor) -> int:
    """Work the open screening cases of the demo customers by their plans
    (`cases.demo.demo_cases_work`); returns how many cases were worked."""
    cases = list(Case.objects.filter(source=CaseSource.SCREENING,
                                     customer__external_id__in=list(plans),
                                     closed_at__isnull=True)
                 .select_related("customer").order_by("pk"))
    ids = [case.customer.external_id for case in cases]
    return cases_work(cases, actor=actor, plans=[plans[i] for i in ids],
                      ages=[AGE_DAYS.get(i, 1) for i in ids],
                      notes=[NOTES.get(i, WorkNotes()) for i in ids])
