"""The bank's customer base in Vigil: validated rows in, stored customers out, many at a time.

Delta re-screening (a list version activates) screens the *stored* customers, so the whole
base must be here, not only the customers that once had a hit. Integrations send it
through `POST /api/v1/customers` and operators load it with `manage.py import_customers`;
both call `customers_upsert_many`, which writes a chunk in a few statements (history rows
included) and links new customers to cases already opened about their id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from cases.choices import EntityType
from cases.models import Customer

MAX_ID = 64
MAX_NAME = 300
_DOB = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
#: An ISO 3166 alpha-2 code, once upper-cased (a customer's and a screened country).
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
FIELDS = ("external_id", "name", "dob", "country", "entity_type")


class CustomerInputError(ValueError):
    """A customer row that cannot be stored: which row (1-based), which field, why."""

    def __init__(self, message: str, *, field: str, row: int | None = None) -> None:
        self.field, self.row, self.problem = field, row, message
        super().__init__(f"row {row}: {field}: {message}" if row else f"{field}: {message}")


def dob_problem(dob: str) -> str | None:
    """Why `dob` is not a usable date of birth (None if it is one): a customer's, or a
    screened one (`screening.services.screening_input_clean`)."""
    if not _DOB.match(dob):
        return "must be YYYY, YYYY-MM or YYYY-MM-DD"
    parts = [int(p) for p in dob.split("-")]
    this_year = timezone.now().year
    if not 1800 <= parts[0] <= this_year:
        return f"year {parts[0]} is outside 1800-{this_year}"
    try:
        dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return f"{dob} is not a calendar date"
    return None


def customer_row_clean(row: dict, *, index: int | None = None) -> dict:
    """One customer, validated and normalised (country upper case, "organization"
    accepted); raises `CustomerInputError` naming the row and the field."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise CustomerInputError(f"unknown field(s) {', '.join(unknown)}; expected "
                                 f"{', '.join(FIELDS)}", field=unknown[0], row=index)
    out: dict = {}
    for field in FIELDS:
        value = row.get(field)
        if value is not None and not isinstance(value, str):
            raise CustomerInputError("must be a string", field=field, row=index)
        value = (value or "").strip()
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise CustomerInputError("contains control characters", field=field, row=index)
        out[field] = value
    if not out["external_id"] or len(out["external_id"]) > MAX_ID:
        raise CustomerInputError(f"is required, at most {MAX_ID} characters",
                                 field="external_id", row=index)
    if not out["name"] or len(out["name"]) > MAX_NAME:
        raise CustomerInputError(f"is required, at most {MAX_NAME} characters", field="name",
                                 row=index)
    if out["dob"] and (problem := dob_problem(out["dob"])):
        raise CustomerInputError(problem, field="dob", row=index)
    out["country"] = out["country"].upper()
    if out["country"] and not COUNTRY_CODE.match(out["country"]):
        raise CustomerInputError("must be an ISO 3166 alpha-2 code", field="country", row=index)
    kind = out["entity_type"].lower() or EntityType.PERSON
    kind = EntityType.ORGANISATION if kind == "organization" else kind
    if kind not in EntityType.values:
        raise CustomerInputError(f"must be one of {', '.join(EntityType.values)}",
                                 field="entity_type", row=index)
    out["entity_type"] = kind
    return out


def customer_rows_clean(rows: list) -> list[dict]:
    """Every row validated, or the first problem raised (nothing is stored then). An id
    given twice is refused: which of the two is the customer would be a guess."""
    if not isinstance(rows, list):
        raise CustomerInputError("must be a list of customers", field="customers")
    return list(customer_rows_clean_iter(rows))


def customer_rows_clean_iter(rows: Iterable) -> Iterator[dict]:
    """`customer_rows_clean` one row at a time, for a file read as it is checked: each
    row is validated when it is reached, and the problem is raised then. Holds only the
    ids seen so far."""
    seen: dict[str, int] = {}
    for index, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise CustomerInputError("must be an object", field="customers", row=index)
        clean = customer_row_clean(row, index=index)
        if clean["external_id"] in seen:
            raise CustomerInputError(f"{clean['external_id']} is also row "
                                     f"{seen[clean['external_id']]}", field="external_id",
                                     row=index)
        seen[clean["external_id"]] = index
        yield clean


