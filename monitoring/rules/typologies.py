"""The shipped typologies T1-T9 plus counterparty sanctions hits (pure, no Django).

Each typology evaluates one *anchor* transaction against the stored history of its account
in a window that ends at the anchor's transaction time: (anchor - window, anchor]. Whether
an anchor alerts therefore depends only on the stored transactions, never on arrival
order. `lookback` says how much history before an anchor a rule reads; `reach` says how far
after its own time a transaction can make a rule fire, so the engine re-evaluates later
anchors when a late event lands inside their windows. Default parameters and their basis
are in docs/monitoring.md and /reference typologies table.

Velocity rules are *edge-triggered*: they fire at the transaction that crosses a threshold
(the condition holds with it and not without it), so a busy day yields one alert, not one
per transaction; the decision is still a pure function of the stored rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitoring.rules.findings import (
    Comparison,
    CtrReport,
    EvalContext,
    Finding,
    RuleConfig,
)
from monitoring.rules.history import AccountHistory
from monitoring.rules.jurisdictions import CALL_FOR_ACTION
from monitoring.rules.schema import TransactionEvent

D = Decimal
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

Evaluator = Callable[
    [RuleConfig, TransactionEvent, AccountHistory, EvalContext], "Finding | CtrReport | None"
]


@dataclass(frozen=True, slots=True)
class Typology:
    """A kind of rule: its defaults, how far it looks back/forward, and its evaluator."""

    key: str
    code: str
    title: str
    defaults: Mapping[str, Any]
    default_severity: str
    lookback: Callable[[Mapping[str, Any]], dt.timedelta]
    reach: Callable[[Mapping[str, Any]], dt.timedelta]
    evaluate: Evaluator
    count_lookback: Callable[[Mapping[str, Any]], dt.timedelta] | None = None
    # Cheap necessary condition for a txn to be an anchor (the evaluator checks it again):
    # lets the engine skip evaluations and the loader skip long history it cannot need.
    anchor_filter: Callable[[Mapping[str, Any], TransactionEvent], bool] = lambda p, t: True
    # Necessary condition judged from counts and sums only (no full rows): lets the loader
    # skip reading rows for anchors that cannot fire. Must never reject a firing anchor.
    count_prefilter: Callable[[RuleConfig, TransactionEvent, AccountHistory], bool] | None = None
    produces: str = "alert"  # alert | report
    basis: str = ""
    uses_history: bool = True


class ParameterError(ValueError):
    """Rule parameters are invalid; `errors` maps each parameter to the problem."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))


def _num(params: Mapping[str, Any], name: str) -> Decimal:
    return D(str(params[name]))


