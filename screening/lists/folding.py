"""Folding names for search (pure): ASCII transliteration, lower case, single spaces."""

from __future__ import annotations

import re

from anyascii import anyascii

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(name: str) -> str:
    """'Forces Démocratiques' -> 'forces democratiques'; Arabic/Cyrillic are transliterated."""
    return _NON_ALNUM.sub(" ", anyascii(name).lower()).strip()
