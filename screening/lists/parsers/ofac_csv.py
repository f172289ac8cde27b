"""OFAC legacy CSV sets: sdn.csv / cons_prim.csv with alt, add and comments files.

Quirks handled: no header, `-0- ` nulls, CRLF, a final `\\x1A` line, several programs in
one field (`SDGT] [IRGC`), remarks carrying DOB/POB/IDs/weak aliases, remarks cut at
1,000 characters and continued in the comments file. Secondary files are joined by
`ent_num`; rows pointing to an entity absent from the primary file are ignored.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from ..records import ListedEntity, ListedName
from .base import ParsedList
from .common import clean, entity_country, entity_type, script_of, uniq
from .errors import ListParseError
from .ofac_common import parse_remarks, programs
from .source import DEFAULT_MAX_BYTES, display_name, iter_text_lines

NULL = "-0-"
PRIMARY_COLUMNS = 12
_SET_FILES = {
    "primary": ("sdn.csv", "cons_prim.csv"),
    "alt": ("alt.csv", "cons_alt.csv"),
    "add": ("add.csv", "cons_add.csv"),
    "comments": ("sdn_comments.csv", "cons_comments.csv"),
}
_ALIAS_KINDS = {"aka": "aka", "fka": "fka", "nka": "nka"}


def find_csv_set(path: str | os.PathLike[str]) -> dict[str, Path]:
    """Locate the files of a CSV set: a folder (sdn/alt/add/comments) or a single file."""
    p = Path(path)
    if p.is_file():
        return {"primary": p}
    if not p.is_dir():
        raise ListParseError(display_name(p), "", "no such file or folder")
    found: dict[str, Path] = {}
    for role, names in _SET_FILES.items():
        for name in names:
            for candidate in (p / name, p / f"{name}.gz"):
                if candidate.is_file():
                    found[role] = candidate
    if "primary" not in found:
        raise ListParseError(
            display_name(p), "", "folder has no sdn.csv or cons_prim.csv (OFAC CSV set expected)"
        )
    return found


def rows(
    path: Path, columns: int, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields with `-0-` as '') of one OFAC CSV file, column count enforced."""
    name = display_name(path)
    lines = iter_text_lines(path, encodings=("utf-8",), max_bytes=max_bytes)
    reader = csv.reader(lines, strict=True)
    seen = False
    try:
        for row in reader:
            if row == ["\x1a"] or not row or row == [""]:
                continue  # end-of-file marker and blank lines
            seen = True
            if len(row) != columns:
                raise ListParseError(
                    name,
                    f"line {reader.line_num}",
                    f"expected {columns} columns, found {len(row)} (truncated or not an OFAC "
                    f"{path.name} file?)",
                )
            yield reader.line_num, [("" if v.strip() == NULL else v.strip()) for v in row]
    except csv.Error as exc:
        raise ListParseError(name, f"line {reader.line_num}", f"malformed CSV ({exc})") from None
    if not seen:
        raise ListParseError(name, "", "file has no records")


def parse_ofac_csv(
    path: str | os.PathLike[str], *, list_code: str = "ofac-sdn", max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse an OFAC legacy CSV set (or a lone sdn.csv) into `ListedEntity` records."""
    files = find_csv_set(path)
    parsed = ParsedList(
        list_code=list_code, format="ofac-csv", files=[str(f) for f in files.values()]
    )
    parsed.entities = _entities(files, list_code, max_bytes)
    return parsed


def _entities(files: dict[str, Path], list_code: str, max_bytes: int) -> Iterator[ListedEntity]:
    # Secondary files are small next to the primary and must be joined by ent_num, so they
    # are read fully first; the primary is streamed.
    aliases: dict[str, list[ListedName]] = defaultdict(list)
    addresses: dict[str, list[dict]] = defaultdict(list)
    comments: dict[str, str] = {}
    if "alt" in files:
        for _, (ent, _alt, kind, name, _rem) in rows(files["alt"], 5, max_bytes=max_bytes):
            if name:
                aliases[ent].append(
                    ListedName(
                        name=name.strip(),
                        kind=_ALIAS_KINDS.get(kind.lower(), "aka"),
                        script=script_of(name),
                    )
                )
    if "add" in files:
        for _, (ent, _num, street, city, country, rem) in rows(
            files["add"], 6, max_bytes=max_bytes
        ):
            addr = {
                k: clean(v)
                for k, v in (
                    ("street", street),
                    ("city", city),
                    ("country", country),
                    ("remarks", rem),
                )
                if v
            }
            if addr:
                addresses[ent].append(addr)
    if "comments" in files:
        for _, (ent, text) in rows(files["comments"], 2, max_bytes=max_bytes):
            comments[ent] = comments.get(ent, "") + text
    for line, row in rows(files["primary"], PRIMARY_COLUMNS, max_bytes=max_bytes):
        ent, name, sdn_type, program, title, call_sign, vtype, tonnage, grt, flag, owner, rem = row
        if not ent.isdigit() or not name:
            raise ListParseError(
                display_name(files["primary"]),
                f"line {line}",
                f"ent_num {ent!r} / name {name!r} missing or not a number",
            )
        yield build_entity(
            list_code=list_code,
            uid=ent,
            name=name,
            sdn_type=sdn_type,
            program=program,
            title=title,
            remarks=rem + comments.get(ent, ""),
            aliases=aliases.get(ent, []),
            addresses=addresses.get(ent, []),
            vessel={
                "call_sign": call_sign,
                "type": vtype,
                "tonnage": tonnage,
                "grt": grt,
                "flag": flag,
                "owner": owner,
            },
        )


def build_entity(
    *,
    list_code: str,
    uid: str,
    name: str,
    sdn_type: str,
    program: str,
    title: str,
    remarks: str,
    aliases: list[ListedName],
    addresses: list[dict],
    vessel: dict,
) -> ListedEntity:
    """One SDN row plus its joined rows -> `ListedEntity` (remarks mined for facts)."""
    facts = parse_remarks(remarks)
    # Names and remarks are kept as published (only trimmed): a spacing correction by OFAC
    # is a change to the record and shows up in the delta.
    names = [ListedName(name=name.strip(), kind="primary", script=script_of(name))]
    names += aliases
    names += [ListedName(name=a, kind="weak", script=script_of(a)) for a in facts["aliases"]]
    ids = list(facts["ids"])
    if vessel.get("call_sign"):
        ids.append(("call_sign", clean(vessel["call_sign"])))
    extra: dict = {}
    if title:
        extra["title"] = clean(title)
    vessel_info = {k: clean(v) for k, v in vessel.items() if v}
    if vessel_info:
        extra["vessel"] = vessel_info
    if facts["gender"]:
        extra["gender"] = facts["gender"]
    if facts["linked_to"]:
        extra["linked_to"] = facts["linked_to"]
    countries = [entity_country(a.get("country", "")) for a in addresses] + facts["countries"]
    if vessel_info.get("flag"):
        countries.append(entity_country(vessel_info["flag"]))
    return ListedEntity(
        list_code=list_code,
        uid=uid,
        entity_type=entity_type(sdn_type),
        names=uniq(names),
        programs=programs(program),
        remarks=remarks.strip(),
        dates_of_birth=uniq(facts["dobs"]),
        places_of_birth=uniq(facts["pobs"]),
        nationalities=uniq(facts["nationalities"] + facts["citizenships"]),
        countries=uniq(countries),
        addresses=tuple(addresses),
        identifiers=uniq(ids),
        extra=extra,
    )