def _day_start(ts: dt.datetime) -> dt.datetime:
    # Business day = calendar day in UTC (documented); banks with a cut-off time can
    # shift timestamps at ingestion.
    return dt.datetime.combine(ts.astimezone(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)


def _money(value: Decimal) -> str:
    return f"{value.quantize(D('0.01'))}"


def _state(history: AccountHistory, anchor: TransactionEvent, since: dt.datetime) -> dict:
    window = history.between(since, anchor.timestamp)
    total_in = sum((t.amount for t in window if t.direction == "in"), D(0))
    total_out = sum((t.amount for t in window if t.direction == "out"), D(0))
    return {
        "account_id": anchor.account_id,
        "customer_id": anchor.customer_id,
        "first_seen": history.first_seen.isoformat() if history.first_seen else None,
        "window_tx_count": len(window),
        "window_in_total": _money(total_in),
        "window_out_total": _money(total_out),
    }


def _finding(
    rule: RuleConfig,
    anchor: TransactionEvent,
    history: AccountHistory,
    *,
    start: dt.datetime | None,
    comparisons: list[Comparison],
    contributing: list[TransactionEvent],
    decision: str,
    severity: str | None = None,
    extra_state: dict | None = None,
) -> Finding:
    state = _state(history, anchor, start or anchor.timestamp - DAY)
    if extra_state:
        state.update(extra_state)
    return Finding(
        rule=rule,
        anchor=anchor,
        window_start=start,
        window_end=anchor.timestamp,
        comparisons=comparisons,
        contributing=contributing,
        severity=severity or rule.severity,
        decision=decision,
        state=state,
    )


# --- T1 structuring -------------------------------------------------------------------

T1_DEFAULTS = {
    "channels": ["cash"],
    "band_min": "8000",
    "band_max": "10000",
    "day_min_count": 2,
    "day_total_over": "10000",
    "week_days": 7,
    "week_min_count": 3,
    "week_total_min": "10000",
}


def evaluate_structuring(rule, anchor, history, ctx):
    """Cash just below the CTR threshold: >=2 in a business day totalling > $10,000, or
    >=3 in 7 days totalling >= $10,000, each in [$8,000, $10,000)."""
    p = rule.params
    low, high = _num(p, "band_min"), _num(p, "band_max")
    channels = set(p["channels"])

    def in_band(t: TransactionEvent) -> bool:
        return t.channel in channels and low <= t.amount < high

    if not in_band(anchor):
        return None
    day_start = _day_start(anchor.timestamp)
    day = [
        t for t in history.between(day_start, anchor.timestamp, start_inclusive=True) if in_band(t)
    ]
    week_start = anchor.timestamp - DAY * int(p["week_days"])
    week = [t for t in history.between(week_start, anchor.timestamp) if in_band(t)]
    day_total = sum((t.amount for t in day), D(0))
    week_total = sum((t.amount for t in week), D(0))
    day_hit = len(day) >= int(p["day_min_count"]) and day_total > _num(p, "day_total_over")
    week_hit = len(week) >= int(p["week_min_count"]) and week_total >= _num(p, "week_total_min")
    if not (day_hit or week_hit):
        return None
    comparisons = [
        Comparison(
            "in-band cash txns today",
            len(day),
            ">=",
            int(p["day_min_count"]),
            len(day) >= int(p["day_min_count"]),
        ),
        Comparison(
            "in-band cash total today",
            _money(day_total),
            ">",
            p["day_total_over"],
            day_total > _num(p, "day_total_over"),
        ),
        Comparison(
            f"in-band cash txns {p['week_days']}d",
            len(week),
            ">=",
            int(p["week_min_count"]),
            len(week) >= int(p["week_min_count"]),
        ),
        Comparison(
            f"in-band cash total {p['week_days']}d",
            _money(week_total),
            ">=",
            p["week_total_min"],
            week_total >= _num(p, "week_total_min"),
        ),
    ]
    which = "same business day" if day_hit else f"{p['week_days']} days"
    return _finding(
        rule,
        anchor,
        history,
        start=day_start if day_hit and not week_hit else week_start,
        comparisons=comparisons,
        contributing=week if week_hit else day,
        decision=f"alert: cash deposits/withdrawals in [{low}, {high}) split over {which}",
    )


# --- T2 funnel (many to one) ------------------------------------------------------------

T2_DEFAULTS = {
    "window_days": 7,
    "per_tx_max": "3000",
    "min_originators": 5,
    "min_total": "10000",
    "outflow_hours": 72,
    "outflow_ratio": "0.8",
}


def evaluate_funnel(rule, anchor, history, ctx):
    """Many originators each below $3,000 into one account within 7 days, total >=
    $10,000; raised to high when a cross-border outflow >= 80% follows within 72 h."""
    p = rule.params
    per_tx_max = _num(p, "per_tx_max")
    window = DAY * int(p["window_days"])
    outflow_window = HOUR * int(p["outflow_hours"])

    def small_in(t: TransactionEvent) -> bool:
        return t.direction == "in" and t.amount < per_tx_max

    cross_border_out = (
        anchor.direction == "out"
        and anchor.counterparty_country
        and anchor.origin_country
        and anchor.counterparty_country != anchor.origin_country
    )
    if not (small_in(anchor) or cross_border_out):
        return None
    start = anchor.timestamp - window - (outflow_window if cross_border_out else dt.timedelta())
    inflows = [t for t in history.between(start, anchor.timestamp) if small_in(t)]
    if cross_border_out and (
        not inflows or inflows[-1].timestamp < anchor.timestamp - outflow_window
    ):
        return None
    originators = {t.counterparty_account or t.counterparty_name for t in inflows}
    total = sum((t.amount for t in inflows), D(0))
    if len(originators) < int(p["min_originators"]) or total < _num(p, "min_total"):
        return None
    comparisons = [
        Comparison("distinct originators", len(originators), ">=", int(p["min_originators"]), True),
        Comparison("inbound total (each < per_tx_max)", _money(total), ">=", p["min_total"], True),
    ]
    severity = None
    decision = "alert: funds from many originators funnelled into one account"
    contributing = list(inflows)
    if cross_border_out:
        ratio = anchor.amount / total
        met = ratio >= _num(p, "outflow_ratio")
        if not met:
            return None
        comparisons.append(
            Comparison(
                "cross-border outflow / inbound", f"{ratio:.3f}", ">=", p["outflow_ratio"], True
            )
        )
        severity = "high"
        decision = "alert (escalated): funnelled funds sent abroad"
        contributing.append(anchor)
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=comparisons,
        contributing=contributing,
        decision=decision,
        severity=severity,
        extra_state={"originators": len(originators)},
    )


