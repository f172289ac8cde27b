"""OFAC Advanced XML (`Sanctions` schema of SDN_ADVANCED.XML / CONS_ADVANCED.XML).

The file is relational: reference values, locations, ID documents and sanctions entries
(programs) sit in separate sections, and programs come *after* the parties. So the file is
read twice, both times streaming: pass 1 keeps the small lookup tables, pass 2 turns each
`DistinctParty` into a `ListedEntity`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, entity_country, parse_date, script_of, uniq
from .errors import ListParseError
from .ofac_common import ID_LABELS, identifier
from .safexml import child, child_text, children, display_name, stream
from .source import DEFAULT_MAX_BYTES

_REFERENCE_TAGS = (
    "AliasType",
    "PartySubType",
    "PartyType",
    "FeatureType",
    "NamePartType",
    "IDRegDocType",
    "Country",
    "AreaCode",
    "LocPartType",
    "SanctionsType",
    "DetailReference",
)
_ALIAS_KINDS = {"A.K.A.": "aka", "F.K.A.": "fka", "N.K.A.": "nka", "Name": "aka"}
_ROOT = ["Sanctions"]


def parse_ofac_advanced(
    path: str | os.PathLike[str], *, list_code: str = "ofac-sdn", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse an OFAC Advanced XML file into `ListedEntity` records."""
    parsed = ParsedList(list_code=list_code, format="ofac-advanced-xml", files=[str(path)])
    parsed.entities = _entities(parsed, path, max_bytes)
    return parsed


class _Tables:
    def __init__(self) -> None:
        self.ref: dict[str, dict[str, Element]] = defaultdict(dict)
        self.locations: dict[str, dict] = {}
        self.documents: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self.programs: dict[str, list[str]] = defaultdict(list)

    def label(self, kind: str, ref_id: str | None) -> str:
        elem = self.ref[kind].get(ref_id or "")
        return clean(elem.text) if elem is not None else ""


def _first_pass(path, max_bytes: int) -> tuple[_Tables, dt.date | None]:
    tables = _Tables()
    published: dt.date | None = None
    for tag, elem in stream(
        path,
        ["Location", "IDRegDocument", "SanctionsEntry", *_REFERENCE_TAGS],
        root_tags=_ROOT,
        header_tags=["DateOfIssue"],
        max_bytes=max_bytes,
    ):
        if tag == "DateOfIssue":
            try:
                published = dt.date(
                    int(child_text(elem, "Year")),
                    int(child_text(elem, "Month")),
                    int(child_text(elem, "Day")),
                )
            except ValueError:
                raise ListParseError(
                    display_name(path), "element <DateOfIssue>", "unreadable date"
                ) from None
        elif tag in _REFERENCE_TAGS:
            tables.ref[tag][elem.get("ID", "")] = elem
        elif tag == "Location":
            tables.locations[elem.get("ID", "")] = _location(elem, tables)
        elif tag == "IDRegDocument":
            tables.documents[elem.get("IdentityID", "")].append(
                (
                    tables.label("IDRegDocType", elem.get("IDRegDocTypeID")),
                    child_text(elem, "IDRegistrationNo"),
                    tables.label("Country", elem.get("IssuedBy-CountryID")),
                )
            )
        elif tag == "SanctionsEntry":
            for measure in children(elem, "SanctionsMeasure"):
                if tables.label("SanctionsType", measure.get("SanctionsTypeID")) == "Program":
                    tables.programs[elem.get("ProfileID", "")].append(
                        child_text(measure, "Comment")
                    )
    return tables, published


def _location(elem: Element, tables: _Tables) -> dict:
    parts: dict[str, list[str]] = defaultdict(list)
    for part in children(elem, "LocationPart"):
        kind = tables.label("LocPartType", part.get("LocPartTypeID"))
        for value in children(part, "LocationPartValue"):
            if value.get("Primary", "true") == "true":
                parts[kind].append(child_text(value, "Value"))
    country = ""
    loc_country = child(elem, "LocationCountry")
    if loc_country is not None:
        country = tables.label("Country", loc_country.get("CountryID"))
    if not country:
        area = child(elem, "LocationAreaCode")
        area_elem = (
            tables.ref["AreaCode"].get(area.get("AreaCodeID", "")) if area is not None else None
        )
        country = area_elem.get("Description", "") if area_elem is not None else ""
    if country.lower() == "undetermined":
        country = ""
    city = ", ".join(v for v in (*parts["CITY"], *parts["STATE/PROVINCE"]) if v)
    city = " ".join(v for v in (city, *parts["POSTAL CODE"]) if v)
    street = ", ".join(v for v in (*parts["ADDRESS1"], *parts["ADDRESS2"], *parts["ADDRESS3"]) if v)
    return {
        k: clean(v)
        for k, v in (
            ("street", street),
            ("city", city),
            ("country", country),
            ("region", ", ".join(parts["REGION"])),
        )
        if v
    }


def _entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    tables, parsed.publication_date = _first_pass(path, max_bytes)
    position = 0
    for _tag, elem in stream(path, ["DistinctParty"], root_tags=_ROOT, max_bytes=max_bytes):
        position += 1
        yield _party(elem, tables, parsed.list_code, display_name(path), position)


