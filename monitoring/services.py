"""Every write of the monitoring app: ingestion (the hot path), rules and their
approval, dead letters, CTR rows, backtests, reference data and the demo feed.

Ingestion is one database transaction per batch: insert the transactions (the
(source, id) unique key is the idempotency key), evaluate the rules over the stored
history, insert alerts (unique per rule version and transaction), open or extend cases,
rewrite CTR rows and seal the batch into the ledger. A batch that is redelivered or
replayed finds its transactions already stored and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.context import Actor, audit_context
from audit.services import audit_record
from cases.choices import CaseSource, CaseState
from cases.models import Case, Customer
from cases.services import case_open
from monitoring.choices import (
    BacktestStatus,
    CtrStatus,
    DeadLetterStatus,
    RuleVersionStatus,
)
from monitoring.models import (
    Alert,
    Backtest,
    CtrReport,
    DeadLetter,
    JurisdictionList,
    Rule,
    RuleVersion,
    Transaction,
)
from monitoring.rules.engine import (
    HistoryNeeds,
    evaluate_account,
    evaluate_transactions,
    history_needs,
    rows_lookback,
)
from monitoring.rules.findings import CtrReport as CtrFinding
from monitoring.rules.findings import EvalContext, Finding, RuleConfig, ScreenFn
from monitoring.rules.history import AccountHistory
from monitoring.rules.jurisdictions import (
    DEFAULT_FATF_VERSIONS,
    JurisdictionLists,
    JurisdictionListVersion,
)
from monitoring.rules.schema import TransactionEvent
from monitoring.rules.trace import build_trace, tx_ref
from monitoring.rules.typologies import TYPOLOGIES, ParameterError, validate_params

logger = logging.getLogger(__name__)

_TX_COLUMNS = (
    "source",
    "external_id",
    "timestamp",
    "account_id",
    "customer_id",
    "amount",
    "currency",
    "direction",
    "channel",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "origin_country",
    "extra",
    "received_at",
    "stream_entry_id",
)
_INSERT_CHUNK = 1000
_ROW_FIELDS = ("id", *_TX_COLUMNS[:-2])  # read by _row_event, in this order
_SELECT_TX = f"SELECT {', '.join(_ROW_FIELDS)} FROM monitoring_transaction "  # noqa: S608 (fixed columns)


class RuleError(ValueError):
    """A rule change is not allowed; `errors` maps fields to problems."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class IngestResult:
    """What one batch did. `alert_ids` are the alerts created by this call only."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    alert_ids: list[int] = field(default_factory=list)
    reports_written: int = 0
    cases_touched: int = 0


# --- reference data and rule configs -----------------------------------------------------


def jurisdiction_lists() -> JurisdictionLists:
    """The FATF list versions stored in the database (the defaults if none are)."""
    rows = list(JurisdictionList.objects.all())
    if not rows:
        return JurisdictionLists(DEFAULT_FATF_VERSIONS)
    return JurisdictionLists(
        JurisdictionListVersion(
            version=r.version,
            effective_from=r.effective_from,
            call_for_action=frozenset(r.call_for_action),
            increased_monitoring=frozenset(r.increased_monitoring),
            source=r.source,
        )
        for r in rows
    )


def rule_config(version: RuleVersion) -> RuleConfig:
    return RuleConfig(
        code=version.rule.code,
        typology=version.rule.typology,
        version=version.version,
        params=version.params,
        severity=version.severity,
        version_id=version.pk,
    )


def active_rule_configs() -> list[RuleConfig]:
    """The approved version of every enabled rule: what the stream evaluates."""
    versions = (
        RuleVersion.objects.select_related("rule")
        .filter(rule__enabled=True, rule__active_version_id=F("pk"))
        .order_by("rule__code")
    )
    return [rule_config(v) for v in versions]


_DEFAULT_SCREEN = "screening.services.screen_counterparty"


@functools.lru_cache(maxsize=1)
def _configured_screen() -> ScreenFn | None:
    """The screening function named by MONITORING_SCREEN_FUNCTION (imported once)."""
    path = getattr(settings, "MONITORING_SCREEN_FUNCTION", "") or _DEFAULT_SCREEN
    try:
        return import_string(path)
    except ImportError:
        logger.warning("counterparty screening unavailable (%s): sanctions rule is inert", path)
        return None


class ScreeningUnavailable(RuntimeError):
    """The screening engine failed: the batch must be retried, never passed unscreened
    and never dead-lettered (the events themselves are fine)."""


_SCREEN_MEMO_MAX = 50_000


def screening_lists_key() -> tuple[int, ...] | None:
    """What the default screening function's answers depend on: the ids of the active
    list versions (one query). A consumer keeps its memo of screened counterparties while
    this is unchanged, instead of re-screening every name after each rule refresh. None
    for another MONITORING_SCREEN_FUNCTION, whose memo lives for one refresh."""
    path = getattr(settings, "MONITORING_SCREEN_FUNCTION", "") or _DEFAULT_SCREEN
    if path != _DEFAULT_SCREEN:
        return None
    from screening.lists.selectors import active_version_ids

    return active_version_ids()


def default_screen() -> ScreenFn | None:
    """The screening engine as the sanctions rule calls it, memoised per name and country.

    The memo lives as long as the evaluation context that holds this function (one batch
    run, or the consumer's rule refresh of a few seconds), so a newly activated list
    version is used from the next refresh on; a process-wide cache would keep answering
    from the old list until a restart."""
    function = _configured_screen()
    if function is None:
        return None
    memo: dict[tuple[str, str], tuple] = {}

    def screen(name: str, country: str) -> list:
        key = (name, country)
        hit = memo.get(key)
        if hit is None:
            try:
                hit = tuple(function(name, country))
            except Exception as exc:
                raise ScreeningUnavailable(f"screening failed: {exc}") from exc
            if len(memo) >= _SCREEN_MEMO_MAX:
                memo.clear()
            memo[key] = hit
        return list(hit)

    return screen


@transaction.atomic
def monitoring_seed_defaults(*, actor: Actor | None = None) -> int:
    """Create the shipped rules (one per typology, version 1 active with the documented
    defaults) and the FATF list versions, where missing. Returns how many were created."""
    created = 0
    with audit_context(
        actor=actor or Actor.system("monitoring.seed"), reason="seed default monitoring rules"
    ):
        for item in DEFAULT_FATF_VERSIONS:
            _, made = JurisdictionList.objects.get_or_create(
                version=item.version,
                defaults={
                    "effective_from": item.effective_from,
                    "call_for_action": sorted(item.call_for_action),
                    "increased_monitoring": sorted(item.increased_monitoring),
                    "source": item.source,
                },
            )
            created += made
        for key, typology in TYPOLOGIES.items():
            if Rule.objects.filter(code=typology.code).exists():
                continue
            rule = Rule.objects.create(code=typology.code, typology=key, title=typology.title)
            version = RuleVersion.objects.create(
                rule=rule,
                version=1,
                params=dict(typology.defaults),
                severity=typology.default_severity,
                status=RuleVersionStatus.ACTIVE,
                note="Shipped defaults (docs/monitoring.md)",
                approved_at=timezone.now(),
            )
            rule.active_version = version
            rule.save(update_fields=["active_version"])
            created += 1
    return created


# --- rules: edit, approve ---------------------------------------------------------------


@transaction.atomic
def rule_version_create(
    *, rule: Rule, params: dict[str, Any], severity: str, note: str = "", actor_user
) -> RuleVersion:
    """Propose new parameters for a rule: a draft that changes nothing until approved."""
    try:
        merged = validate_params(rule.typology, params)
    except ParameterError as exc:
        raise RuleError({f"params.{k}": v for k, v in exc.errors.items()}) from None
    if severity not in ("low", "medium", "high", "critical"):
        raise RuleError({"severity": "must be low, medium, high or critical"})
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    last = rule.versions.order_by("-version").values_list("version", flat=True).first() or 0
    with audit_context(user=actor_user, reason=note[:100]):
        return RuleVersion.objects.create(
            rule=rule,
            version=last + 1,
            params=merged,
            severity=severity,
            note=note,
            created_by=actor_user,
        )


@transaction.atomic
def rule_version_approve(*, version: RuleVersion, actor_user) -> RuleVersion:
    """Activate a draft. Four eyes: the approver must not be its author."""
    version = RuleVersion.objects.select_for_update().select_related("rule").get(pk=version.pk)
    if version.status != RuleVersionStatus.DRAFT:
        raise RuleError({"status": f"only drafts can be approved (this one is {version.status})"})
    if version.created_by_id is not None and version.created_by_id == actor_user.pk:
        raise RuleError({"approved_by": "the author of a version cannot approve it"})
    rule = Rule.objects.select_for_update().get(pk=version.rule_id)
    with audit_context(user=actor_user, reason=f"approve {rule.code} v{version.version}"):
        if rule.active_version_id:
            previous = RuleVersion.objects.get(pk=rule.active_version_id)
            previous.status = RuleVersionStatus.SUPERSEDED
            previous.save(update_fields=["status"])
        version.status = RuleVersionStatus.ACTIVE
        version.approved_by = actor_user
        version.approved_at = timezone.now()
        version.save(update_fields=["status", "approved_by", "approved_at"])
        rule.active_version = version
        rule.save(update_fields=["active_version"])
    return version


@transaction.atomic
def rule_version_reject(*, version: RuleVersion, actor_user, note: str = "") -> RuleVersion:
    """Refuse a draft (the author may also withdraw their own)."""
    version = RuleVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != RuleVersionStatus.DRAFT:
        raise RuleError({"status": "only drafts can be rejected"})
    with audit_context(user=actor_user, reason=note[:100] or "reject rule version"):
        version.status = RuleVersionStatus.REJECTED
        version.save(update_fields=["status"])
    return version


@transaction.atomic
def rule_set_enabled(*, rule: Rule, enabled: bool, actor_user) -> Rule:
    """Switch a rule on or off (takes effect on the next batch)."""
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    if rule.enabled != enabled:
        with audit_context(user=actor_user):
            rule.enabled = enabled
            rule.save(update_fields=["enabled"])
    return rule


# --- ingestion: the hot path --------------------------------------------------------------


_LOCK_ACCOUNTS_SQL = (
    # Serialise batches touching the same account (API calls, a shard changing hands): a
    # batch must see every committed transaction of its accounts, or two halves of a
    # pattern processed concurrently would each miss the other. Sorted: no deadlocks.
    "SELECT pg_advisory_xact_lock(hashtextextended(a, 7301)) "
    "FROM (SELECT DISTINCT unnest(%s::text[]) AS a ORDER BY 1) AS s"
)
_BOUNDS_SQL = (
    # Index probes per account: first transaction ever, and latest (late-batch check).
    "SELECT a, (SELECT min(timestamp) FROM monitoring_transaction t "
    "WHERE t.account_id = a), (SELECT max(timestamp) FROM monitoring_transaction t "
    "WHERE t.account_id = a) FROM unnest(%s::text[]) AS a"
)
_TX_CASTS = (
    "",
    "",
    "::timestamptz",
    "",
    "",
    "::numeric",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "::jsonb",
    "::timestamptz",
    "",
)
# Up to this many events a batch is inserted with array parameters in the same round trip
# as the account locks and bounds (latency: a quiet stream commits a few events at a time);
# larger batches go through COPY, whose rows psycopg formats in C (throughput).
_ARRAY_INSERT_MAX = 64

Bounds = dict[str, tuple[dt.datetime | None, dt.datetime | None]]
Amounts = dict[str, list[tuple[dt.datetime, Decimal]]]
_AMOUNTS_SQL = (
    "SELECT t.account_id, t.timestamp, t.amount FROM unnest(%s::text[], "
    "%s::text[]) AS q(a, lo) JOIN monitoring_transaction t "
    "ON t.account_id = q.a AND t.timestamp >= q.lo::timestamptz "
    "AND t.timestamp <= %s::timestamptz"
)


def _amounts_query(
    by_account: dict[str, list[TransactionEvent]], needs: HistoryNeeds
) -> tuple[str, list[Any]] | None:
    """(time, amount) pairs far enough back for the long windows of these accounts' new
    transactions, up to as far forward as any rule re-evaluates; None if no rule needs
    them."""
    if needs.counts_back <= dt.timedelta():
        return None
    accounts = sorted(by_account)
    until = max(e.timestamp for events in by_account.values() for e in events) + needs.forward
    starts = [(min(e.timestamp for e in by_account[a]) - needs.counts_back) for a in accounts]
    return _AMOUNTS_SQL, [accounts, [start.isoformat() for start in starts], until.isoformat()]


def _statements(cursor, statements: Sequence[tuple[str, Sequence[Any]]]) -> list:
    """Run statements in order and return each one's rows (None if it returns none). With
    client-side binding (Django's default for psycopg 3) they travel in one round trip: on
    a busy machine each round trip costs milliseconds, the latency budget is ten."""
    raw = cursor.cursor
    if isinstance(raw, psycopg.ClientCursor):
        params = [param for _, values in statements for param in values]
        cursor.execute(";\n".join(sql for sql, _ in statements), params)
        results = []
        while True:
            results.append(raw.fetchall() if raw.description is not None else None)
            if not raw.nextset():
                return results
    results = []
    for sql, params in statements:
        cursor.execute(sql, params)
        results.append(cursor.fetchall() if cursor.description is not None else None)
    return results


def _event_row(event: TransactionEvent, entry_id: str, now: str) -> tuple:
    return (
        event.source,
        event.id,
        event.timestamp.isoformat(),
        event.account_id,
        event.customer_id,
        str(event.amount),
        event.currency,
        event.direction,
        event.channel,
        event.counterparty_name,
        event.counterparty_account,
        event.counterparty_country,
        event.origin_country,
        json.dumps(event.extra, default=str),
        now,
        entry_id,
    )


def _store_transactions(
    events: Sequence[TransactionEvent],
    stream_ids: Sequence[str],
    rules: Sequence[RuleConfig],
) -> tuple[dict[tuple[str, str], int], Bounds | None, Amounts | None]:
    """Lock the batch's accounts, insert its transactions (skipping those already stored)
    and, on PostgreSQL, read each account's first and last transaction time, and for small
    batches also the (time, amount) pairs the rules' long windows need (for every event of
    the batch: a superset of what its new ones need). Returns ({key: pk} of the rows
    inserted, bounds or None, amounts or None)."""
    if connection.vendor != "postgresql":
        # SQLite: the IMMEDIATE transaction already serialises writers.
        return _insert_transactions_portable(events, stream_ids), None, None
    now = timezone.now().isoformat()
    accounts = sorted({e.account_id for e in events})
    lock = (_LOCK_ACCOUNTS_SQL, [accounts])
    bounds_query = (_BOUNDS_SQL, [accounts])
    columns = ", ".join(_TX_COLUMNS)
    casts = ", ".join(f"{name}{cast}" for name, cast in zip(_TX_COLUMNS, _TX_CASTS, strict=True))
    rows = [_event_row(e, i, now) for e, i in zip(events, stream_ids, strict=True)]
    amounts: Amounts | None = None
    with connection.cursor() as cursor:
        if len(rows) <= _ARRAY_INSERT_MAX:
            insert = (
                f"INSERT INTO monitoring_transaction ({columns}) "  # noqa: S608
                f"SELECT {casts} FROM unnest("
                + ", ".join(["%s::text[]"] * len(_TX_COLUMNS))
                + f") AS u({columns}) "
                "ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id",
                [list(column) for column in zip(*rows, strict=True)],
            )
            by_account: dict[str, list[TransactionEvent]] = {}
            for event in events:
                by_account.setdefault(event.account_id, []).append(event)
            amounts_query = _amounts_query(by_account, history_needs(rules)) if rules else None
            _, returned, bounds, *pairs = _statements(
                cursor, [lock, insert, bounds_query, *([amounts_query] if amounts_query else [])]
            )
            if pairs:
                amounts = {a: [] for a in accounts}
                for account_id, ts, amount in pairs[0]:
                    amounts[account_id].append((ts, amount))
        else:
            # COPY into a session-local staging table, then one INSERT … SELECT: no
            # per-value adaptation in Python, one plan whatever the size.
            _statements(
                cursor,
                [
                    lock,
                    (
                        "CREATE TEMP TABLE IF NOT EXISTS monitoring_tx_stage ("
                        + ", ".join(f"{name} text" for name in _TX_COLUMNS)
                        + ") ON COMMIT DELETE ROWS",
                        [],
                    ),
                ],
            )
            with cursor.cursor.copy(
                f"COPY monitoring_tx_stage ({columns}) FROM STDIN"  # noqa: S608
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            returned, _, bounds = _statements(
                cursor,
                [
                    (
                        f"INSERT INTO monitoring_transaction ({columns}) "  # noqa: S608
                        f"SELECT {casts} FROM monitoring_tx_stage "
                        "ON CONFLICT (source, external_id) DO NOTHING "
                        "RETURNING id, source, external_id",
                        [],
                    ),
                    # The staging rows must not leak into the next batch of this
                    # transaction.
                    ("DELETE FROM monitoring_tx_stage", []),
                    bounds_query,
                ],
            )
    inserted = {(source, external_id): pk for pk, source, external_id in returned}
    return inserted, {a: (first, last) for a, first, last in bounds}, amounts


def _row_event(row: Sequence[Any]) -> TransactionEvent:
    extra = row[14]
    if isinstance(extra, str):
        extra = json.loads(extra)
    return TransactionEvent(
        id=row[2],
        source=row[1],
        timestamp=row[3],
        account_id=row[4],
        customer_id=row[5],
        amount=row[6],
        currency=row[7],
        direction=row[8],
        channel=row[9],
        counterparty_name=row[10],
        counterparty_account=row[11],
        counterparty_country=row[12],
        origin_country=row[13],
        extra=extra or {},
    )


def _rows_from(
    by_account: dict[str, list[TransactionEvent]],
    rules: Sequence[RuleConfig],
    bounds: dict[str, tuple[dt.datetime | None, dt.datetime | None]],
    amounts: dict[str, list[tuple[dt.datetime, Decimal]]],
    needs,
) -> dict[str, dt.datetime]:
    """How far back each account needs full rows (see `rows_lookback`)."""
    rows_from: dict[str, dt.datetime] = {}
    for account, events in by_account.items():
        earliest = min(e.timestamp for e in events)
        last = bounds.get(account, (None, None))[1]
        late = last is not None and last > earliest
        counts = None
        if needs.counts_back > dt.timedelta():
            counts = AccountHistory(
                account,
                [],
                first_seen=bounds.get(account, (None, None))[0] if needs.first_seen else None,
                amounts=amounts.get(account, []),
            )
        rows_from[account] = earliest - rows_lookback(events, rules, late=late, counts=counts)
    return rows_from


def load_histories(
    new: Sequence[TransactionEvent],
    rules: Sequence[RuleConfig],
    *,
    bounds: Bounds | None = None,
    amounts: Amounts | None = None,
) -> tuple[dict[str, AccountHistory], dict[tuple[str, str], int]]:
    """Stored history of the accounts of `new` (already inserted): full rows as far back as
    each account's rules need, (time, amount) pairs for long windows, each account's first
    transaction; plus {key: pk} of the loaded rows. At most three queries whatever the batch
    size, fewer when `bounds` (first and last transaction time per account) or `amounts`
    (time, amount pairs covering the long windows) were read with the insert."""
    if connection.vendor != "postgresql":
        return _load_histories_portable(new, rules)
    needs = history_needs(rules)
    by_account: dict[str, list[TransactionEvent]] = {}
    for event in new:
        by_account.setdefault(event.account_id, []).append(event)
    accounts = sorted(by_account)
    until = max(e.timestamp for e in new) + needs.forward
    with connection.cursor() as cursor:
        if bounds is None:
            cursor.execute(_BOUNDS_SQL, [accounts])
            bounds = {a: (first, last) for a, first, last in cursor.fetchall()}
        # Binary results: psycopg's C loaders for timestamps and numerics (Django's text
        # loaders are Python and dominate the cost of reading history).
        binary = psycopg.Cursor(connection.connection)
        query = _amounts_query(by_account, needs) if amounts is None else None
        if query is not None:
            amounts = {}
            binary.execute(*query, binary=True)
            for account_id, ts, amount in binary.fetchall():
                amounts.setdefault(account_id, []).append((ts, amount))
        amounts = amounts or {}
        rows_from = _rows_from(by_account, rules, bounds, amounts, needs)
        binary.execute(
            # _ROW_FIELDS, in its order (an empty extra arrives as NULL: no JSON to load)
            "SELECT t.id, t.source, t.external_id, t.timestamp, t.account_id, t.customer_id, "
            "t.amount, t.currency, t.direction, t.channel, t.counterparty_name, "
            "t.counterparty_account, t.counterparty_country, t.origin_country, "
            "NULLIF(t.extra, '{}'::jsonb) FROM unnest(%s::text[], %s::text[]) AS q(a, lo) "
            "JOIN monitoring_transaction t ON t.account_id = q.a "
            "AND t.timestamp >= q.lo::timestamptz "
            "AND t.timestamp <= %s::timestamptz",
            [accounts, [rows_from[a].isoformat() for a in accounts], until.isoformat()],
            binary=True,
        )
        rows_by_account: dict[str, list[TransactionEvent]] = {a: [] for a in accounts}
        pks: dict[tuple[str, str], int] = {}
        for row in binary.fetchall():
            event = _row_event(row)
            rows_by_account[event.account_id].append(event)
            pks[event.key] = row[0]
    histories = {
        account: AccountHistory(
            account,
            rows_by_account[account],
            first_seen=bounds[account][0] if needs.first_seen else None,
            amounts=amounts.get(account, []) if needs.counts_back > dt.timedelta() else None,
            rows_from=rows_from[account],
        )
        for account in accounts
    }
    return histories, pks





def _insert_transactions_portable(
    events: Sequence[TransactionEvent], stream_ids: Sequence[str]
) -> dict[tuple[str, str], int]:
    existing = set(
        Transaction.objects.filter(
            source__in={e.source for e in events}, external_id__in={e.id for e in events}
        ).values_list("source", "external_id")
    )
    now = timezone.now()
    rows = [
        Transaction(
            source=e.source,
            external_id=e.id,
            timestamp=e.timestamp,
            account_id=e.account_id,
            customer_id=e.customer_id,
            amount=e.amount,
            currency=e.currency,
            direction=e.direction,
            channel=e.channel,
            counterparty_name=e.counterparty_name,
            counterparty_account=e.counterparty_account,
            counterparty_country=e.counterparty_country,
            origin_country=e.origin_country,
            extra=e.extra,
            received_at=now,
            stream_entry_id=entry_id,
        )
        for e, entry_id in zip(events, stream_ids, strict=True)
        if e.key not in existing
    ]
    Transaction.objects.bulk_create(rows, batch_size=500)
    return {(row.source, row.external_id): row.pk for row in rows}


def _load_histories_portable(
    new: Sequence[TransactionEvent], rules: Sequence[RuleConfig]
) -> tuple[dict[str, AccountHistory], dict[tuple[str, str], int]]:
    from django.db.models import Max, Min

    needs = history_needs(rules)
    by_account: dict[str, list[TransactionEvent]] = {}
    for event in new:
        by_account.setdefault(event.account_id, []).append(event)
    accounts = sorted(by_account)
    until = max(e.timestamp for e in new) + needs.forward
    bounds = {
        row["account_id"]: (row["first"], row["last"])
        for row in Transaction.objects.filter(account_id__in=accounts)
        .values("account_id")
        .annotate(first=Min("timestamp"), last=Max("timestamp"))
    }
    amounts: dict[str, list[tuple[dt.datetime, Decimal]]] = {a: [] for a in accounts}
    if needs.counts_back > dt.timedelta():
        counts_from = {
            a: min(e.timestamp for e in by_account[a]) - needs.counts_back for a in accounts
        }
        for account_id, ts, amount in Transaction.objects.filter(
            account_id__in=accounts,
            timestamp__gte=min(counts_from.values()),
            timestamp__lte=until,
        ).values_list("account_id", "timestamp", "amount"):
            if ts >= counts_from[account_id]:
                amounts[account_id].append((ts, amount))
    rows_from = _rows_from(by_account, rules, bounds, amounts, needs)
    rows_by_account: dict[str, list[TransactionEvent]] = {a: [] for a in accounts}
    pks: dict[tuple[str, str], int] = {}
    for row in Transaction.objects.filter(
        account_id__in=accounts, timestamp__gte=min(rows_from.values()), timestamp__lte=until
    ).values_list(*_ROW_FIELDS):
        event = _row_event(row)
        if event.timestamp >= rows_from[event.account_id]:
            rows_by_account[event.account_id].append(event)
            pks[event.key] = row[0]
    histories = {
        account: AccountHistory(
            account,
            rows_by_account[account],
            first_seen=bounds[account][0] if needs.first_seen else None,
            amounts=amounts[account] if needs.counts_back > dt.timedelta() else None,
            rows_from=rows_from[account],
        )
        for account in accounts
    }
    return histories, pks


def _insert_alerts_portable(findings: Sequence[Finding], pks: dict[tuple[str, str], int]):
    by_key: dict[tuple[int, int], Finding] = {}
    for finding in findings:
        by_key.setdefault((finding.rule.version_id, pks[finding.anchor.key]), finding)
    if not by_key:
        return []
    existing = set(
        Alert.objects.filter(
            transaction_id__in={k[1] for k in by_key},
            rule_version_id__in={k[0] for k in by_key},
        ).values_list("rule_version_id", "transaction_id")
    )
    now = timezone.now()
    rows = [
        Alert(
            rule_version_id=key[0],
            rule_code=f.rule.code,
            typology=f.rule.typology,
            transaction_id=key[1],
            account_id=f.anchor.account_id,
            customer_id=f.anchor.customer_id,
            severity=f.severity,
            priority=f.priority,
            transaction_time=f.anchor.timestamp,
            trace=build_trace(f),
            created_at=now,
        )
        for key, f in by_key.items()
        if key not in existing
    ]
    Alert.objects.bulk_create(rows)
    return [(row.pk, by_key[(row.rule_version_id, row.transaction_id)]) for row in rows]


def _window_bucket(finding: Finding) -> str:
    """Start of the typology window the alert falls in: alerts of one customer and rule
    in the same window join one case."""
    typology = TYPOLOGIES[finding.rule.typology]
    length = max(typology.lookback(finding.rule.params), dt.timedelta(days=1))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    index = (finding.anchor.timestamp - epoch) // length
    return (epoch + index * length).date().isoformat()


def _insert_alerts(findings: Sequence[Finding], pks: dict[tuple[str, str], int]):
    if connection.vendor != "postgresql":
        return _insert_alerts_portable(findings, pks)
    table = Alert._meta.db_table
    now = timezone.now()
    created: list[tuple[int, Finding]] = []
    by_key = {}
    params: list[Any] = []
    for finding in findings:
        key = (finding.rule.version_id, pks[finding.anchor.key])
        if key in by_key:
            continue
        by_key[key] = finding
        params.extend(
            (
                finding.rule.version_id,
                finding.rule.code,
                finding.rule.typology,
                key[1],
                finding.anchor.account_id,
                finding.anchor.customer_id,
                finding.severity,
                finding.priority,
                finding.anchor.timestamp,
                json.dumps(build_trace(finding), default=str),
                now,
            )
        )
    if not by_key:
        return created
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (rule_version_id, rule_code, typology, "  # noqa: S608
            "transaction_id, account_id, customer_id, severity, priority, transaction_time, "
            "trace, created_at)"
            " VALUES "
            + ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(by_key))
            + " ON CONFLICT (rule_version_id, transaction_id) DO NOTHING"
            " RETURNING id, rule_version_id, transaction_id",
            params,
        )
        for alert_id, version_id, tx_id in cursor.fetchall():
            created.append((alert_id, by_key[(version_id, tx_id)]))
    return created


def _open_cases(created: list[tuple[int, Finding]]) -> int:
    if not created:
        return 0
    customers = {
        c.external_id: c
        for c in Customer.objects.filter(external_id__in={f.anchor.customer_id for _, f in created})
    }
    links: dict[int, list[int]] = {}

    def dedupe_key(finding: Finding) -> str:
        return (
            f"monitoring:{finding.anchor.customer_id}:{finding.rule.code}:{_window_bucket(finding)}"
        )

    # Cases are locked in dedupe-key order: two consumers touching the same customers
    # (different accounts) then always lock in the same order and cannot deadlock.
    for alert_id, finding in sorted(created, key=lambda item: (dedupe_key(item[1]), item[0])):
        customer_id = finding.anchor.customer_id
        typology = TYPOLOGIES[finding.rule.typology]
        stored = customers.get(customer_id)
        who = f"{stored.name} ({customer_id})" if stored else f"customer {customer_id}"
        case = case_open(
            source=CaseSource.MONITORING,
            title=f"{typology.title}: {who}"[:300],
            subject_type="customer",
            subject_id=customer_id,
            dedupe_key=dedupe_key(finding),
            customer=stored,
            priority=finding.priority,
            summary=finding.decision,
            evidence={
                "kind": "alert",
                "object_id": str(alert_id),
                "summary": {
                    "rule": f"{finding.rule.code} v{finding.rule.version}",
                    # The keys the inbox's rule filter and the dashboard read.
                    "rule_code": finding.rule.code,
                    "rule_version": finding.rule.version,
                    "rule_name": typology.title,
                    "severity": finding.severity,
                    "priority": finding.priority,
                    "transaction": tx_ref(finding.anchor),
                    "account_id": finding.anchor.account_id,
                    "amount": str(finding.anchor.amount),
                    "decision": finding.decision,
                },
            },
        )
        links.setdefault(case.pk, []).append(alert_id)
    for case_id, alert_ids in links.items():
        Alert.objects.filter(pk__in=alert_ids).update(case_id=case_id)
    return len(links)


def _write_reports(reports: Sequence[CtrFinding], rules: Sequence[RuleConfig]) -> int:
    if not reports:
        return 0
    version_ids = {(r.code, r.version): r.version_id for r in rules}
    existing = {
        (r.account_id, r.business_day): r
        for r in CtrReport.objects.select_for_update().filter(
            account_id__in={r.account_id for r in reports},
            business_day__in={r.business_day for r in reports},
        )
    }
    written = 0
    for report in reports:
        refs = [f"{s}:{i}" for s, i in report.transaction_keys]
        row = existing.get(report.key)
        values = {
            "cash_in": report.cash_in,
            "cash_out": report.cash_out,
            "transaction_count": len(refs),
            "transaction_refs": refs[:200],
        }
        if row is None:
            CtrReport.objects.create(
                account_id=report.account_id,
                customer_id=report.customer_id,
                business_day=report.business_day,
                rule_version_id=version_ids[(report.rule_code, report.rule_version)],
                **values,
            )
            written += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = timezone.now()
            row.save(update_fields=[*values, "updated_at"])
            written += 1
    return written


def transactions_ingest(
    *,
    events: Sequence[TransactionEvent],
    stream_ids: Sequence[str] | None = None,
    rules: Sequence[RuleConfig] | None = None,
    context: EvalContext | None = None,
    actor: Actor | None = None,
) -> IngestResult:
    """Store and evaluate one batch, all or nothing (see module docstring).

    Safe to retry: transactions already stored are skipped, and so is every effect that
    depends on them; alerts are unique per (rule version, transaction)."""
    result = IngestResult(received=len(events))
    unique: dict[tuple[str, str], tuple[TransactionEvent, str]] = {}
    for event, entry_id in zip(events, stream_ids or [""] * len(events), strict=True):
        unique.setdefault(event.key, (event, entry_id))
    batch = [pair[0] for pair in unique.values()]
    with audit_context(actor=actor) if actor else nullcontext(), transaction.atomic():
        if not batch:
            return result
        rules = list(rules) if rules is not None else active_rule_configs()
        inserted, bounds, amounts = _store_transactions(
            batch, [pair[1] for pair in unique.values()], rules
        )
        new = [e for e in batch if e.key in inserted]
        result.inserted = len(new)
        result.duplicates = len(events) - len(new)
        if not new:
            return result
        if context is None:
            context = EvalContext(screen=default_screen(), jurisdictions=jurisdiction_lists())
        findings: list[Finding] = []
        reports: list[CtrFinding] = []
        if rules:
            histories, pks = load_histories(new, rules, bounds=bounds, amounts=amounts)
            evaluation = evaluate_transactions(new, histories, rules, context)
            findings, reports = evaluation.findings, evaluation.reports
            created = _insert_alerts(findings, pks)
            result.alert_ids = [alert_id for alert_id, _ in created]
            result.cases_touched = _open_cases(created)
            result.reports_written = _write_reports(reports, rules)
        digest = hashlib.sha256(
            "\n".join(f"{s}:{i}" for s, i in sorted(inserted)).encode()
        ).hexdigest()
        audit_record(
            action="monitoring.transactions_ingested",
            object_type="monitoring.batch",
            object_id=digest[:32],
            data={
                "received": result.received,
                "inserted": result.inserted,
                "duplicates": result.duplicates,
                "keys_sha256": digest,
                "stream_entries": [unique[k][1] for k in list(inserted)[:1]]
                + [unique[k][1] for k in list(inserted)[-1:]],
                "alerts": result.alert_ids[:200],
                "alert_count": len(result.alert_ids),
                "reports_written": result.reports_written,
                "rules": sorted(f"{r.code}v{r.version}" for r in rules),
            },
        )
    return result


# --- dead letters -------------------------------------------------------------------------


@transaction.atomic
def dead_letter_record(
    *, stream: str, entry_id: str, payload: str, reason: str, errors: dict[str, str] | None = None
) -> DeadLetter:
    """Keep a malformed or failing stream entry with its reason (once per entry)."""
    letter = DeadLetter.objects.filter(stream=stream, entry_id=entry_id).first()
    if letter is not None:
        return letter
    return DeadLetter.objects.create(
        stream=stream,
        entry_id=entry_id,
        payload=payload[:65536],
        reason=reason[:500],
        errors=errors or {},
    )


@transaction.atomic
def dead_letter_replay(
    *, letter: DeadLetter, actor_user, redis_client, payload: str | None = None
) -> DeadLetter:
    """Put a dead letter back on its stream (optionally corrected) and mark it replayed.
    The XADD happens after commit so a rolled-back replay adds nothing."""
    letter = DeadLetter.objects.select_for_update().get(pk=letter.pk)
    if letter.status != DeadLetterStatus.OPEN:
        raise RuleError({"status": f"this dead letter is already {letter.status}"})
    body = letter.payload if payload is None else payload
    entry_id = redis_client.xadd(letter.stream, {"data": body})
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    with audit_context(user=actor_user, reason="replay dead letter"):
        letter.status = DeadLetterStatus.REPLAYED
        letter.replayed_at = timezone.now()
        letter.replayed_entry_id = entry_id
        letter.save(update_fields=["status", "replayed_at", "replayed_entry_id"])
        if payload is not None and payload != letter.payload:
            audit_record(
                action="monitoring.dead_letter_corrected",
                object_type="monitoring.deadletter",
                object_id=str(letter.pk),
                data={
                    "before_sha256": hashlib.sha256(letter.payload.encode()).hexdigest(),
                    "after": payload[:2000],
                },
            )
    return letter


@transaction.atomic
def dead_letter_discard(*, letter: DeadLetter, actor_user) -> DeadLetter:
    """Close a dead letter that must not be processed."""
    letter = DeadLetter.objects.select_for_update().get(pk=letter.pk)
    if letter.status != DeadLetterStatus.OPEN:
        raise RuleError({"status": f"this dead letter is already {letter.status}"})
    with audit_context(user=actor_user, reason="discard dead letter"):
        letter.status = DeadLetterStatus.DISCARDED
        letter.save(update_fields=["status"])
    return letter


@transaction.atomic
def ctr_mark_filed(*, report: CtrReport, actor_user) -> CtrReport:
    """Record that the CTR for this account-day was filed."""
    report = CtrReport.objects.select_for_update().get(pk=report.pk)
    with audit_context(user=actor_user, reason="CTR filed"):
        report.status = CtrStatus.FILED
        report.updated_at = timezone.now()
        report.save(update_fields=["status", "updated_at"])
    return report


# --- backtest -----------------------------------------------------------------------------


@transaction.atomic
def backtest_request(
    *,
    version: RuleVersion,
    actor_user,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Backtest:
    """Queue a backtest of a rule version; the task runs after commit."""
    from monitoring.tasks import backtest_run_task

    with audit_context(user=actor_user, reason="backtest"):
        run = Backtest.objects.create(
            rule_version=version, since=since, until=until, requested_by=actor_user
        )
    transaction.on_commit(lambda: backtest_run_task.delay(run.pk))
    return run


def backtest_execute(
    *, backtest_id: int, chunk_accounts: int = 500, screen: ScreenFn | None = None
) -> Backtest:
    """Evaluate the version over stored history, account by account (memory stays bounded
    by one chunk of accounts); stores counts, per-customer totals and a sample. Raises no
    alert and opens no case."""
    with transaction.atomic():
        run = Backtest.objects.select_for_update().get(pk=backtest_id)
        if run.status not in (BacktestStatus.QUEUED, BacktestStatus.FAILED):
            return run  # already running or done: a redelivered task does nothing
        run.status = BacktestStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        outcome = _backtest(run, chunk_accounts=chunk_accounts, screen=screen)
    except Exception as exc:
        with transaction.atomic():
            run.status = BacktestStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
        raise
    with transaction.atomic():
        for name, value in outcome.items():
            setattr(run, name, value)
        run.status = BacktestStatus.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=[*outcome, "status", "finished_at"])
    return run


def _backtest(run: Backtest, *, chunk_accounts: int, screen: ScreenFn | None) -> dict:
    version = RuleVersion.objects.select_related("rule").get(pk=run.rule_version_id)
    config = rule_config(version)
    context = EvalContext(
        screen=screen if screen is not None else default_screen(),
        jurisdictions=jurisdiction_lists(),
    )
    where, params = [], []
    if run.since:
        where.append("timestamp >= %s")
        params.append(run.since)
    if run.until:
        where.append("timestamp <= %s")
        params.append(run.until)
    scope = Transaction.objects.all()
    if run.since:
        scope = scope.filter(timestamp__gte=run.since)
    if run.until:
        scope = scope.filter(timestamp__lte=run.until)
    accounts = list(scope.order_by("account_id").values_list("account_id", flat=True).distinct())
    alerts = reports = scanned = 0
    per_customer: dict[str, list] = {}
    sample: list[dict] = []
    for start in range(0, len(accounts), chunk_accounts):
        chunk = accounts[start : start + chunk_accounts]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    _SELECT_TX + "WHERE account_id = ANY(%s)" + "".join(f" AND {w}" for w in where),
                    [chunk, *params],
                )
                rows = cursor.fetchall()
        else:
            queryset = scope.filter(account_id__in=chunk)
            rows = list(queryset.values_list(*_ROW_FIELDS))
        by_account: dict[str, list[TransactionEvent]] = {}
        for row in rows:
            event = _row_event(row)
            by_account.setdefault(event.account_id, []).append(event)
        scanned += len(rows)
        for account_id, events in by_account.items():
            result = evaluate_account(AccountHistory(account_id, events), [config], context)
            for finding in result.findings:
                alerts += 1
                entry = per_customer.setdefault(finding.anchor.customer_id, [0, Decimal(0)])
                entry[0] += 1
                entry[1] += finding.anchor.amount
                if len(sample) < 50:
                    sample.append(
                        {
                            "transaction": tx_ref(finding.anchor),
                            "customer_id": finding.anchor.customer_id,
                            "account_id": account_id,
                            "timestamp": finding.anchor.timestamp.isoformat(),
                            "severity": finding.severity,
                            "decision": finding.decision,
                        }
                    )
            reports += len(result.reports)
    top = sorted(per_customer.items(), key=lambda item: (-item[1][0], item[0]))[:100]
    return {
        "transactions_scanned": scanned,
        "accounts_scanned": len(accounts),
        "alert_count": alerts,
        "report_count": reports,
        "by_customer": [{"customer_id": c, "alerts": n, "amount": str(a)} for c, (n, a) in top],
        "sample_alerts": sample,
    }


# --- demo ---------------------------------------------------------------------------------


DEMO_FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Elif", "Farid", "Grace", "Hugo",
                    "Ines", "Jonas", "Kavya", "Leon", "Mei", "Nadia", "Omar", "Paula",
                    "Quentin", "Rosa", "Samuel", "Tara", "Viktor", "Wanda", "Yusuf", "Zara")
DEMO_LAST_NAMES = ("Andersen", "Baptiste", "Costa", "Dvorak", "Eriksen", "Fischer",
                   "Gallagher", "Haddad", "Ivanova", "Jansen", "Kowalski", "Lindqvist",
                   "Moreau", "Nakamura", "Okafor", "Petersen", "Quinn", "Romano", "Sato",
                   "Teixeira", "Urquhart", "Varga", "Whitfield", "Yilmaz")


def _demo_customers_create(events: Sequence[dict[str, Any]], *, seed: int) -> None:
    """Stored customers (with names) for the demo feed's customer ids, so its cases show
    who they are about; ids already stored are left as they are."""
    from cases.customers import customer_rows_clean, customers_upsert_many

    ids = sorted({e["customer_id"] for e in events})
    stored = set(Customer.objects.filter(external_id__in=ids)
                 .values_list("external_id", flat=True))
    rng = random.Random(seed)
    names = {i: f"{rng.choice(DEMO_FIRST_NAMES)} {rng.choice(DEMO_LAST_NAMES)}" for i in ids}
    rows = [{"external_id": i, "name": names[i]} for i in ids if i not in stored]
    if rows:
        customers_upsert_many(customer_rows_clean(rows), source="demo monitoring feed")


def demo_monitoring_load(
    *, actor: Actor, accounts: int = 80, days: int = 60, batch_size: int = 500, seed: int = 7
) -> IngestResult:
    """Feed the labelled synthetic generator through the ingestion path in process, so
    alerts, CTR rows and cases appear in the demo (embedded default, no Redis needed)."""
    from monitoring.rules.schema import validate_event
    from monitoring.synthetic import generate

    monitoring_seed_defaults(actor=actor)
    feed = generate(
        seed=seed,
        accounts=accounts,
        days=days,
        instances=2,
        late_fraction=0.01,
        source="demo",
        opaque_ids=True,
    )
    total = IngestResult()
    with audit_context(actor=actor, reason="demo monitoring feed"):
        _demo_customers_create(feed.events, seed=seed)
        rules = active_rule_configs()
        context = EvalContext(screen=default_screen(), jurisdictions=jurisdiction_lists())
        for start in range(0, len(feed.events), batch_size):
            events = [validate_event(e) for e in feed.events[start : start + batch_size]]
            part = transactions_ingest(events=events, rules=rules, context=context)
            total.received += part.received
            total.inserted += part.inserted
            total.duplicates += part.duplicates
            total.alert_ids.extend(part.alert_ids)
            total.reports_written += part.reports_written
            total.cases_touched += part.cases_touched
    _demo_cases_work(actor=actor)
    return total


#: How many of the demo feed's cases are worked (the rest stay new in the queue).
DEMO_WORKED_CASES = 14


def _demo_cases_work(*, actor: Actor) -> None:
    """Work the cases the demo feed's alerts opened through the case services (the queue
    shows every state, with ages); once: not when any of them was worked already."""
    from cases.demo import demo_cases_work

    cases = Case.objects.filter(source=CaseSource.MONITORING, dedupe_key__startswith="monitoring:")
    if cases.exclude(state=CaseState.NEW).exists():
        return
    demo_cases_work(list(cases.order_by("pk")[:DEMO_WORKED_CASES]), actor=actor)