# --- T3 rapid pass-through ------------------------------------------------------------

T3_DEFAULTS = {
    "window_hours": 48,
    "min_inbound": "5000",
    "out_ratio": "0.9",
    "max_balance_ratio": "0.1",
}


def evaluate_pass_through(rule, anchor, history, ctx):
    """Money in and straight out: outbound >= 90% of inbound within 48 h, inbound >=
    $5,000; when the feed reports `balance_after`, it must be <= 10% of inbound."""
    p = rule.params
    if anchor.direction != "out":
        return None
    start = anchor.timestamp - HOUR * int(p["window_hours"])
    window = history.before(anchor)
    window = [t for t in window if t.timestamp > start]
    inflows = [t for t in window if t.direction == "in"]
    if not inflows:
        return None
    first_in = inflows[0].timestamp
    outflows = [t for t in window if t.direction == "out" and t.timestamp >= first_in]
    total_in = sum((t.amount for t in inflows), D(0))
    total_out = sum((t.amount for t in outflows), D(0))
    if total_in < _num(p, "min_inbound") or total_out < total_in * _num(p, "out_ratio"):
        return None
    comparisons = [
        Comparison(f"inbound {p['window_hours']}h", _money(total_in), ">=", p["min_inbound"], True),
        Comparison("outbound / inbound", f"{total_out / total_in:.3f}", ">=", p["out_ratio"], True),
    ]
    balance = anchor.extra.get("balance_after")
    if balance is not None:
        try:
            balance_value = D(str(balance))
        except ArithmeticError:
            balance_value = None
        if balance_value is not None:
            met = balance_value <= total_in * _num(p, "max_balance_ratio")
            comparisons.append(
                Comparison(
                    "balance after / inbound",
                    f"{balance_value / total_in:.3f}",
                    "<=",
                    p["max_balance_ratio"],
                    met,
                )
            )
            if not met:
                return None
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=comparisons,
        contributing=inflows + outflows,
        decision="alert: funds passed through the account within hours",
    )


# --- T4a absolute velocity ------------------------------------------------------------

T4A_DEFAULTS = {"window_hours": 24, "max_count": 10, "max_total": "20000"}


def evaluate_velocity(rule, anchor, history, ctx):
    """Count >= 10 or sum >= $20,000 in 24 h on one account; fires at the crossing txn."""
    p = rule.params
    start = anchor.timestamp - HOUR * int(p["window_hours"])
    count, total = history.count_sum(start, anchor.timestamp)
    max_count, max_total = int(p["max_count"]), _num(p, "max_total")
    count_hit = count >= max_count and count - 1 < max_count
    total_hit = total >= max_total and total - anchor.amount < max_total
    if not (count_hit or total_hit):
        return None
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=[
            Comparison(f"txns in {p['window_hours']}h", count, ">=", max_count, count >= max_count),
            Comparison(
                f"total in {p['window_hours']}h",
                _money(total),
                ">=",
                p["max_total"],
                total >= max_total,
            ),
        ],
        contributing=history.between(start, anchor.timestamp),
        decision="alert: velocity threshold crossed by this transaction",
    )