def _documented_name(alias: Element, groups: dict[str, str]) -> str:
    doc = child(alias, "DocumentedName")
    if doc is None:
        return ""
    by_type: dict[str, list[str]] = defaultdict(list)
    for part in children(doc, "DocumentedNamePart"):
        value = child(part, "NamePartValue")
        if value is not None and value.text:
            by_type[groups.get(value.get("NamePartGroupID", ""), "")].append(clean(value.text))
    last, first = " ".join(by_type.pop("Last Name", [])), " ".join(by_type.pop("First Name", []))
    rest = " ".join(v for vals in by_type.values() for v in vals)
    if last and first:
        return clean(f"{last}, {first} {rest}")
    return clean(" ".join(v for v in (last, first, rest) if v))


def _party(
    elem: Element, tables: _Tables, list_code: str, name: str, position: int
) -> ListedEntity:
    uid = elem.get("FixedRef", "")
    profile = child(elem, "Profile")
    if not uid or profile is None:
        raise ListParseError(
            name, f"<DistinctParty> #{position}", "party without FixedRef or <Profile>"
        )
    subtype = tables.ref["PartySubType"].get(profile.get("PartySubTypeID", ""))
    sub_label = clean(subtype.text) if subtype is not None else ""
    party_type = tables.label(
        "PartyType", subtype.get("PartyTypeID") if subtype is not None else None
    )
    etype = {"Vessel": "vessel", "Aircraft": "aircraft"}.get(sub_label) or {
        "Individual": "person",
        "Entity": "organisation",
    }.get(party_type, "unknown")
    names: list[ListedName] = []
    ids: list[tuple[str, str]] = []
    countries: list[str] = []
    for identity in children(profile, "Identity"):
        groups = {}
        box = child(identity, "NamePartGroups")
        for master in children(box, "MasterNamePartGroup") if box is not None else ():
            for group in children(master, "NamePartGroup"):
                groups[group.get("ID", "")] = tables.label(
                    "NamePartType", group.get("NamePartTypeID")
                )
        for alias in children(identity, "Alias"):
            full = _documented_name(alias, groups)
            if not full:
                continue
            if alias.get("Primary") == "true" and identity.get("Primary") == "true":
                kind = "primary"
            elif alias.get("LowQuality") == "true":
                kind = "weak"
            else:
                kind = _ALIAS_KINDS.get(tables.label("AliasType", alias.get("AliasTypeID")), "aka")
            names.append(ListedName(full, kind, script_of(full)))
        for label, number, country in tables.documents.get(identity.get("ID", ""), []):
            ident = (
                identifier(label, number)
                if label in ID_LABELS
                else (("other_id", clean(number)) if number else None)
            )
            if ident:
                ids.append(ident)
                countries.append(country)
    if not names:
        raise ListParseError(name, f"<DistinctParty FixedRef={uid!r}>", "party without a name")
    names.sort(key=lambda n: n.kind != "primary")
    dobs, pobs, nats, addresses, extra = [], [], [], [], {}
    for feature in children(profile, "Feature"):
        ftype = tables.label("FeatureType", feature.get("FeatureTypeID"))
        for version in children(feature, "FeatureVersion"):
            detail = child(version, "VersionDetail")
            detail_text = clean(detail.text) if detail is not None and detail.text else ""
            loc = child(version, "VersionLocation")
            location = (
                tables.locations.get(loc.get("LocationID", ""), {}) if loc is not None else {}
            )
            if ftype == "Birthdate":
                dobs.extend(_period(child(version, "DatePeriod")))
            elif ftype == "Place of Birth":
                pobs.append(detail_text or ", ".join(location.values()))
            elif ftype in ("Citizenship Country", "Nationality Country"):
                nats.append(location.get("country", ""))
            elif ftype == "Location" and location:
                addresses.append(location)
            elif ftype == "Gender" and detail is not None:
                extra["gender"] = tables.label("DetailReference", detail.get("DetailReferenceID"))
            elif ftype in ID_LABELS and detail_text:
                ident = identifier(ftype, detail_text)
                if ident:
                    ids.append(ident)
            elif detail_text or location:
                extra.setdefault("features", []).append(
                    f"{ftype} {detail_text or location.get('country', '')}".strip()
                )
    comment = child_text(elem, "Comment")
    return ListedEntity(
        list_code=list_code,
        uid=uid,
        entity_type=etype,
        names=uniq(names),
        programs=uniq(tables.programs.get(profile.get("ID", ""), [])),
        remarks=clean(comment),
        dates_of_birth=uniq(dobs),
        places_of_birth=uniq(pobs),
        nationalities=uniq(nats),
        countries=uniq([entity_country(a.get("country")) for a in addresses] + countries),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )


def _period(period: Element | None) -> list[str]:
    """DatePeriod -> ISO dates: exact when start == end, else the range's ends (year only)."""
    if period is None:
        return []

    def ymd(node: Element | None) -> tuple[str, str, str] | None:
        if node is None:
            return None
        return child_text(node, "Year"), child_text(node, "Month"), child_text(node, "Day")

    start, end = child(period, "Start"), child(period, "End")
    a = ymd(child(start, "From")) if start is not None else None
    b = ymd(child(end, "To")) if end is not None else None
    if a is None:
        return []
    if b is None or a == b:
        return list(parse_date("-".join(a)))
    if a[0] == b[0] and a[1:] == ("1", "1") and b[1:] == ("12", "31"):
        return [a[0]]
    if a[0] != b[0] and a[1:] == ("1", "1") and b[1:] == ("12", "31"):
        return [a[0], b[0]]
    return [a[0]]
