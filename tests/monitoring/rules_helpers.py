"""Helpers for the pure rule tests: build events and run the engine in memory."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from monitoring.rules.engine import evaluate_history, evaluate_transactions, history_range
from monitoring.rules.findings import EvalContext, RuleConfig
from monitoring.rules.history import AccountHistory
from monitoring.rules.schema import TransactionEvent
from monitoring.rules.typologies import TYPOLOGIES

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
_ids = itertools.count(1)


def tx(
    *,
    at: dt.timedelta | dt.datetime = dt.timedelta(),
    amount: str | int = "100.00",
    direction: str = "in",
    channel: str = "wire",
    account: str = "A1",
    cp_name: str = "Someone",
    cp_account: str = "",
    cp_country: str = "US",
    origin: str = "US",
    extra: dict | None = None,
) -> TransactionEvent:
    n = next(_ids)
    return TransactionEvent(
        id=f"t{n}",
        timestamp=at if isinstance(at, dt.datetime) else T0 + at,
        account_id=account,
        customer_id=f"C-{account}",
        amount=Decimal(str(amount)),
        currency="USD",
        direction=direction,
        channel=channel,
        counterparty_name=cp_name,
        counterparty_account=cp_account or f"CP-{n}",
        counterparty_country=cp_country,
        origin_country=origin,
        extra=extra or {},
    )


def rule(typology: str, **params) -> RuleConfig:
    t = TYPOLOGIES[typology]
    return RuleConfig(
        code=t.code,
        typology=typology,
        version=1,
        params={**t.defaults, **params},
        severity=t.default_severity,
    )


def stream(
    events: Sequence[TransactionEvent],
    rules: Sequence[RuleConfig],
    context: EvalContext | None = None,
    batch: int = 1,
):
    """Feed events in the given arrival order, as the consumer does: store, load, evaluate."""
    stored: list[TransactionEvent] = []
    findings, reports = [], {}
    for i in range(0, len(events), batch):
        new = list(events[i : i + batch])
        stored.extend(new)
        back, forward = history_range(new, rules)
        lo = min(t.timestamp for t in new) - back
        hi = max(t.timestamp for t in new) + forward
        histories = {}
        for account in {t.account_id for t in new}:
            mine = [t for t in stored if t.account_id == account]
            histories[account] = AccountHistory(
                account,
                [t for t in mine if lo <= t.timestamp <= hi],
                first_seen=min(t.timestamp for t in mine),
            )
        result = evaluate_transactions(new, histories, rules, context)
        findings.extend(result.findings)
        for report in result.reports:
            reports[(report.rule_code, *report.key)] = report
    return findings, reports


def alert_keys(findings: Iterable) -> set[tuple[str, str]]:
    return {(f.rule.code, f.anchor.id) for f in findings}


def brute_force(events, rules, context=None):
    return evaluate_history(events, rules, context)