# --- T4b spike against the account's own baseline --------------------------------------

T4B_DEFAULTS = {
    "recent_days": 3,
    "baseline_days": 180,
    "multiplier": "2",
    "min_count": 3,
    "min_baseline_count": 3,
    "min_baseline_days": 30,
    "min_recent_total": "10000",
}


def evaluate_spike(rule, anchor, history, ctx):
    """Daily count or sum over the last 3 days > 2x the daily average of the prior 180
    days (at least 3 recent txns totalling >= min_recent_total, and >= 30 days of baseline);
    fires at the crossing. The materiality floor keeps pay days from looking like spikes."""
    p = rule.params
    recent_days, base_days = int(p["recent_days"]), int(p["baseline_days"])
    recent_start = anchor.timestamp - DAY * recent_days
    base_start = recent_start - DAY * base_days
    r_count, r_sum = history.count_sum(recent_start, anchor.timestamp)
    b_count, b_sum = history.count_sum(base_start, recent_start)
    multiplier = _num(p, "multiplier")
    # A young account's average is taken over the days it has existed, not 180: dividing a
    # 40-day history by 180 would make every account look like it is spiking.
    if history.first_seen is None or history.first_seen > recent_start:
        return None
    base_days = min(base_days, (recent_start - history.first_seen).days)
    if base_days < int(p["min_baseline_days"]):
        return None

    def hit(count: int, total: Decimal) -> tuple[bool, bool]:
        if count < int(p["min_count"]) or b_count < int(p["min_baseline_count"]):
            return False, False
        if total < _num(p, "min_recent_total"):
            return False, False
        by_count = D(count) / recent_days > multiplier * D(b_count) / base_days
        by_sum = total / recent_days > multiplier * b_sum / base_days
        return by_count, by_sum

    by_count, by_sum = hit(r_count, r_sum)
    if not (by_count or by_sum):
        return None
    before = hit(r_count - 1, r_sum - anchor.amount)
    if (by_count and before[0]) or (by_sum and before[1]) or (before[0] or before[1]):
        return None  # already above baseline before this transaction: not the crossing
    return _finding(
        rule,
        anchor,
        history,
        start=recent_start,
        comparisons=[
            Comparison(
                f"txns/day last {recent_days}d",
                f"{D(r_count) / recent_days:.2f}",
                ">",
                f"{multiplier * D(b_count) / base_days:.2f}",
                by_count,
            ),
            Comparison(
                f"amount/day last {recent_days}d",
                _money(r_sum / recent_days),
                ">",
                _money(multiplier * b_sum / base_days),
                by_sum,
            ),
            Comparison(f"txns last {recent_days}d", r_count, ">=", int(p["min_count"]), True),
            Comparison(
                f"total last {recent_days}d", _money(r_sum), ">=", p["min_recent_total"], True
            ),
        ],
        contributing=history.between(recent_start, anchor.timestamp),
        decision="alert: activity spike against the account's own baseline",
        extra_state={"baseline_count": b_count, "baseline_total": _money(b_sum)},
    )


# --- T5 high-risk jurisdiction --------------------------------------------------------

T5_DEFAULTS = {
    "call_for_action_severity": "high",
    "increased_monitoring_severity": "medium",
    "extra_country_fields": ["beneficiary_country", "originator_country"],
}


