"""EU Financial Sanctions File XML 1.1 (`export`, namespaced, attribute-heavy).

Country `00` means unknown and is dropped; names come in many languages (script detected).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, entity_type, parse_date, script_of, uniq
from .errors import ListParseError
from .safexml import child, child_text, children, display_name, stream
from .source import DEFAULT_MAX_BYTES

_ID_KINDS = {
    "passport": "passport",
    "id": "national_id",
    "regnumber": "registration",
    "fiscalcode": "tax_id",
    "swiftbic": "bic",
    "imo": "imo",
}


def parse_eu(
    path: str | os.PathLike[str], *, list_code: str = "eu", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse the EU consolidated Financial Sanctions File XML."""
    parsed = ParsedList(list_code=list_code, format="eu-fsf", files=[str(path)])
    parsed.entities = _entities(parsed, path, max_bytes)
    return parsed


def _country(elem: Element) -> str:
    code = elem.get("countryIso2Code", "")
    return "" if code in ("", "00") else code


def _entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    name = display_name(path)
    position = 0
    for tag, elem in stream(
        path, ["sanctionEntity"], root_tags=["export"], header_tags=["export"], max_bytes=max_bytes
    ):
        if tag == "export":
            generated = elem.get("generationDate", "")
            try:
                parsed.publication_date = (
                    dt.date.fromisoformat(generated[:10]) if generated else None
                )
            except ValueError:
                raise ListParseError(
                    name, "attribute generationDate", f"unreadable date {generated!r}"
                ) from None
            continue
        position += 1
        yield _entity(elem, parsed.list_code, name, position)


def _entity(elem: Element, list_code: str, name: str, position: int) -> ListedEntity:
    uid = elem.get("logicalId", "")
    names = []
    for alias in children(elem, "nameAlias"):
        whole = clean(
            alias.get("wholeName")
            or " ".join(
                v
                for v in (alias.get("firstName"), alias.get("middleName"), alias.get("lastName"))
                if v
            )
        )
        if whole:
            kind = "aka" if alias.get("strong", "true") == "true" else "weak"
            names.append(ListedName(whole, "primary" if not names else kind, script_of(whole)))
    if not uid or not names:
        raise ListParseError(
            name, f"<sanctionEntity> #{position}", "entity without logicalId or <nameAlias>"
        )
    subject = child(elem, "subjectType")
    dobs, pobs = [], []
    for b in children(elem, "birthdate"):
        dobs.extend(parse_date(b.get("birthdate") or b.get("year") or ""))
        for y in ("yearRangeFrom", "yearRangeTo"):
            dobs.extend(parse_date(b.get(y, "")))
        place = ", ".join(
            v
            for v in (
                b.get("city", "").strip("- "),
                b.get("countryDescription", "") if _country(b) else "",
            )
            if v
        )
        if place:
            pobs.append(place)
    ids, countries = [], []
    for i in children(elem, "identification"):
        if i.get("number"):
            ids.append(
                (
                    _ID_KINDS.get(i.get("identificationTypeCode", ""), "other_id"),
                    clean(i.get("number")),
                )
            )
            countries.append(_country(i))
    addresses = []
    for a in children(elem, "address"):
        addr = {
            "street": a.get("street", ""),
            "city": " ".join(v for v in (a.get("city"), a.get("zipCode")) if v),
            "country": _country(a),
            "remarks": child_text(a, "remark"),
        }
        addr = {k: clean(v) for k, v in addr.items() if v}
        if addr:
            addresses.append(addr)
    nats = [_country(c) for c in children(elem, "citizenship")]
    regulation = child(elem, "regulation")
    extra = {
        k: v
        for k, v in (
            ("eu_reference", elem.get("euReferenceNumber", "")),
            ("un_reference", elem.get("unitedNationId", "")),
        )
        if v
    }
    return ListedEntity(
        list_code=list_code,
        uid=uid,
        entity_type=entity_type(subject.get("code", "") if subject is not None else ""),
        names=uniq(names),
        programs=uniq([regulation.get("programme", "") if regulation is not None else ""]),
        remarks=clean(" ".join(clean(r.text) for r in children(elem, "remark"))),
        dates_of_birth=uniq(dobs),
        places_of_birth=uniq(pobs),
        nationalities=uniq(nats),
        countries=uniq(nats + countries + [a.get("country", "") for a in addresses]),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )
