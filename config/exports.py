"""Helpers shared by every file export (SAR drafts, batch reports, the query log)."""

from __future__ import annotations


def csv_cell(value: object) -> str:
    """A cell as a spreadsheet shows it as text: one starting with `=`, `+`, `-`, `@`, a
    tab or a carriage return gets a leading apostrophe, so a value like `=HYPERLINK(...)`
    is never run as a formula (OWASP: CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
