"""The enrichment document as the application page shows it: sections of labelled rows,
each value next to its source (provider, call id, fetch time).

Pure (no ORM, no Django) and total: a shape it has no layout for is shown as compact JSON
text instead of raising, since documents outlive the code that reads them. Values are
shown as stored (dates, amounts and codes are never reformatted), and every string stays
plain text for the template to escape: the values come from third-party APIs.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enrichment.document import schema as published_schema

#: top-level keys that describe the document itself rather than the applicant
HEADER_KEYS = ("$schema", "schema_version", "application_id", "run")
SECTION_TITLES = {
    "business": "Business (registry)",
    "parents": "Parent companies (registry)",
    "credit": "Credit (bureau)",
    "screening": "Screening",
}
#: the domain's abbreviations, kept upper-case in labels
ACRONYMS = {"lei": "LEI", "bin": "BIN", "dbt": "DBT", "ofac": "OFAC", "fsr": "FSR",
            "id": "ID", "url": "URL", "uri": "URI", "sdn": "SDN"}
CALL_ID_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value came from; the call id names a stored ProviderCall."""

    provider: str
    call_id: str
    call_id_short: str
    fetched_at: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One value as text. ``kind``: ``text`` (a scalar as stored), ``lines`` (a list of
    scalars), ``json`` (a shape with no layout, as compact JSON) or ``missing`` (null,
    absent or empty: shown as "—" with ``note`` saying which)."""

    kind: str
    text: str = ""
    lines: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Grid:
    """A list of objects: one column per key, one row per object."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class Row:
    """One field of a section; its value is exactly one of ``cell``, ``record`` (an
    object: label → cell) or ``grid`` (a list of objects)."""

    key: str
    label: str
    cell: Cell | None = None
    record: tuple[tuple[str, Cell], ...] = ()
    grid: Grid | None = None
    source: Provenance | None = None


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    rows: tuple[Row, ...]


def document_sections(document: Any, *,
                      schema: Mapping[str, Any] | None = None) -> list[Section]:
    """The document as sections for the page: "Document" (schema, application, run),
    then one section per top-level part in document order.

    When the document declares the schema given (by default the published one), every
    field that schema declares is listed, absent ones as "—", so a missing value is seen
    rather than silently left out."""
    if not isinstance(document, dict):
        return [Section("document", "Document",
                        (Row("document", "Document", cell=_cell(document)),))]
    if schema is None:
        schema = published_schema()
    declared = _declared_fields(document, schema)
    header: list[Row] = []
    sections: list[Section] = []
    for key, value in document.items():
        if (key in HEADER_KEYS or not isinstance(value, dict | list)
                or _is_sourced_field(value)):
            header.append(_row(key, value))
        elif isinstance(value, list):
            sections.append(Section(str(key), _section_title(key),
                                    (_row("entries", value),)))
        else:
            sections.append(Section(str(key), _section_title(key),
                                    _object_rows(value, declared.get(key, ()))))
    for key in declared:
        if key not in document:
            sections.append(Section(key, _section_title(key), (
                Row(key, _section_title(key), cell=Cell("missing", note="not in document")),)))
    return [Section("document", "Document", tuple(header))] + sections


def field_label(key: Any) -> str:
    """``legal_name`` → "Legal name", ``current_dbt`` → "Current DBT", ``ofacMatch`` →
    "OFAC match"."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(key).lstrip("$"))
    words = [ACRONYMS.get(w.lower(), w if w.isupper() and len(w) > 1 else w.lower())
             for w in re.split(r"[\s_.-]+", text) if w]
    if not words:
        return "(blank)"
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _section_title(key: Any) -> str:
    return SECTION_TITLES.get(key) or field_label(key)


def _declared_fields(document: dict[str, Any], schema: Mapping[str, Any]
                     ) -> dict[str, tuple[str, ...]]:
    """section → its fields in schema order, for a document of this schema (else none)."""
    if not isinstance(schema, Mapping) or document.get("$schema") != schema.get("$id"):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    properties = schema.get("properties")
    for key, definition in (properties.items() if isinstance(properties, Mapping) else ()):
        if key in HEADER_KEYS or not isinstance(definition, Mapping):
            continue
        fields = definition.get("properties")
        if definition.get("type") == "object" and isinstance(fields, Mapping):
            out[key] = tuple(fields)
    return out


def _object_rows(node: dict[str, Any], declared: tuple[str, ...]) -> tuple[Row, ...]:
    """Declared fields in schema order (absent ones as "—"), then any others as found."""
    keys = [*declared, *(key for key in node if key not in declared)]
    return tuple(_row(key, node[key]) if key in node else
                 Row(key, field_label(key), cell=Cell("missing", note="not in document"))
                 for key in keys)


def _row(key: Any, value: Any) -> Row:
    source = None
    if _is_sourced_field(value):
        source, value = _provenance(value["source"]), value["value"]
    elif _is_sourced_record(value):
        source = _provenance(value["source"])
        value = {k: v for k, v in value.items() if k != "source"}
    key_text, label = str(key), field_label(key)
    if isinstance(value, dict) and value:
        return Row(key_text, label, record=tuple((field_label(k), _cell(v))
                                                 for k, v in value.items()), source=source)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return Row(key_text, label, grid=_grid(value), source=source)
    return Row(key_text, label, cell=_cell(value), source=source)


def _grid(items: list[dict[str, Any]]) -> Grid:
    columns: dict[Any, None] = {}
    for item in items:
        columns.update(dict.fromkeys(item))
    return Grid(
        columns=tuple(field_label(c) for c in columns),
        rows=tuple(tuple(_cell(item[c]) if c in item else Cell("missing", note="absent")
                         for c in columns) for item in items),
    )


def _is_sourced_field(value: Any) -> bool:
    """``{"value": ..., "source": {...}}``: a value with its source (the schema's field)."""
    return (isinstance(value, dict) and set(value) == {"value", "source"}
            and isinstance(value["source"], dict))


def _is_sourced_record(value: Any) -> bool:
    """An object carrying its own source among its keys (a registry match, a parent)."""
    return (isinstance(value, dict) and len(value) > 1
            and isinstance(value.get("source"), dict))


def _provenance(source: dict[str, Any]) -> Provenance:
    provider, call_id, fetched_at = (
        _scalar_text(source.get(name)) if source.get(name) is not None else "—"
        for name in ("provider", "call_id", "fetched_at"))
    short = call_id if len(call_id) <= CALL_ID_SHOWN + 1 else call_id[:CALL_ID_SHOWN] + "…"
    return Provenance(provider, call_id, short, fetched_at)


def _cell(value: Any) -> Cell:
    if value is None:
        return Cell("missing")
    if isinstance(value, str) and not value:
        return Cell("missing", note="empty text")
    if isinstance(value, list | dict) and not value:
        return Cell("missing", note="empty list" if isinstance(value, list) else "empty object")
    if _is_scalar(value):
        return Cell("text", text=_scalar_text(value))
    if isinstance(value, list) and all(_is_scalar(v) or v is None for v in value):
        return Cell("lines", lines=tuple("—" if v is None else _scalar_text(v)
                                         for v in value))
    return Cell("json", text=_json_text(value))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _scalar_text(value: Any) -> str:
    """A string as it is; a number or boolean as its JSON literal (``20000.0``, ``true``),
    which is how the document stores it."""
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        pass  # circular, too deep, or a number too long to print: still show something
    try:
        return reprlib.repr(value)
    except (TypeError, ValueError, RecursionError):
        return "(value cannot be shown)"