def evaluate_jurisdiction(rule, anchor, history, ctx):
    """Counterparty, origin, originator or beneficiary country on the FATF call-for-action
    list (high) or the increased-monitoring list (medium), as in force at txn time."""
    p = rule.params
    lists = ctx.jurisdictions.at(anchor.timestamp)
    if lists is None:
        return None
    countries = {
        "counterparty_country": anchor.counterparty_country,
        "origin_country": anchor.origin_country,
    }
    for name in p.get("extra_country_fields", []):
        value = anchor.extra.get(name)
        if isinstance(value, str):
            countries[name] = value.upper()
    hits = {name: (c, lists.classify(c)) for name, c in countries.items() if c}
    hits = {name: v for name, v in hits.items() if v[1]}
    if not hits:
        return None
    black = any(kind == CALL_FOR_ACTION for _, kind in hits.values())
    severity = p["call_for_action_severity"] if black else p["increased_monitoring_severity"]
    comparisons = [
        Comparison(name, country, "in", f"FATF {kind.replace('_', ' ')} ({lists.version})", True)
        for name, (country, kind) in sorted(hits.items())
    ]
    return _finding(
        rule,
        anchor,
        history,
        start=None,
        comparisons=comparisons,
        contributing=[anchor],
        severity=severity,
        decision="alert: high-risk jurisdiction involved",
        extra_state={"fatf_version": lists.version},
    )


# --- T6 round amounts -----------------------------------------------------------------

T6_DEFAULTS = {
    "window_days": 30,
    "min_count": 3,
    "min_amount": "5000",
    "modulus": "1000",
    "channels": ["wire", "ach", "rtp", "sepa", "internal", "check", "crypto"],
}


def evaluate_round_amounts(rule, anchor, history, ctx):
    """>= 3 transfers in 30 days each >= $5,000 and a multiple of $1,000."""
    p = rule.params
    min_amount, modulus = _num(p, "min_amount"), _num(p, "modulus")
    channels = set(p["channels"])

    def is_round(t: TransactionEvent) -> bool:
        return t.channel in channels and t.amount >= min_amount and t.amount % modulus == 0

    if not is_round(anchor):
        return None
    start = anchor.timestamp - DAY * int(p["window_days"])
    rounds = [t for t in history.between(start, anchor.timestamp) if is_round(t)]
    if len(rounds) < int(p["min_count"]):
        return None
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=[
            Comparison(
                f"round transfers {p['window_days']}d", len(rounds), ">=", int(p["min_count"]), True
            )
        ],
        contributing=rounds,
        decision="alert: repeated large round-amount transfers",
    )


# --- T7 dormant reactivation ----------------------------------------------------------

T7_DEFAULTS = {"dormant_days": 180, "window_days": 7, "single_min": "5000", "total_min": "10000"}


def evaluate_dormant(rule, anchor, history, ctx):
    """No activity for >= 180 days, then a txn >= $5,000 or >= $10,000 in total within 7
    days of reactivation; fires at the transaction that meets the amount condition."""
    p = rule.params
    start = anchor.timestamp - DAY * int(p["window_days"])
    window = history.between(start, anchor.timestamp)

    dormant = DAY * int(p["dormant_days"])

    def hit(txs: list[TransactionEvent]) -> tuple[bool, Decimal, Decimal, dt.datetime | None]:
        if not txs:
            return False, D(0), D(0), None
        first = txs[0].timestamp
        prior, _ = history.count_sum(
            first - dormant, first, start_inclusive=True, end_inclusive=False
        )
        existed = history.first_seen is not None and history.first_seen < first
        largest = max(t.amount for t in txs)
        total = sum((t.amount for t in txs), D(0))
        amount_hit = largest >= _num(p, "single_min") or total >= _num(p, "total_min")
        return (existed and not prior and amount_hit), largest, total, first

    fired, largest, total, first = hit(window)
    if not fired or first is None:
        return None
    if hit([t for t in window if t.key != anchor.key])[0]:
        return None  # the condition already held before this transaction
    last_before = history.last_before(first)
    idle_days = (first - last_before).days if last_before else None
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=[
            Comparison(
                "days without activity",
                idle_days if idle_days is not None else f">= {p['dormant_days']}",
                ">=",
                int(p["dormant_days"]),
                True,
            ),
            Comparison(
                "largest txn since reactivation",
                _money(largest),
                ">=",
                p["single_min"],
                largest >= _num(p, "single_min"),
            ),
            Comparison(
                f"total within {p['window_days']}d",
                _money(total),
                ">=",
                p["total_min"],
                total >= _num(p, "total_min"),
            ),
        ],
        contributing=window,
        decision="alert: dormant account suddenly active with large amounts",
        extra_state={"reactivated_at": first.isoformat() if first else None},
    )


# --- T8 CTR queue (report, not an alert) ----------------------------------------------

T8_DEFAULTS = {"channels": ["cash"], "threshold": "10000"}


def evaluate_ctr(rule, anchor, history, ctx):
    """Cash in or cash out of one account > $10,000 in a business day -> CTR report row.
    The row holds the exact day totals, recomputed whenever a txn of that day arrives."""
    p = rule.params
    channels = set(p["channels"])
    if anchor.channel not in channels:
        return None
    day_start = _day_start(anchor.timestamp)
    day = [
        t
        for t in history.between(
            day_start, day_start + DAY - dt.timedelta(microseconds=1), start_inclusive=True
        )
        if t.channel in channels
    ]
    cash_in = sum((t.amount for t in day if t.direction == "in"), D(0))
    cash_out = sum((t.amount for t in day if t.direction == "out"), D(0))
    threshold = _num(p, "threshold")
    if cash_in <= threshold and cash_out <= threshold:
        return None
    return CtrReport(
        account_id=anchor.account_id,
        customer_id=anchor.customer_id,
        business_day=day_start.date(),
        cash_in=cash_in,
        cash_out=cash_out,
        transaction_keys=tuple(t.key for t in day),
        rule_code=rule.code,
        rule_version=rule.version,
    )


# --- T9 repeated similar amounts ------------------------------------------------------

T9_DEFAULTS = {
    "last_n": 3,
    "min_similar": 3,
    "tolerance": "0.1",
    "min_amount": "1000",
    "lookback_days": 30,
}


def evaluate_similar_amounts(rule, anchor, history, ctx):
    """Among the last N outgoing txns (within lookback_days), >= 3 within +-10% of the
    anchor's amount. Tazama rule 006 (tolerance 0.1, last 3)."""
    p = rule.params
    if anchor.direction != "out" or anchor.amount < _num(p, "min_amount"):
        return None
    start = anchor.timestamp - DAY * int(p["lookback_days"])
    outgoing = [t for t in history.before(anchor) if t.direction == "out" and t.timestamp > start]
    last = outgoing[-int(p["last_n"]) :]
    tolerance = _num(p, "tolerance")
    similar = [t for t in last if abs(t.amount - anchor.amount) <= anchor.amount * tolerance]
    if len(similar) < int(p["min_similar"]):
        return None
    return _finding(
        rule,
        anchor,
        history,
        start=start,
        comparisons=[
            Comparison(
                f"similar among last {p['last_n']} outgoing",
                len(similar),
                ">=",
                int(p["min_similar"]),
                True,
            ),
            Comparison("tolerance", f"+-{tolerance}", "=", p["tolerance"], True),
        ],
        contributing=similar,
        decision="alert: repeated outgoing payments of similar amounts",
    )


# --- counterparty sanctions hit -------------------------------------------------------

SANCTIONS_DEFAULTS = {"min_score": "0.9", "directions": ["in", "out"]}


def evaluate_sanctions(rule, anchor, history, ctx):
    """The counterparty's name matches a sanctioned party (screening engine) with score
    >= min_score. The screening callable is injected; without one the rule is inert."""
    p = rule.params
    if ctx.screen is None or not anchor.counterparty_name:
        return None
    if anchor.direction not in set(p["directions"]):
        return None
    hits = ctx.screen(anchor.counterparty_name, anchor.counterparty_country)
    min_score = _num(p, "min_score")
    hits = [h for h in hits if D(str(h.get("score", 0))) >= min_score]
    if not hits:
        return None
    best = max(hits, key=lambda h: D(str(h.get("score", 0))))
    return _finding(
        rule,
        anchor,
        history,
        start=None,
        comparisons=[
            Comparison("best match score", str(best.get("score")), ">=", p["min_score"], True)
        ],
        contributing=[anchor],
        severity="critical",
        decision=f"alert: counterparty matches {best.get('list', '?')} entry "
        f"{best.get('uid', '?')} ({best.get('name', '')})",
        extra_state={
            "matches": [
                {k: str(h.get(k, "")) for k in ("list", "uid", "name", "score")} for h in hits[:5]
            ]
        },
    )


