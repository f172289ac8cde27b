"""Evaluate new transactions against rule versions (pure, no Django).

The caller stores the new transactions first, then loads each touched account's history
over `history_range()` and calls `evaluate_transactions`. For every new transaction the
engine evaluates the rule at that transaction *and* at every stored transaction whose
window it falls into (its `reach`): a late event therefore raises exactly the alerts a
brute-force query over the final stored data would raise at those anchors. Each
(rule version, anchor) pair is evaluated once per call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from monitoring.rules.findings import CtrReport, EvalContext, Finding, RuleConfig
from monitoring.rules.history import AccountHistory
from monitoring.rules.schema import TransactionEvent
from monitoring.rules.typologies import TYPOLOGIES


@dataclass(slots=True)
class EvaluationResult:
    """Alerts to raise and CTR report rows to (re)write."""

    findings: list[Finding] = field(default_factory=list)
    reports: list[CtrReport] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistoryNeeds:
    """What history a batch needs, relative to its earliest/latest new transaction."""

    rows_back: dt.timedelta  # full rows this far before the earliest new txn
    counts_back: dt.timedelta  # (time, amount) pairs this far back
    forward: dt.timedelta  # and this far after the latest (anchors re-evaluated)
    first_seen: bool  # whether rules need each account's first transaction ever


def history_needs(rules: Iterable[RuleConfig]) -> HistoryNeeds:
    """The history window that covers every anchor any rule may evaluate."""
    rows = counts = forward = dt.timedelta()
    first_seen = False
    for rule in rules:
        typology = TYPOLOGIES[rule.typology]
        if not typology.uses_history:
            continue
        # Anchors up to `reach` after a txn are re-evaluated and read `lookback` before
        # themselves, which is never earlier than lookback before the txn.
        rows = max(rows, typology.lookback(rule.params))
        if typology.count_lookback is not None:
            counts = max(counts, typology.count_lookback(rule.params))
            first_seen = True
        forward = max(forward, typology.reach(rule.params))
    return HistoryNeeds(rows, max(rows, counts), forward, first_seen)


def rows_lookback(
    transactions: Iterable[TransactionEvent],
    rules: Iterable[RuleConfig],
    *,
    late: bool,
    counts: AccountHistory | None = None,
) -> dt.timedelta:
    """Full-row history one account needs for these new transactions. A late batch (stored
    txns exist after it) re-evaluates later anchors of any kind, so it needs every rule's
    lookback; otherwise only rules for which some new txn can be an anchor count, judged by
    the anchor filter and, given `counts` (the account's (time, amount) history), by the
    rule's count prefilter."""
    back = dt.timedelta()
    transactions = list(transactions)
    for rule in rules:
        typology = TYPOLOGIES[rule.typology]
        if not typology.uses_history:
            continue
        lookback = typology.lookback(rule.params)
        if lookback <= back:
            continue
        if late or any(
            typology.anchor_filter(rule.params, t)
            and (
                counts is None
                or typology.count_prefilter is None
                or typology.count_prefilter(rule, t, counts)
            )
            for t in transactions
        ):
            back = lookback
    return back


def history_range(
    transactions: Sequence[TransactionEvent], rules: Iterable[RuleConfig]
) -> tuple[dt.timedelta, dt.timedelta]:
    """(back, forward): the widest history any rule needs around the new transactions."""
    needs = history_needs(rules)
    return needs.counts_back, needs.forward


def anchors_for(
    tx: TransactionEvent, history: AccountHistory, reach: dt.timedelta
) -> list[TransactionEvent]:
    """The new txn plus every stored txn whose rule window (length `reach`) contains it."""
    anchors = [tx]
    if reach > dt.timedelta():
        for other in history.between(tx.timestamp, tx.timestamp + reach, start_inclusive=True):
            if other.key != tx.key:
                anchors.append(other)
    return anchors


def evaluate_transactions(
    transactions: Sequence[TransactionEvent],
    histories: Mapping[str, AccountHistory],
    rules: Sequence[RuleConfig],
    context: EvalContext | None = None,
) -> EvaluationResult:
    """Run every rule over the new transactions; `histories` must already contain them."""
    context = context or EvalContext()
    result = EvaluationResult()
    report_keys: set[tuple] = set()
    plans = []
    for rule in rules:
        typology = TYPOLOGIES[rule.typology]
        reach = typology.reach(rule.params) if typology.uses_history else dt.timedelta()
        plans.append((rule, typology, reach, set()))
    max_reach = max((plan[2] for plan in plans), default=dt.timedelta())
    for tx in transactions:
        history = histories.get(tx.account_id) or AccountHistory(tx.account_id, [tx])
        # Stored txns whose windows this one falls into (non-empty only for late events).
        later = anchors_for(tx, history, max_reach)[1:] if max_reach else []
        for rule, typology, reach, seen in plans:
            anchors = [tx]
            if later and reach:
                limit = tx.timestamp + reach
                anchors.extend(a for a in later if a.timestamp <= limit)
            for anchor in anchors:
                if anchor.key in seen:
                    continue
                seen.add(anchor.key)
                if not typology.anchor_filter(rule.params, anchor):
                    continue
                # Same necessary condition the loader used to decide which rows to read.
                if typology.count_prefilter and not typology.count_prefilter(rule, anchor, history):
                    continue
                outcome = typology.evaluate(rule, anchor, history, context)
                if outcome is None:
                    continue
                if isinstance(outcome, CtrReport):
                    key = (rule.code, *outcome.key)
                    if key not in report_keys:  # same day already computed from same history
                        report_keys.add(key)
                        result.reports.append(outcome)
                else:
                    result.findings.append(outcome)
    return result


def evaluate_history(
    transactions: Iterable[TransactionEvent],
    rules: Sequence[RuleConfig],
    context: EvalContext | None = None,
    *,
    first_seen: Mapping[str, dt.datetime] | None = None,
) -> EvaluationResult:
    """Brute force: every stored transaction is an anchor over the complete history.

    This is the reference the streaming path must agree with, and what a backtest runs
    (account by account, so memory stays bounded by the largest account).
    """
    context = context or EvalContext()
    by_account: dict[str, list[TransactionEvent]] = {}
    for tx in transactions:
        by_account.setdefault(tx.account_id, []).append(tx)
    result = EvaluationResult()
    for account_id, txs in by_account.items():
        history = AccountHistory(account_id, txs, first_seen=(first_seen or {}).get(account_id))
        partial = evaluate_account(history, rules, context)
        result.findings.extend(partial.findings)
        result.reports.extend(partial.reports)
    return result


def evaluate_account(
    history: AccountHistory, rules: Sequence[RuleConfig], context: EvalContext
) -> EvaluationResult:
    """Every transaction of one account's complete history as an anchor, every rule."""
    result = EvaluationResult()
    for rule in rules:
        typology = TYPOLOGIES[rule.typology]
        reports: set[tuple] = set()
        for anchor in history.transactions:
            outcome = typology.evaluate(rule, anchor, history, context)
            if outcome is None:
                continue
            if isinstance(outcome, CtrReport):
                if outcome.key not in reports:
                    reports.add(outcome.key)
                    result.reports.append(outcome)
            else:
                result.findings.append(outcome)
    return result