@dataclass(frozen=True)
class UpsertOutcome:
    created: int
    updated: int
    unchanged: int
    # Customers to screen now: new ones, and those whose screened details changed (they
    # are otherwise screened only against what later list versions add or change).
    to_screen: tuple[int, ...] = ()
    # Every customer of the rows, as stored now, by external id.
    stored: dict[str, Customer] = dataclasses.field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@transaction.atomic
def customers_upsert_many(rows: list[dict], *, source: str) -> UpsertOutcome:
    """Store or update cleaned customer rows (`customer_rows_clean`) in one transaction:
    new customers in one insert, changed ones in one update, each with its history row;
    one ledger entry names the source and the counts. New customers are linked to the
    cases already opened about their id."""
    from cases.services import cases_link_customers

    fields = ("name", "dob", "country", "entity_type")
    existing = {c.external_id: c for c in Customer.objects.select_for_update()
                .filter(external_id__in=[r["external_id"] for r in rows])}
    new, changed = [], []
    for row in rows:
        customer = existing.get(row["external_id"])
        if customer is None:
            new.append(Customer(**row, data={}))
        elif any(getattr(customer, f) != row[f] for f in fields):
            for f in fields:
                setattr(customer, f, row[f])
            changed.append(customer)
    created = Customer.objects.bulk_create(new) if new else []
    if changed:
        Customer.objects.bulk_update(changed, list(fields))
    if created:
        cases_link_customers(*created)
    outcome = UpsertOutcome(len(created), len(changed), len(rows) - len(created) - len(changed),
                            tuple(c.pk for c in (*created, *changed)
                                  if c.offboarded_at is None),
                            {**existing, **{c.external_id: c for c in created}})
    audit_record(action="cases.customers_upserted", object_type="cases.customer", object_id="",
                 data={"source": source, **outcome.as_dict()})
    return outcome


class CustomerStateError(CustomerInputError):
    """The customer is not in a state that allows this (already offboarded, not offboarded)."""


MAX_REASON = 500


def _reason_clean(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise CustomerInputError(f"is required, at most {MAX_REASON} characters",
                                 field="reason")
    return reason


def _offboarding_set(customer: Customer, *, offboard: bool, reason: str) -> Customer:
    """Offboard or reinstate under a row lock, versioned, with its own ledger event."""
    reason = _reason_clean(reason)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    was = customer.offboarded_at
    if offboard and was is not None:
        raise CustomerStateError(f"{customer.external_id} was offboarded on {was:%Y-%m-%d}",
                                 field="external_id")
    if not offboard and was is None:
        raise CustomerStateError(f"{customer.external_id} is not offboarded",
                                 field="external_id")
    customer.offboarded_at = timezone.now() if offboard else None
    customer.offboarding_reason = reason if offboard else ""
    customer.save(update_fields=["offboarded_at", "offboarding_reason"])
    data = {"external_id": customer.external_id, "reason": reason}
    audit_record(action="cases.customer_offboarded" if offboard else "cases.customer_reinstated",
                 object_type="cases.customer", object_id=str(customer.pk),
                 data=data if offboard else {**data, "offboarded_at": was.isoformat()})
    return customer


@transaction.atomic
def customer_offboard(*, customer: Customer, reason: str) -> Customer:
    """The bank no longer serves this customer: list changes stop re-screening them. Their
    cases, queries and history stay as they are (open cases are still worked to a close).
    Inside the caller's audit context (who offboarded is the entry's actor)."""
    return _offboarding_set(customer, offboard=True, reason=reason)


@transaction.atomic
def customer_reinstate(*, customer: Customer, reason: str) -> Customer:
    """An offboarded customer is served again: list changes re-screen them again."""
    return _offboarding_set(customer, offboard=False, reason=reason)
