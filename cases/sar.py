"""The FinCEN-SAR-shaped draft: document, validation (JSON Schema) and JSON/CSV output.

The shape follows the BSA SAR's parts (I subject, II suspicious activity, V narrative),
abridged to what a draft reviewed by the BSA officer needs. Validation runs before every
export so an incomplete draft never leaves the system."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema

from cases.choices import SarActivityCategory
from config.exports import csv_cell

SAR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "form",
        "filing_type",
        "case_reference",
        "subject",
        "suspicious_activity",
        "narrative",
    ],
    "properties": {
        "form": {"const": "FinCEN SAR"},
        "filing_type": {"enum": ["initial", "continuing"]},
        "case_reference": {"type": "string", "minLength": 1},
        "subject": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 300},
                "identifier": {"type": "string"},
                "date_of_birth": {"type": "string"},
                "country": {"type": "string", "maxLength": 2},
            },
        },
        "suspicious_activity": {
            "type": "object",
            "required": ["amount", "currency", "date_from", "date_to", "categories"],
            "properties": {
                "amount": {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "date_from": {"type": "string", "format": "date"},
                "date_to": {"type": "string", "format": "date"},
                "categories": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"enum": list(SarActivityCategory.values)},
                },
            },
        },
        "narrative": {"type": "string", "minLength": 50, "maxLength": 20000},
    },
}

CSV_COLUMNS = [
    "case_reference",
    "filing_type",
    "subject_name",
    "subject_identifier",
    "subject_date_of_birth",
    "subject_country",
    "amount",
    "currency",
    "date_from",
    "date_to",
    "categories",
    "narrative",
]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def sar_document(draft) -> dict[str, Any]:
    """The draft as a FinCEN-SAR-shaped document (missing values left out, so the schema
    names them)."""
    activity: dict[str, Any] = {
        "currency": draft.currency,
        "categories": list(draft.categories or []),
    }
    if draft.amount is not None:
        activity["amount"] = format(Decimal(draft.amount).quantize(Decimal("0.01")), "f")
    if draft.activity_start:
        activity["date_from"] = _iso(draft.activity_start)
    if draft.activity_end:
        activity["date_to"] = _iso(draft.activity_end)
    return {
        "form": "FinCEN SAR",
        "filing_type": "continuing" if draft.exported_at else "initial",
        "case_reference": draft.case.reference,
        "subject": {
            "name": draft.subject_name,
            "identifier": draft.subject_id,
            "date_of_birth": draft.subject_dob,
            "country": draft.subject_country,
        },
        "suspicious_activity": activity,
        "narrative": draft.narrative,
    }


def sar_validate(document: dict[str, Any]) -> list[str]:
    """Readable problems with a SAR document; empty when it may be exported."""
    validator = jsonschema.Draft202012Validator(
        SAR_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "document"
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            errors.append(
                f"{where}: {missing} is required"
                if where != "document"
                else f"{missing} is required"
            )
        elif error.validator == "minLength" and where == "narrative":
            errors.append("narrative: at least 50 characters describing the activity")
        elif error.validator == "minItems":
            errors.append(f"{where}: choose at least one activity category")
        else:
            errors.append(f"{where}: {error.message}")
    activity = document.get("suspicious_activity", {})
    if (
        activity.get("date_from")
        and activity.get("date_to")
        and (activity["date_from"] > activity["date_to"])
    ):
        errors.append("suspicious_activity: the activity end date is before its start date")
    return errors


def sar_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def sar_csv(document: dict[str, Any]) -> bytes:
    subject, activity = document["subject"], document["suspicious_activity"]
    row = [
        document["case_reference"],
        document["filing_type"],
        subject.get("name", ""),
        subject.get("identifier", ""),
        subject.get("date_of_birth", ""),
        subject.get("country", ""),
        activity.get("amount", ""),
        activity.get("currency", ""),
        activity.get("date_from", ""),
        activity.get("date_to", ""),
        ";".join(activity.get("categories", [])),
        document["narrative"],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow([csv_cell(str(v)) for v in row])
    return buffer.getvalue().encode("utf-8")