def _days(name: str, extra: dt.timedelta = dt.timedelta()) -> Callable[[Mapping], dt.timedelta]:
    return lambda p: DAY * int(p[name]) + extra


def _hours(name: str) -> Callable[[Mapping], dt.timedelta]:
    return lambda p: HOUR * int(p[name])


def _zero(p: Mapping) -> dt.timedelta:
    return dt.timedelta()


def _fires_on_counts(evaluator: Evaluator):
    """For rules decided by counts and sums alone (rows only list the contributors)."""

    def prefilter(rule: RuleConfig, anchor: TransactionEvent, history: AccountHistory) -> bool:
        return evaluator(rule, anchor, history, EvalContext()) is not None

    return prefilter


def _dormant_possible(rule: RuleConfig, anchor: TransactionEvent, history: AccountHistory) -> bool:
    # The first txn of the window lies in (anchor - window, anchor], so its dormancy period
    # covers [anchor - dormant, anchor - window]: any txn there rules dormancy out.
    p = rule.params
    end = anchor.timestamp - DAY * int(p["window_days"])
    count, _ = history.count_sum(
        anchor.timestamp - DAY * int(p["dormant_days"]), end, start_inclusive=True
    )
    return count == 0


def _funnel_possible(rule: RuleConfig, anchor: TransactionEvent, history: AccountHistory) -> bool:
    p = rule.params
    start = anchor.timestamp - DAY * int(p["window_days"]) - HOUR * int(p["outflow_hours"])
    count, _ = history.count_sum(start, anchor.timestamp)
    return count >= int(p["min_originators"])


def _pass_through_possible(
    rule: RuleConfig, anchor: TransactionEvent, history: AccountHistory
) -> bool:
    # Inbound alone must reach min_inbound inside the window, so everything moved must too.
    p = rule.params
    _, total = history.count_sum(anchor.timestamp - HOUR * int(p["window_hours"]), anchor.timestamp)
    return total >= _num(p, "min_inbound")


def _structuring_anchor(p: Mapping, t: TransactionEvent) -> bool:
    return t.channel in p["channels"] and _num(p, "band_min") <= t.amount < _num(p, "band_max")


def _funnel_anchor(p: Mapping, t: TransactionEvent) -> bool:
    if t.direction == "in":
        return t.amount < _num(p, "per_tx_max")
    return bool(
        t.counterparty_country and t.origin_country and t.counterparty_country != t.origin_country
    )


def _round_anchor(p: Mapping, t: TransactionEvent) -> bool:
    return (
        t.channel in p["channels"]
        and t.amount >= _num(p, "min_amount")
        and t.amount % _num(p, "modulus") == 0
    )


def _similar_anchor(p: Mapping, t: TransactionEvent) -> bool:
    return t.direction == "out" and t.amount >= _num(p, "min_amount")


TYPOLOGIES: dict[str, Typology] = {
    t.key: t
    for t in (
        Typology(
            "structuring",
            "T1",
            "Structuring below the CTR threshold",
            T1_DEFAULTS,
            "high",
            _days("week_days"),
            _days("week_days"),
            evaluate_structuring,
            basis="31 USC 5324; 31 CFR 1010.311; FFIEC App. F",
            anchor_filter=_structuring_anchor,
        ),
        Typology(
            "funnel",
            "T2",
            "Many-to-one funnel (smurfing)",
            T2_DEFAULTS,
            "medium",
            lambda p: DAY * int(p["window_days"]) + HOUR * int(p["outflow_hours"]),
            lambda p: DAY * int(p["window_days"]) + HOUR * int(p["outflow_hours"]),
            evaluate_funnel,
            basis="FFIEC App. F",
            anchor_filter=_funnel_anchor,
            count_prefilter=_funnel_possible,
        ),
        Typology(
            "pass_through",
            "T3",
            "Rapid pass-through",
            T3_DEFAULTS,
            "high",
            _hours("window_hours"),
            _hours("window_hours"),
            evaluate_pass_through,
            basis="Tazama rule 026; FFIEC App. F",
            anchor_filter=lambda p, t: t.direction == "out",
            count_prefilter=_pass_through_possible,
        ),
        Typology(
            "velocity",
            "T4a",
            "Absolute velocity",
            T4A_DEFAULTS,
            "medium",
            _hours("window_hours"),
            _hours("window_hours"),
            evaluate_velocity,
            count_prefilter=_fires_on_counts(evaluate_velocity),
            basis="Tazama rule 901 pattern",
        ),
        Typology(
            "velocity_spike",
            "T4b",
            "Velocity spike against own baseline",
            T4B_DEFAULTS,
            "medium",
            _days("recent_days"),
            # A late txn can only create a spike inside the recent window; as baseline
            # it lowers the ratio, and alerts are never retracted.
            _days("recent_days"),
            evaluate_spike,
            basis="Ballerine HVHAI",
            count_lookback=lambda p: DAY * (int(p["recent_days"]) + int(p["baseline_days"])),
            count_prefilter=_fires_on_counts(evaluate_spike),
        ),
        Typology(
            "high_risk_jurisdiction",
            "T5",
            "High-risk jurisdiction (FATF)",
            T5_DEFAULTS,
            "high",
            _zero,
            _zero,
            evaluate_jurisdiction,
            basis="FATF public statements",
            uses_history=False,
        ),
        Typology(
            "round_amounts",
            "T6",
            "Round amounts",
            T6_DEFAULTS,
            "low",
            _days("window_days"),
            _days("window_days"),
            evaluate_round_amounts,
            basis="FFIEC App. F",
            anchor_filter=_round_anchor,
        ),
        Typology(
            "dormant_reactivation",
            "T7",
            "Dormant account reactivation",
            T7_DEFAULTS,
            "medium",
            _days("window_days"),
            _days("window_days"),
            evaluate_dormant,
            basis="Ballerine DORMANT; FFIEC",
            count_lookback=lambda p: DAY * (int(p["window_days"]) + int(p["dormant_days"])),
            count_prefilter=_dormant_possible,
        ),
        Typology(
            "ctr",
            "T8",
            "Large cash: CTR report queue",
            T8_DEFAULTS,
            "low",
            lambda p: DAY,
            lambda p: DAY,
            evaluate_ctr,
            produces="report",
            basis="31 CFR 1010.311/.313",
            anchor_filter=lambda p, t: t.channel in p["channels"],
        ),
        Typology(
            "similar_amounts",
            "T9",
            "Repeated similar amounts",
            T9_DEFAULTS,
            "low",
            _days("lookback_days"),
            _days("lookback_days"),
            evaluate_similar_amounts,
            basis="Tazama rule 006",
            anchor_filter=_similar_anchor,
        ),
        Typology(
            "counterparty_sanctions",
            "SAN",
            "Counterparty sanctions hit",
            SANCTIONS_DEFAULTS,
            "critical",
            _zero,
            _zero,
            evaluate_sanctions,
            basis="OFAC/UN/UK/EU lists via the screening engine",
            uses_history=False,
        ),
    )
}


def validate_params(typology: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `params` over the typology defaults and check every value's type and range.

    Unknown parameter names are refused (a typo must not silently fall back to a default).
    """
    if typology not in TYPOLOGIES:
        raise ParameterError({"typology": f"unknown typology {typology!r}"})
    defaults = TYPOLOGIES[typology].defaults
    errors: dict[str, str] = {}
    merged: dict[str, Any] = dict(defaults)
    for name, value in params.items():
        if name not in defaults:
            errors[name] = "unknown parameter"
            continue
        default = defaults[name]
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = "must be a list of strings"
                continue
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                errors[name] = "must be true or false"
                continue
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors[name] = "must be a non-negative integer"
                continue
        elif isinstance(default, str):
            try:
                number = D(str(value))
            except ArithmeticError:
                errors[name] = "must be a decimal number"
                continue
            if not number.is_finite() or number < 0 or isinstance(value, bool | float):
                errors[name] = "must be a non-negative decimal string"
                continue
            value = str(number)
        merged[name] = value
    if errors:
        raise ParameterError(errors)
    return merged
