"""The standardised enrichment document (schema application-v1) and its data patches.

Every value in the document carries its source: the provider, the id of the call that
returned it and the time it was fetched, so an examiner can replay how it arrived. The
document is validated against the published JSON Schema before it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from .pipeline import (
    STEP_BUREAU_REPORT,
    STEP_BUREAU_SEARCH,
    STEP_DIRECT_PARENT,
    STEP_REGISTRY,
    STEP_ULTIMATE_PARENT,
)

SCHEMA_VERSION = "1.0.0"
SCHEMA_ID = "https://vigil.example/schemas/enrichment/application-v1.json"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "application-v1.json"

BUSINESS_FIELDS = ("lei", "legal_name", "registration_number", "registration_authority",
                   "jurisdiction", "legal_address", "entity_status", "registration_status",
                   "category", "legal_form", "creation_date")
CREDIT_FIELDS = ("bin", "commercial_score", "score_note", "percentile", "risk_class",
                 "recommended_credit_limit", "fsr_score", "current_dbt", "monthly_average_dbt",
                 "bankruptcy_count", "tax_lien_count", "judgment_count", "collection_count",
                 "bankruptcy_indicator", "ofac_match", "years_in_business")

#: document path → application attribute that enrichment fills (the data patches)
PATCH_TARGETS: dict[str, str] = {
    "business.lei": "lei",
    "business.legal_name": "registered_name",
    "business.legal_address": "registered_address",
    "business.entity_status": "registry_entity_status",
    "business.registration_status": "registry_registration_status",
    "parents.direct.lei": "direct_parent_lei",
    "parents.ultimate.lei": "ultimate_parent_lei",
    "credit.commercial_score": "credit_score",
    "credit.risk_class": "credit_risk_class",
    "credit.ofac_match": "bureau_ofac_match",
}


class DocumentInvalid(ValueError):
    """The document does not satisfy its schema; it is never stored."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


@cache
def _fast_validator() -> jsonschema_rs.Validator:
    # Formats are checked exactly as the Python validator checks them (date-time needs a
    # package Vigil does not install, so neither asserts it): both accept the same documents.
    return jsonschema_rs.validator_for(schema(), validate_formats=False)


def validate_document(document: dict[str, Any]) -> None:
    """Raise :class:`DocumentInvalid` listing every violation (path: message).

    Every stored document is checked by the compiled validator (jsonschema-rs, a small
    fraction of the reference implementation's CPU on each run); only a rejected one is
    explained by the reference validator, so the messages keep their wording."""
    try:
        if _fast_validator().is_valid(document):
            return
        fast_errors = list(_fast_validator().iter_errors(document))
    except ValueError:
        fast_errors = []  # a value with no JSON type: the reference validator judges it
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise DocumentInvalid([
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in errors[:20]
        ])
    if fast_errors:
        # The validators disagree (never seen so far): the stricter verdict stands.
        raise DocumentInvalid([
            f"{'/'.join(str(p) for p in e.instance_path) or '(root)'}: {e.message}"
            for e in fast_errors[:20]
        ])


def _source(provider: str, call_id: str, fetched_at: str) -> dict[str, str]:
    return {"provider": provider, "call_id": call_id, "fetched_at": fetched_at}


def _field(value: Any, source: dict[str, str]) -> dict[str, Any]:
    return {"value": value, "source": source}


def _parent(step: dict[str, Any] | None, provider: str) -> dict[str, Any] | None:
    if not step or not step.get("entity"):
        return None
    entity = step["entity"]
    source = _source(provider, entity["call_id"], entity["fetched_at"])
    return {
        "lei": entity["lei"], "legal_name": entity["legal_name"], "country": entity["country"],
        "source": source,
    }


def build_document(
    *,
    application_id: str,
    run_id: str,
    idempotency_key: str,
    generated_at: str,
    steps: dict[str, dict[str, Any]],
    registry_provider: str,
    bureau_provider: str,
    screening: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the application-v1 document from a run's finished steps."""
    registry_step = steps[STEP_REGISTRY]
    registry_source = _source(registry_provider, registry_step["call_id"],
                              registry_step["fetched_at"])
    entity = registry_step.get("entity")
    business: dict[str, Any] = {
        "match": {"status": registry_step["status"], "candidates": registry_step["candidates"],
                  "source": registry_source},
    }
    if entity:
        source = _source(registry_provider, entity["call_id"], entity["fetched_at"])
        for name in BUSINESS_FIELDS:
            business[name] = _field(entity.get(name), source)

    bureau_step = steps[STEP_BUREAU_SEARCH]
    credit: dict[str, Any] = {
        "match": {"status": bureau_step["status"], "candidates": bureau_step["candidates"],
                  "source": _source(bureau_provider, bureau_step["call_id"],
                                    bureau_step["fetched_at"])},
    }
    report_step = steps.get(STEP_BUREAU_REPORT)
    if report_step:
        report = report_step["report"]
        source = _source(bureau_provider, report["call_id"], report["fetched_at"])
        for name in CREDIT_FIELDS:
            credit[name] = _field(report.get(name), source)

    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "application_id": application_id,
        "run": {"id": run_id, "idempotency_key": idempotency_key, "generated_at": generated_at},
        "business": business,
        "parents": {
            "direct": _parent(steps.get(STEP_DIRECT_PARENT), registry_provider),
            "ultimate": _parent(steps.get(STEP_ULTIMATE_PARENT), registry_provider),
        },
        "credit": credit,
        "screening": screening or {"status": "not_available", "subjects": []},
    }


def document_value(document: dict[str, Any], path: str) -> tuple[bool, Any, dict | None]:
    """(present, value, source) at a dotted path.

    A sourced field (``{"value", "source"}``) unwraps to its value; a plain value takes
    the source of the object that holds it (a parent record).
    """
    node: Any = document
    container: Any = None
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            return False, None, None
        container, node = node, node[part]
    if isinstance(node, dict) and "value" in node and "source" in node:
        return True, node["value"], node["source"]
    source = container.get("source") if isinstance(container, dict) else None
    return True, node, source


@dataclass(frozen=True)
class Patch:
    """One application attribute changed by enrichment (field, before, after, source)."""

    field: str
    path: str
    before: Any
    after: Any
    source: dict[str, str] | None


def compute_patches(current: dict[str, Any], document: dict[str, Any]) -> list[Patch]:
    """The attribute changes a document implies, only where the value actually differs.

    Values the providers did not return leave the application untouched: absence of
    evidence is not a reason to blank a field.
    """
    patches = []
    for path, attribute in PATCH_TARGETS.items():
        present, value, source = document_value(document, path)
        if not present or value is None:
            continue
        if current.get(attribute) != value:
            patches.append(Patch(attribute, path, current.get(attribute), value, source))
    return patches


def document_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """Leaf-level differences between two documents (values only, sources ignored)."""
    def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            if "value" in node and "source" in node:
                return {prefix: node["value"]}
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key in {"source", "run", "$schema"}:
                    continue
                out.update(leaves(value, f"{prefix}.{key}" if prefix else key))
            return out
        return {prefix: node}

    before, after = leaves(old or {}), leaves(new)
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            changes.append({"path": path, "before": before.get(path), "after": after.get(path)})
    return changes
