"""What a rule evaluation produces: findings (alerts), CTR reports, and the context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitoring.rules.jurisdictions import DEFAULT_JURISDICTIONS, JurisdictionLists
from monitoring.rules.schema import TransactionEvent

SEVERITIES = ("low", "medium", "high", "critical")
_SEVERITY_BASE = {"low": 25, "medium": 45, "high": 65, "critical": 80}

# screen(name, country) -> hits, each a mapping with at least "score" (0..1), "list",
# "uid" and "name". Injected so rules stay pure and tests can pass a fake.
ScreenFn = Callable[[str, str], list[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One rule version as the engine sees it: typology + parameters + identity."""

    code: str
    typology: str
    version: int
    params: Mapping[str, Any]
    severity: str = "medium"
    version_id: Any = None  # database id of the RuleVersion, opaque here


@dataclass(frozen=True, slots=True)
class Comparison:
    """One observed value compared with its threshold (a row of the trace table)."""

    measure: str
    observed: Any
    operator: str
    threshold: Any
    met: bool


@dataclass(slots=True)
class Finding:
    """A rule that fired at an anchor transaction."""

    rule: RuleConfig
    anchor: TransactionEvent
    window_start: dt.datetime | None
    window_end: dt.datetime
    comparisons: list[Comparison]
    contributing: list[TransactionEvent]
    severity: str
    decision: str
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def subject_account(self) -> str:
        return self.anchor.account_id

    @property
    def contributing_total(self) -> Decimal:
        return sum((t.amount for t in self.contributing), Decimal(0))

    @property
    def priority(self) -> int:
        """0-100: severity base, plus money involved (log-ish steps), plus breadth."""
        score = _SEVERITY_BASE.get(self.severity, 45)
        total = self.contributing_total or self.anchor.amount
        for step in (10_000, 50_000, 250_000, 1_000_000):
            if total >= step:
                score += 4
        score += min(4, len(self.contributing) // 5)
        return max(0, min(100, score))


@dataclass(frozen=True, slots=True)
class CtrReport:
    """Cash activity of one account on one business day above the CTR threshold."""

    account_id: str
    customer_id: str
    business_day: dt.date
    cash_in: Decimal
    cash_out: Decimal
    transaction_keys: tuple[tuple[str, str], ...]
    rule_code: str
    rule_version: int

    @property
    def key(self) -> tuple[str, dt.date]:
        return (self.account_id, self.business_day)


@dataclass(slots=True)
class EvalContext:
    """Everything outside the account history a rule may consult."""

    screen: ScreenFn | None = None
    jurisdictions: JurisdictionLists = DEFAULT_JURISDICTIONS
