"""OFAC legacy XML (`sdnList` schema: sdn.xml, consolidated.xml).

Both namespaces (tempuri.org in older files, treasury.gov in newer ones) are accepted by
matching local names; the header tag is spelled `publshInformation` by OFAC.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, parse_date, script_of, uniq
from .errors import ListParseError
from .ofac_common import ID_LABELS, identifier, split_country
from .ofac_csv import build_entity
from .safexml import child, child_text, children, display_name, stream
from .source import DEFAULT_MAX_BYTES

_AKA_KINDS = {"a.k.a.": "aka", "f.k.a.": "fka", "n.k.a.": "nka"}


def parse_ofac_xml(
    path: str | os.PathLike[str], *, list_code: str = "ofac-sdn", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse an OFAC `sdnList` XML file into `ListedEntity` records."""
    parsed = ParsedList(list_code=list_code, format="ofac-xml", files=[str(path)])
    parsed.entities = _entities(parsed, path, max_bytes)
    return parsed


def _full_name(elem: Element) -> str:
    last, first = child_text(elem, "lastName"), child_text(elem, "firstName")
    return f"{last}, {first}" if first and last else (last or first)


def _entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    name = display_name(path)
    count = 0
    for tag, elem in stream(
        path,
        ["sdnEntry"],
        root_tags=["sdnList"],
        header_tags=["publshInformation"],
        max_bytes=max_bytes,
    ):
        if tag == "publshInformation":
            published = child_text(elem, "Publish_Date")
            if published:
                try:
                    month, day, year = (int(x) for x in published.split("/"))
                    parsed.publication_date = dt.date(year, month, day)
                except ValueError:
                    raise ListParseError(
                        name, "element <Publish_Date>", f"unreadable date {published!r}"
                    ) from None
            declared = child_text(elem, "Record_Count")
            parsed.declared_count = int(declared) if declared.isdigit() else None
            continue
        count += 1
        yield _entry(elem, parsed.list_code, name, count)


def _entry(elem: Element, list_code: str, name: str, position: int) -> ListedEntity:
    uid = child_text(elem, "uid")
    primary = _full_name(elem)
    if not uid or not primary:
        raise ListParseError(name, f"<sdnEntry> #{position}", "entry without <uid> or <lastName>")
    aliases = []
    for aka in _items(elem, "akaList", "aka"):
        alias = _full_name(aka)
        if not alias:
            continue
        kind = _AKA_KINDS.get(child_text(aka, "type"), "aka")
        if child_text(aka, "category") == "weak":
            kind = "weak"
        aliases.append(
            ListedName(name=alias.replace('"', "'").strip(), kind=kind, script=script_of(alias))
        )
    addresses = []
    for add in _items(elem, "addressList", "address"):
        street = ", ".join(v for v in (child_text(add, f"address{i}") for i in (1, 2, 3)) if v)
        # The CSV writes "city, state postal"; compose the same so both formats agree.
        city = ", ".join(
            v for v in (child_text(add, "city"), child_text(add, "stateOrProvince")) if v
        )
        city = " ".join(v for v in (city, child_text(add, "postalCode")) if v)
        # The CSV edition writes double quotes as single ones.
        addr = {
            k: clean(v.replace('"', "'"))
            for k, v in (
                ("street", street),
                ("city", city),
                ("country", child_text(add, "country")),
            )
            if v
        }
        if addr:
            addresses.append(addr)
    entity = build_entity(
        list_code=list_code,
        uid=uid,
        name=primary,
        sdn_type=child_text(elem, "sdnType"),
        program="] [".join((p.text or "").strip() for p in _items(elem, "programList", "program")),
        title=child_text(elem, "title"),
        remarks=child_text(elem, "remarks"),
        aliases=aliases,
        addresses=addresses,
        vessel=_vessel(elem),
    )
    dobs = [
        d
        for i in _items(elem, "dateOfBirthList", "dateOfBirthItem")
        for d in _dates(child_text(i, "dateOfBirth"))
    ]
    pobs = [
        child_text(i, "placeOfBirth") for i in _items(elem, "placeOfBirthList", "placeOfBirthItem")
    ]
    nats = [child_text(i, "country") for i in _items(elem, "nationalityList", "nationality")]
    nats += [child_text(i, "country") for i in _items(elem, "citizenshipList", "citizenship")]
    ids, notes, countries = [], [], []
    for i in _items(elem, "idList", "id"):
        label, number = child_text(i, "idType"), child_text(i, "idNumber")
        if label in ID_LABELS:
            ident = identifier(label, split_country(number)[0])
            if ident:
                ids.append(ident)
                if child_text(i, "idCountry"):
                    countries.append(child_text(i, "idCountry"))
        else:
            notes.append(f"{label} {number}".strip())
    extra = dict(entity.extra)
    if notes:
        extra["notes"] = notes
    return ListedEntity(
        list_code=entity.list_code,
        uid=entity.uid,
        entity_type=entity.entity_type,
        names=entity.names,
        programs=entity.programs,
        remarks=entity.remarks,
        dates_of_birth=uniq(list(entity.dates_of_birth) + dobs),
        places_of_birth=uniq(list(entity.places_of_birth) + [clean(p) for p in pobs]),
        nationalities=uniq(list(entity.nationalities) + nats),
        countries=uniq(list(entity.countries) + countries),
        addresses=entity.addresses,
        identifiers=uniq(list(entity.identifiers) + ids),
        extra=extra,
    )


def _items(elem: Element, container: str, item: str) -> Iterator[Element]:
    box = child(elem, container)
    if box is not None:
        yield from children(box, item)


def _dates(value: str) -> tuple[str, ...]:
    return parse_date(value)


def _vessel(elem: Element) -> dict:
    info = child(elem, "vesselInfo")
    if info is None:
        return {}
    return {
        "call_sign": child_text(info, "callSign"),
        "type": child_text(info, "vesselType"),
        "tonnage": child_text(info, "tonnage"),
        "grt": child_text(info, "grossRegisteredTonnage"),
        "flag": child_text(info, "vesselFlag"),
        "owner": child_text(info, "vesselOwner"),
    }
