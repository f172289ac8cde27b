"""Streaming parsers for every supported list format, all producing `ListedEntity`.

`parse_list(source, path)` picks the parser from the source code and the file itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import ParsedList
from .errors import ListParseError
from .eu import parse_eu
from .ofac_advanced import parse_ofac_advanced
from .ofac_csv import parse_ofac_csv
from .ofac_xml import parse_ofac_xml
from .source import DEFAULT_MAX_BYTES, display_name, open_limited
from .uk import parse_uk_conlist, parse_uk_xml
from .un import parse_un

SOURCES = ("ofac-sdn", "ofac-cons", "un", "uk", "eu")

__all__ = [
    "SOURCES",
    "ListParseError",
    "ParsedList",
    "detect_format",
    "parse_list",
]


def detect_format(source: str, path: str | os.PathLike[str]) -> str:
    """Which parser to use for `path` of list `source` (by folder, extension and first bytes)."""
    p = Path(path)
    if source not in SOURCES:
        raise ListParseError(
            display_name(p), "", f"unknown list source {source!r}; one of {', '.join(SOURCES)}"
        )
    if p.is_dir():
        if source.startswith("ofac"):
            return "ofac-csv"
        raise ListParseError(
            display_name(p), "", f"a folder is only accepted for OFAC CSV sets, not {source}"
        )
    with open_limited(p, max_bytes=DEFAULT_MAX_BYTES * 8) as fh:
        head = fh.read(4096)
    is_xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    if source.startswith("ofac"):
        if not is_xml:
            return "ofac-csv"
        return "ofac-advanced-xml" if b"<Sanctions" in head else "ofac-xml"
    if source == "un":
        return "un-xml"
    if source == "eu":
        return "eu-fsf"
    return "uk-xml" if is_xml else "uk-conlist"


_PARSERS = {
    "ofac-csv": parse_ofac_csv,
    "ofac-xml": parse_ofac_xml,
    "ofac-advanced-xml": parse_ofac_advanced,
    "un-xml": parse_un,
    "uk-xml": parse_uk_xml,
    "uk-conlist": parse_uk_conlist,
    "eu-fsf": parse_eu,
}


def parse_list(
    source: str, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> ParsedList:
    """Parse a list publication of `source` at `path` (file or OFAC CSV folder)."""
    fmt = detect_format(source, path)
    return _PARSERS[fmt](path, list_code=source, max_bytes=max_bytes)
