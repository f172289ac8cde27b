"""Demo data for `make run`: customers and a realistic mix of open and closed monitoring
and enrichment cases, worked through the real services so the timeline, decisions and
audit trail are genuine. Screening cases are not made up here: `screening.demo` screens
customers against the shipped real lists and works the cases its hits open."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, audit_context
from cases import deadlines, services
from cases.choices import CaseSource, Disposition, EvidenceKind
from cases.models import Case, CaseEvidence

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
RULES = [
    (
        "STRUCT-01",
        "Cash deposits just below the reporting threshold",
        {"threshold": 10000, "window_days": 7, "min_count": 3},
        lambda r: {
            "deposits": r.randint(3, 6),
            "max_amount": r.randint(9000, 9990),
            "total": r.randint(28000, 55000),
        },
    ),
    (
        "VEL-02",
        "Sudden increase in outgoing wires",
        {"factor": 5, "baseline_days": 90},
        lambda r: {"factor": round(r.uniform(5.2, 14), 1), "amount_7d": r.randint(40000, 250000)},
    ),
    (
        "HRJ-03",
        "Transfers to high-risk jurisdictions",
        {"countries": ["IR", "KP", "SY"], "min_amount": 5000},
        lambda r: {"country": r.choice(["IR", "KP", "SY"]), "amount": r.randint(5200, 60000)},
    ),
    (
        "RT-04",
        "Round-tripping between related accounts",
        {"hops": 3, "window_days": 14},
        lambda r: {"hops": r.randint(3, 5), "amount": r.randint(15000, 90000)},
    ),
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


@transaction.atomic
def demo_cases_load(*, actor: Actor | None = None, seed: int = 7) -> int:
    """Create the demo customers and cases (idempotent: does nothing when they exist).
    Returns the number of cases created."""
    if Case.objects.filter(dedupe_key__startswith="demo:").exists():
        return 0
    rng = random.Random(seed)
    analyst, analyst2 = demo_user("analyst"), demo_user("analyst2")
    approver, admin = demo_user("approver"), demo_user("admin")
    created = 0
    with audit_context(actor=actor or Actor.system("demo_cases_load"), reason="demo data"):
        customers = {
            ext: services.customer_upsert(
                external_id=ext, name=name, dob=dob, country=country, entity_type=kind
            )
            for ext, name, dob, country, kind in CUSTOMERS
        }
        plans = []
        for index in range(14):
            ext = CUSTOMERS[index % len(CUSTOMERS)][0]
            code, name, params, observe = RULES[index % len(RULES)]
            customer = customers[ext]
            window = (timezone.now() - timedelta(days=index)).date().isoformat()
            case = services.case_open(
                source=CaseSource.MONITORING,
                title=f"{code}: {name}",
                subject_type="customer",
                subject_id=ext,
                customer=customer,
                priority=rng.randint(35, 85),
                dedupe_key=f"demo:monitoring:{ext}:{code}:{window}",
                evidence={
                    "kind": EvidenceKind.ALERT,
                    "object_id": f"demo-a{index}",
                    "summary": {
                        "rule_code": code,
                        "rule_version": 2,
                        "rule_name": name,
                        "parameters": params,
                        "observed": observe(rng),
                        "contributing_ids": [
                            f"TX-{rng.randint(100000, 999999)}" for _ in range(rng.randint(3, 6))
                        ],
                    },
                },
            )
            plans.append(case)
        for index in range(3):
            ext = CUSTOMERS[index + 3][0]
            case = services.case_open(
                source=CaseSource.ENRICHMENT,
                title=f"LEI enrichment failed for {ext}",
                subject_type="customer",
                subject_id=ext,
                customer=customers[ext],
                priority=30,
                dedupe_key=f"demo:enrichment:{ext}",
                evidence={
                    "kind": EvidenceKind.ENRICHMENT_RUN,
                    "object_id": f"demo-e{index}",
                    "summary": {"provider": "gleif", "error": "HTTP 503 after 3 retries"},
                },
            )
            plans.append(case)
        created = len(plans)
        for index, case in enumerate(plans):
            backdate(case, days=[1, 2, 3, 5, 6, 8, 9, 11, 12, 13, 20, 35, 45, 70][index % 14])
            worker = analyst if index % 2 == 0 else analyst2
            step = index % 6
            if step == 0:
                continue  # stays new in the queue
            services.case_assign(
                case=case, actor_user=approver, expected_version=case.version, assignee=worker
            )
            if step == 1:
                continue
            case = services.case_start(
                case=case, actor_user=worker, expected_version=case.version + 1
            )
            if step == 2:
                services.case_comment_add(
                    case=case, actor_user=worker, body="Requested source-of-funds documents."
                )
                continue
            if step == 3:
                services.case_resolve(
                    case=case,
                    actor_user=worker,
                    expected_version=case.version,
                    disposition=Disposition.NO_FURTHER_ACTION,
                    rationale="Activity matches the customer's payroll.",
                )
                continue
            case = services.case_escalate(
                case=case,
                actor_user=worker,
                expected_version=case.version,
                reason="Pattern consistent with layering.",
            )
            if step == 4:
                continue
            case = services.case_resolve(
                case=case,
                actor_user=worker,
                expected_version=case.version,
                disposition=Disposition.TRUE_MATCH,
                rationale="Funds moved through three shell companies within 48 hours.",
            )
            if index % 4 == 1:
                services.case_approve(
                    case=case,
                    actor_user=admin,
                    expected_version=case.version,
                    rationale="Agree: file a SAR.",
                )
    return created
