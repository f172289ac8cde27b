"""Every change to a case goes through a service here."""

from __future__ import annotations

from contextlib import nullcontext

from django.db import IntegrityError, transaction

from audit.context import Actor, audit_context
from cases.choices import OPEN_STATES, CaseSource
from cases.models import Case, CaseEvidence, Customer


def _next_reference() -> str:
    last = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return f"C-{last + 1:06d}"


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
    customer and matter, not one per hit). Evidence is attached once per object."""
    if source not in CaseSource.values:
        raise ValueError(f"unknown case source {source!r}")
    priority = max(0, min(100, int(priority)))
    with audit_context(actor=actor) if actor else nullcontext():
        case = None
        if dedupe_key:
            case = (Case.objects.select_for_update()
                    .filter(dedupe_key=dedupe_key, state__in=OPEN_STATES).first())
        if case is None:
            try:
                with transaction.atomic():
                    case = Case.objects.create(
                        reference=_next_reference(), source=source, title=title[:300],
                        summary=summary, subject_type=subject_type, subject_id=str(subject_id),
                        dedupe_key=dedupe_key or "", customer=customer, priority=priority,
                    )
            except IntegrityError:
                # A concurrent opener won the race for this dedupe key (or the reference).
                case = (Case.objects.select_for_update()
                        .filter(dedupe_key=dedupe_key, state__in=OPEN_STATES).first()
                        if dedupe_key else None)
                if case is None:
                    raise
        elif priority > case.priority:
            case.priority = priority
            case.version += 1
            case.save(update_fields=["priority", "version", "updated_at"])
        if evidence:
            if not CaseEvidence.objects.filter(case=case, kind=evidence["kind"],
                                               object_id=str(evidence["object_id"])).exists():
                CaseEvidence.objects.create(case=case, kind=evidence["kind"],
                                            object_id=str(evidence["object_id"]),
                                            summary=evidence.get("summary") or {})
        return case


@transaction.atomic
def customer_upsert(*, external_id: str, name: str, dob: str = "", country: str = "",
                    entity_type: str = "person", data: dict | None = None) -> Customer:
    """Create or update a customer by its external id."""
    customer = Customer.objects.select_for_update().filter(external_id=external_id).first()
    if customer is None:
        return Customer.objects.create(external_id=external_id, name=name, dob=dob,
                                       country=country, entity_type=entity_type,
                                       data=data or {})
    changed = []
    for field, value in (("name", name), ("dob", dob), ("country", country),
                         ("entity_type", entity_type)):
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.append(field)
    if data is not None and customer.data != data:
        customer.data = data
        changed.append("data")
    if changed:
        customer.save(update_fields=changed)
    return customer
