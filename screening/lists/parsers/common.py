"""Small normalisers shared by every parser (dates, whitespace, entity types)."""

from __future__ import annotations

import re
import unicodedata

from screening.matching.countries import country_code

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_WS = re.compile(r"\s+")


def clean(value: str | None) -> str:
    """Collapse whitespace; '' for None."""
    if not value:
        return ""
    return _WS.sub(" ", value).strip()


#: What publishers write where a country is unknown (OFAC addresses and vessel flags).
NO_COUNTRY = frozenset({"undetermined", "none identified", "unknown"})
_COUNTRY_NOTE = re.compile(r"\s*\(|\.\s")


def entity_country(value: str | None) -> str:
    """A published address country, flag or issuing country as one of the entity's
    countries (what the country qualifier compares with): "" for a placeholder ('None
    Identified'); the country alone when a note follows it ('Afghanistan (since 2009)',
    'Cabo Verde. Previously Cape Verde.'); otherwise the value as published (a region
    such as 'Region: Crimea' stays). Addresses keep their text as published."""
    value = clean(value)
    if value.lower() in NO_COUNTRY:
        return ""
    if country_code(value):
        return value
    head = _COUNTRY_NOTE.split(value, maxsplit=1)[0].strip().rstrip(".")
    return head if head != value and country_code(head) else value


def uniq(values) -> tuple:
    """Keep first occurrences, drop empties, preserve order (lists repeat themselves a lot)."""
    seen: dict = {}
    for v in values:
        if v and v not in seen:
            seen[v] = None
    return tuple(seen)


def script_of(name: str) -> str:
    """ISO 15924 code of the dominant script of a name (Latn when only ASCII/Latin)."""
    if name.isascii():
        return "Latn"
    counts: dict[str, int] = {}
    for ch in name:
        if not ch.isalpha():
            continue
        try:
            uname = unicodedata.name(ch)
        except ValueError:
            continue
        word = uname.split(" ", 1)[0]
        code = _SCRIPTS.get(word, "Latn" if word == "LATIN" else "Zyyy")
        counts[code] = counts.get(code, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else "Zyyy"


_SCRIPTS = {
    "ARABIC": "Arab",
    "CYRILLIC": "Cyrl",
    "CJK": "Hani",
    "HANGUL": "Hang",
    "HEBREW": "Hebr",
    "GREEK": "Grek",
    "THAI": "Thai",
    "DEVANAGARI": "Deva",
    "HIRAGANA": "Jpan",
    "KATAKANA": "Jpan",
    "GEORGIAN": "Geor",
    "ARMENIAN": "Armn",
    "ETHIOPIC": "Ethi",
    "MYANMAR": "Mymr",
    "KHMER": "Khmr",
    "TAMIL": "Taml",
    "BENGALI": "Beng",
}


def parse_date(value: str) -> tuple[str, ...]:
    """Free-text dates as published -> ISO dates, partial allowed (YYYY, YYYY-MM, YYYY-MM-DD).

    Handles `31 Aug 1960`, `Aug 1960`, `1960`, `circa 1960`, `1960 to 1965` (both ends),
    `1960-08-31`, `31/08/1960` and `dd/mm/1960` / `00/00/1960` placeholders. Unreadable
    values yield nothing rather than a wrong date.
    """
    v = clean(value).lower().removeprefix("circa ").removeprefix("approximately ")
    if not v:
        return ()
    if " to " in v:
        out: list[str] = []
        for part in v.split(" to ", 1):
            out.extend(parse_date(part))
        return tuple(out)
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:t.*)?", v)
    if m:
        return (_iso(m.group(1), m.group(2), m.group(3)),)
    m = re.fullmatch(r"(\d{1,2}|dd|00)[/.](\d{1,2}|mm|00)[/.](\d{4})", v)
    if m:
        day, month, year = m.groups()
        return (
            _iso(
                year,
                month if month.isdigit() and int(month) else None,
                day if day.isdigit() and int(day) else None,
            ),
        )
    m = re.fullmatch(r"(?:(\d{1,2}) )?([a-z]{3})[a-z]*\.? (\d{4})", v)
    if m and m.group(2) in _MONTHS:
        return (_iso(m.group(3), str(_MONTHS[m.group(2)]), m.group(1)),)
    return ()


def _iso(year: str, month: str | None, day: str | None) -> str:
    if month and 1 <= int(month) <= 12:
        if day and 1 <= int(day) <= 31:
            return f"{year}-{int(month):02d}-{int(day):02d}"
        return f"{year}-{int(month):02d}"
    return year


def entity_type(value: str) -> str:
    """Source type labels -> person | organisation | vessel | aircraft | unknown."""
    v = clean(value).lower()
    if v in {"individual", "person", "p"}:
        return "person"
    if v in {"", "-0-", "entity", "enterprise", "e", "organisation", "organization"}:
        return "organisation"
    if v in {"vessel", "ship"}:
        return "vessel"
    if v == "aircraft":
        return "aircraft"
    return "unknown"
