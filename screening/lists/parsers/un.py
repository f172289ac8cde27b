"""UN Security Council Consolidated List XML (`CONSOLIDATED_LIST` schema).

Values are often wrapped in `<VALUE>`; alias elements are frequently empty; dates can be
partial (YEAR only, or FROM_YEAR/TO_YEAR ranges). The UID is the list's DATAID.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, entity_country, parse_date, script_of, uniq
from .errors import ListParseError
from .safexml import child_text, children, display_name, local, stream
from .source import DEFAULT_MAX_BYTES

_ALIAS_KINDS = {"good": "aka", "a.k.a.": "aka", "low": "weak", "f.k.a.": "fka", "n.k.a.": "nka"}
_DOC_KINDS = {"passport": "passport", "national identification number": "national_id"}


def parse_un(
    path: str | os.PathLike[str], *, list_code: str = "un", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse a UN consolidated list XML file into `ListedEntity` records."""
    parsed = ParsedList(list_code=list_code, format="un-xml", files=[str(path)])
    parsed.entities = _entities(parsed, path, max_bytes)
    return parsed


def _entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    name = display_name(path)
    position = 0
    for tag, elem in stream(
        path,
        ["INDIVIDUAL", "ENTITY"],
        root_tags=["CONSOLIDATED_LIST"],
        header_tags=["CONSOLIDATED_LIST"],
        max_bytes=max_bytes,
    ):
        if tag == "CONSOLIDATED_LIST":
            generated = elem.get("dateGenerated", "")
            try:
                parsed.publication_date = (
                    dt.date.fromisoformat(generated[:10]) if generated else None
                )
            except ValueError:
                raise ListParseError(
                    name, "attribute dateGenerated", f"unreadable date {generated!r}"
                ) from None
            continue
        position += 1
        yield _record(elem, tag, parsed.list_code, name, position)


def _values(elem: Element, tag: str) -> list[str]:
    out = []
    for box in children(elem, tag):
        vals = [clean(v.text) for v in children(box, "VALUE")]
        out.extend(v for v in vals if v)
    return out


def _record(elem: Element, tag: str, list_code: str, name: str, position: int) -> ListedEntity:
    uid = child_text(elem, "DATAID")
    parts = [
        child_text(elem, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
    ]
    primary = clean(" ".join(p for p in parts if p))
    if not uid or not primary:
        raise ListParseError(
            name, f"<{tag}> #{position}", "record without <DATAID> or <FIRST_NAME>"
        )
    names = [ListedName(primary, "primary", script_of(primary))]
    original = child_text(elem, "NAME_ORIGINAL_SCRIPT")
    if original:
        names.append(ListedName(clean(original), "aka", script_of(original)))
    for alias in children(elem, f"{tag}_ALIAS"):
        alias_name = child_text(alias, "ALIAS_NAME")
        if alias_name:
            kind = _ALIAS_KINDS.get(child_text(alias, "QUALITY").lower(), "aka")
            names.append(ListedName(clean(alias_name), kind, script_of(alias_name)))
    dobs: list[str] = []
    for dob in children(elem, "INDIVIDUAL_DATE_OF_BIRTH"):
        for t in ("DATE", "YEAR", "FROM_YEAR", "TO_YEAR"):
            dobs.extend(parse_date(child_text(dob, t)))
    pobs = []
    for pob in children(elem, "INDIVIDUAL_PLACE_OF_BIRTH"):
        place = ", ".join(
            v for v in (child_text(pob, t) for t in ("CITY", "STATE_PROVINCE", "COUNTRY")) if v
        )
        if place:
            pobs.append(clean(place))
    addresses = []
    for add in children(elem, f"{tag}_ADDRESS"):
        addr = {
            "street": child_text(add, "STREET"),
            "city": " ".join(
                v for v in (child_text(add, t) for t in ("CITY", "STATE_PROVINCE", "ZIP_CODE")) if v
            ),
            "country": child_text(add, "COUNTRY"),
            "remarks": child_text(add, "NOTE"),
        }
        addr = {k: clean(v) for k, v in addr.items() if v}
        if addr:
            addresses.append(addr)
    ids = []
    id_countries = []
    for doc in children(elem, "INDIVIDUAL_DOCUMENT"):
        number = child_text(doc, "NUMBER")
        if number:
            kind = _DOC_KINDS.get(child_text(doc, "TYPE_OF_DOCUMENT").lower(), "other_id")
            ids.append((kind, clean(number)))
            id_countries.append(
                child_text(doc, "ISSUING_COUNTRY") or child_text(doc, "COUNTRY_OF_ISSUE")
            )
    nationalities = _values(elem, "NATIONALITY")
    extra: dict = {
        k: v
        for k, v in (
            ("reference_number", child_text(elem, "REFERENCE_NUMBER")),
            ("listed_on", child_text(elem, "LISTED_ON")),
            ("gender", child_text(elem, "GENDER")),
            ("designation", _values(elem, "DESIGNATION")),
            ("title", _values(elem, "TITLE")),
        )
        if v
    }
    return ListedEntity(
        list_code=list_code,
        uid=uid,
        entity_type="person" if local(elem.tag) == "INDIVIDUAL" else "organisation",
        names=uniq(names),
        programs=uniq([child_text(elem, "UN_LIST_TYPE")]),
        remarks=clean(child_text(elem, "COMMENTS1")),
        dates_of_birth=uniq(dobs),
        places_of_birth=uniq(pobs),
        nationalities=uniq(nationalities),
        countries=uniq([entity_country(a.get("country")) for a in addresses] + id_countries),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )
