"""FATF jurisdiction lists as versioned reference data (pure, no Django).

FATF publishes two lists after each plenary (February, June, October): the *call for
action* list (black list) and the *increased monitoring* list (grey list). A transaction is
judged against the version in force at its transaction time, so a backtest over old
history uses the lists that applied then. The database copy (monitoring.JurisdictionList)
is seeded from `DEFAULT_FATF_VERSIONS` and can be extended without a code change.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

CALL_FOR_ACTION = "call_for_action"
INCREASED_MONITORING = "increased_monitoring"


@dataclass(frozen=True, slots=True)
class JurisdictionListVersion:
    """One publication of both FATF lists, in force from `effective_from` (inclusive)."""

    version: str
    effective_from: dt.date
    call_for_action: frozenset[str]
    increased_monitoring: frozenset[str]
    source: str = ""

    def classify(self, country: str) -> str | None:
        if country in self.call_for_action:
            return CALL_FOR_ACTION
        if country in self.increased_monitoring:
            return INCREASED_MONITORING
        return None


class JurisdictionLists:
    """All known versions; `at(ts)` gives the version in force at a transaction time."""

    def __init__(self, versions: Iterable[JurisdictionListVersion]):
        self.versions = sorted(versions, key=lambda v: v.effective_from)
        self._starts = [v.effective_from for v in self.versions]

    def at(self, when: dt.datetime | dt.date) -> JurisdictionListVersion | None:
        day = when.astimezone(dt.UTC).date() if isinstance(when, dt.datetime) else when
        index = bisect.bisect_right(self._starts, day) - 1
        if index < 0:
            # Older history than any version we hold: use the oldest rather than nothing,
            # and the trace records which version was applied.
            return self.versions[0] if self.versions else None
        return self.versions[index]


_BLACK = frozenset({"KP", "IR", "MM"})
DEFAULT_FATF_VERSIONS: tuple[JurisdictionListVersion, ...] = (
    JurisdictionListVersion(
        version="FATF-2025-06",
        effective_from=dt.date(2025, 6, 13),
        call_for_action=_BLACK,
        increased_monitoring=frozenset(
            {
                "DZ",
                "AO",
                "BO",
                "BG",
                "BF",
                "CM",
                "CI",
                "CD",
                "HT",
                "KE",
                "LA",
                "LB",
                "MC",
                "MZ",
                "NA",
                "NP",
                "NG",
                "ZA",
                "SS",
                "SY",
                "VE",
                "VN",
                "VG",
                "YE",
            }
        ),
        source="FATF public statement and 'Jurisdictions under increased monitoring', 13 June 2025",
    ),
    JurisdictionListVersion(
        version="FATF-2025-10",
        effective_from=dt.date(2025, 10, 24),
        call_for_action=_BLACK,
        increased_monitoring=frozenset(
            {
                "DZ",
                "AO",
                "BO",
                "BG",
                "CM",
                "CI",
                "CD",
                "HT",
                "KE",
                "LA",
                "LB",
                "MC",
                "NA",
                "NP",
                "SS",
                "SY",
                "VE",
                "VN",
                "VG",
                "YE",
            }
        ),
        source="FATF public statement and 'Jurisdictions under increased monitoring', "
        "24 October 2025",
    ),
)

DEFAULT_JURISDICTIONS = JurisdictionLists(DEFAULT_FATF_VERSIONS)
