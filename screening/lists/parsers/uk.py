"""UK lists: the FCDO UK Sanctions List XML and the legacy OFSI ConList CSV.

The ConList writes one row per name variant, grouped by `Group ID`, in cp1252 with
dd/mm/yyyy dates using `00`/`dd` placeholders; rows of one group are merged into one
entity. Some exports carry a leading unnamed column in the header only; it is dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, entity_country, entity_type, parse_date, script_of, uniq
from .errors import ListParseError
from .safexml import child, child_text, children, display_name, stream
from .source import DEFAULT_MAX_BYTES, iter_text_lines

_UK_NAME_KINDS = {"primary name": "primary", "primary name variation": "aka", "alias": "aka"}
_CONLIST_REQUIRED = ("Name 6", "Group Type", "Group ID")


def _uk_date(value: str) -> dt.date | None:
    try:
        day, month, year = (int(x) for x in clean(value).split("/"))
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_uk_xml(
    path: str | os.PathLike[str], *, list_code: str = "uk", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse the FCDO UK Sanctions List XML (`Designations`)."""
    parsed = ParsedList(list_code=list_code, format="uk-xml", files=[str(path)])
    parsed.entities = _xml_entities(parsed, path, max_bytes)
    return parsed


def _xml_entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    name = display_name(path)
    position = 0
    for tag, elem in stream(
        path,
        ["Designation"],
        root_tags=["Designations"],
        header_tags=["DateGenerated"],
        max_bytes=max_bytes,
    ):
        if tag == "DateGenerated":
            parsed.publication_date = _uk_date(elem.text or "")
            continue
        position += 1
        yield _designation(elem, parsed.list_code, name, position)


def _joined_name(elem: Element) -> str:
    given = [child_text(elem, f"Name{i}") for i in range(1, 6)]
    return clean(" ".join(v for v in [*given, child_text(elem, "Name6")] if v))


def _designation(elem: Element, list_code: str, name: str, position: int) -> ListedEntity:
    uid = child_text(elem, "UniqueID")
    names: list[ListedName] = []
    box = child(elem, "Names")
    for n in children(box, "Name") if box is not None else ():
        full = _joined_name(n)
        if full:
            kind = _UK_NAME_KINDS.get(child_text(n, "NameType").lower(), "aka")
            names.append(ListedName(full, kind, script_of(full)))
    box = child(elem, "NonLatinNames")
    for n in children(box, "NonLatinName") if box is not None else ():
        full = child_text(n, "NameNonLatinScript")
        if full:
            names.append(ListedName(clean(full), "aka", script_of(full)))
    if not uid or not names:
        raise ListParseError(
            name, f"<Designation> #{position}", "designation without <UniqueID> or <Names>"
        )
    names.sort(key=lambda n: n.kind != "primary")  # primary first, stable otherwise
    dobs, nats, pobs, ids, extra = [], [], [], [], {}
    for ind in elem.iter():
        tag = ind.tag.rsplit("}", 1)[-1]
        if tag == "DOB":
            dobs.extend(parse_date(ind.text or ""))
        elif tag == "Nationality":
            nats.append(clean(ind.text))
        elif tag == "PassportNumber":
            ids.append(("passport", clean(ind.text)))
        elif tag == "NationalIdentifierNumber":
            ids.append(("national_id", clean(ind.text)))
        elif tag == "IMONumber":
            ids.append(("imo", clean(ind.text)))
        elif tag == "Location" and child_text(ind, "TownOfBirth") + child_text(
            ind, "CountryOfBirth"
        ):
            pobs.append(
                ", ".join(
                    v
                    for v in (child_text(ind, "TownOfBirth"), child_text(ind, "CountryOfBirth"))
                    if v
                )
            )
        elif tag == "Gender":
            extra["gender"] = clean(ind.text)
    addresses = []
    box = child(elem, "Addresses")
    for add in children(box, "Address") if box is not None else ():
        lines = [child_text(add, f"AddressLine{i}") for i in range(1, 7)]
        addr = {
            "street": ", ".join(v for v in lines[:5] if v),
            "city": lines[5],
            "city_postal": child_text(add, "AddressPostalCode"),
            "country": child_text(add, "AddressCountry"),
        }
        addr = {k: clean(v) for k, v in addr.items() if v}
        if addr:
            addresses.append(addr)
    kind = child_text(elem, "IndividualEntityShip")
    extra.update(
        {
            k: v
            for k, v in (
                ("ofsi_group_id", child_text(elem, "OFSIGroupID")),
                ("un_reference", child_text(elem, "UNReferenceNumber")),
                ("date_designated", child_text(elem, "DateDesignated")),
                ("sanctions_imposed", child_text(elem, "SanctionsImposed")),
            )
            if v
        }
    )
    return ListedEntity(
        list_code=list_code,
        uid=uid,
        entity_type=entity_type(kind),
        names=uniq(names),
        programs=uniq([child_text(elem, "RegimeName")]),
        remarks=clean(child_text(elem, "OtherInformation")),
        dates_of_birth=uniq(dobs),
        places_of_birth=uniq(pobs),
        nationalities=uniq(nats),
        countries=uniq([entity_country(a.get("country")) for a in addresses]),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )


def parse_uk_conlist(
    path: str | os.PathLike[str], *, list_code: str = "uk", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse the OFSI ConList CSV (cp1252; one row per name, merged by Group ID)."""
    parsed = ParsedList(list_code=list_code, format="uk-conlist", files=[str(path)])
    parsed.entities = _conlist_entities(parsed, path, max_bytes)
    return parsed


def _conlist_entities(parsed: ParsedList, path, max_bytes: int) -> Iterator[ListedEntity]:
    name = display_name(path)
    reader = csv.reader(
        iter_text_lines(path, encodings=("utf-8", "cp1252"), max_bytes=max_bytes), strict=True
    )
    header: list[str] | None = None
    groups: dict[str, list[dict[str, str]]] = {}
    try:
        for row in reader:
            if not row or not any(row):
                continue
            if header is None:
                if row[0].strip().lower() == "last updated":
                    parsed.publication_date = _uk_date(row[1]) if len(row) > 1 else None
                    continue
                if not all(col in row for col in _CONLIST_REQUIRED):
                    raise ListParseError(
                        name,
                        f"line {reader.line_num}",
                        "header row with 'Name 6' and 'Group ID' expected (not a ConList file?)",
                    )
                header = [h.strip() for h in row]
                continue
            if len(row) == len(header) - 1 and header[0] == "":
                header = header[1:]  # header-only leading unnamed column
            if len(row) != len(header):
                raise ListParseError(
                    name,
                    f"line {reader.line_num}",
                    f"expected {len(header)} columns, found {len(row)}",
                )
            rec = dict(zip(header, (v.strip() for v in row), strict=True))
            if not rec["Group ID"]:
                raise ListParseError(name, f"line {reader.line_num}", "row without Group ID")
            groups.setdefault(rec["Group ID"], []).append(rec)
    except csv.Error as exc:
        raise ListParseError(name, f"line {reader.line_num}", f"malformed CSV ({exc})") from None
    if not groups:
        raise ListParseError(name, "", "file has no records")
    for gid, recs in groups.items():
        yield _group(gid, recs, parsed.list_code)


def _group(gid: str, recs: list[dict[str, str]], list_code: str) -> ListedEntity:
    names = []
    for r in sorted(recs, key=lambda r: r.get("Alias Type", "") != "Prime Alias"):
        full = clean(" ".join(r.get(f"Name {i}", "") for i in (1, 2, 3, 4, 5, 6)))
        if full:
            kind = (
                "primary"
                if r.get("Alias Type") == "Prime Alias"
                else ("weak" if "weak" in r.get("Alias Type", "").lower() else "aka")
            )
            names.append(ListedName(full, kind, script_of(full)))
    if names and not any(n.kind == "primary" for n in names):
        names[0] = ListedName(names[0].name, "primary", names[0].script)
    first = recs[0]
    addresses = []
    for r in recs:
        addr = {
            "street": ", ".join(v for v in (r.get(f"Address {i}", "") for i in range(1, 6)) if v),
            "city": " ".join(v for v in (r.get("Address 6", ""), r.get("Post/Zip Code", "")) if v),
            "country": r.get("Country", ""),
        }
        addr = {k: clean(v) for k, v in addr.items() if v}
        if addr and addr not in addresses:
            addresses.append(addr)
    dobs = [d for r in recs for d in parse_date(r.get("DOB", ""))]
    pobs = [
        ", ".join(v for v in (r.get("Town of Birth", ""), r.get("Country of Birth", "")) if v)
        for r in recs
    ]
    nats = [clean(n) for r in recs for n in _numbered(r.get("Nationality", ""))]
    ids = [("passport", clean(r["Passport Details"])) for r in recs if r.get("Passport Details")]
    ids += [("national_id", clean(r["NI Number"])) for r in recs if r.get("NI Number")]
    extra = {
        k: v
        for k, v in (
            ("title", first.get("Title", "")),
            ("position", first.get("Position", "")),
            ("listed_on", first.get("Listed On", "")),
            ("last_updated", first.get("Last Updated", "")),
        )
        if v
    }
    return ListedEntity(
        list_code=list_code,
        uid=gid,
        entity_type=entity_type(first.get("Group Type", "")),
        names=uniq(names),
        programs=uniq([r.get("Regime", "") for r in recs]),
        remarks=clean(first.get("Other Information", "")),
        dates_of_birth=uniq(dobs),
        places_of_birth=uniq(pobs),
        nationalities=uniq(nats),
        countries=uniq([entity_country(a.get("country")) for a in addresses]),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )


def _numbered(value: str) -> list[str]:
    """'1) Saudi Arabia 2) Qatar' -> ['Saudi Arabia', 'Qatar']."""
    import re

    parts = [p.strip() for p in re.split(r"\s*\d+\)\s*", value) if p.strip()]
    return parts
