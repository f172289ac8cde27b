"""Writing to the ledger. Every entry is written inside the caller's transaction, so an
entry exists exactly when the change it records exists. It joins the hash chain either in
that transaction, under one chain lock (``AUDIT_SEAL_MODE=inline``), or right after commit,
when a sealer chains committed pending entries in batches (``background``)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from audit.chain import (
    GENESIS_PREV_HASH,
    ROW_FIELDS,
    canonical_bytes,
    fast_header,
    format_ts,
    sha256_hex,
)
from audit.context import effective_context
from audit.models import LedgerEntry, PendingEntry
from audit.sealer import sealer_wake
from config.rows import copy_objects

# Arbitrary constant identifying the ledger's chain lock among PostgreSQL advisory locks.
CHAIN_LOCK_KEY = 0x5649_4749_4C  # "VIGIL"


def _lock_chain() -> None:
    """Serialise appends: held until the surrounding transaction commits or rolls back.
    On SQLite the IMMEDIATE transaction mode already holds the single write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


_LEDGER_COLUMNS = (*ROW_FIELDS, "pending_id")


def _chain(rows, *, seq: int, prev: str) -> list[tuple]:
    """Ledger rows (in _LEDGER_COLUMNS order) for rows (ts, actor_type, actor_id,
    actor_label, action, object_type, object_id, correlation_id, body, body_sha256,
    pending_id), consecutive after seq/prev. Headers are built by the verifier's fast
    builder (byte-identical to entry_header(); tests/audit/test_chain.py checks both)."""
    out = []
    ts_texts: dict = {}
    sha256 = hashlib.sha256
    for (ts, a_type, a_id, a_label, action, o_type, o_id, corr, body, body_sha,
         pending_id) in rows:
        seq += 1
        ts_text = ts_texts.get(ts)
        if ts_text is None:
            ts_text = ts_texts[ts] = format_ts(ts)
        if not seq % 128:
            time.sleep(0)  # hand the GIL to this process's request/task thread now and then
        header = fast_header(seq, a_type, a_id, a_label, action, o_type, o_id, corr,
                             ts_text, body_sha, prev)
        digest = sha256(header).hexdigest()
        out.append((seq, ts, a_type, a_id, a_label, action, o_type, o_id, corr, header, body,
                    prev, digest, pending_id))
        prev = digest
    return out


def _chain_head() -> tuple[int, str]:
    head = LedgerEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    return (head[0], head[1]) if head else (0, GENESIS_PREV_HASH)


# A pending row's columns, in the order of the rows ledger_append_many prepares.
_PENDING_FIELDS = ("ts", "actor_type", "actor_id", "actor_label", "action", "object_type",
                   "object_id", "correlation_id", "body", "body_sha256")


def background_sealing() -> bool:
    return settings.AUDIT_SEAL_MODE == "background"  # settings refuse it without PostgreSQL


class _PendingBatch:
    """Pending entries gathered by :func:`ledger_batch`, written as one INSERT."""

    def __init__(self, savepoints: list) -> None:
        self.savepoints = savepoints
        self.entries: list[PendingEntry] = []


_BATCH: ContextVar[_PendingBatch | None] = ContextVar("vigil_ledger_batch", default=None)


def _savepoints() -> list:
    # Atomic blocks without a savepoint push None: they roll back only with their parent.
    return [sid for sid in connection.savepoint_ids if sid]


@contextmanager
def ledger_batch() -> Iterator[None]:
    """Inside the caller's transaction, write the pending entries appended in this block
    (history rows of audited saves included) as one INSERT when the block ends, instead of
    one per append. Background sealing only (elsewhere a no-op). The entries stay in the
    transaction of their changes: an append made inside a savepoint opened in the block
    (which could roll back alone) is written at once, so it precedes the gathered ones.
    Until the block ends, reads of the pending table do not see the gathered entries."""
    if (not background_sealing() or not connection.in_atomic_block
            or _BATCH.get() is not None):
        yield
        return
    batch = _PendingBatch(_savepoints())
    token = _BATCH.set(batch)
    try:
        yield
    except BaseException:
        _BATCH.reset(token)
        # The block's changes may still commit (the caller can catch the exception): so
        # must their entries. If the transaction itself failed, this fails too, and
        # nothing of it can commit; the original exception is the one to report.
        try:
            _insert_pending(batch.entries)
        except Exception:  # noqa: BLE001, S110 - see above
            pass
        raise
    _BATCH.reset(token)
    _insert_pending(batch.entries)


def _insert_pending(entries: list[PendingEntry]) -> None:
    """One cached INSERT ... RETURNING for pending entries (this is on every audited
    write's path); sets their ids and wakes this process's sealer at commit."""
    if not entries:
        return
    copy_objects(entries)  # a bulk write's entries (one per row) by COPY; a few by INSERT
    if settings.AUDIT_SEALER == "thread":
        transaction.on_commit(sealer_wake)


def ledger_append_many(
    items: list[tuple[str, str, str, dict]],
) -> list[LedgerEntry] | list[PendingEntry]:
    """Append (action, object_type, object_id, data) items as consecutive entries, inside
    the caller's transaction. Inline sealing returns the chained entries; background
    sealing returns the pending rows (their sequence numbers are assigned after commit;
    inside :func:`ledger_batch`, their ids only when the batch is written)."""
    if not items:
        return []
    ctx = effective_context()
    actor = ctx.resolve_actor()
    now = timezone.now()
    # Serialise and hash the bodies before taking the chain lock: the lock is held until
    # the transaction commits, so everything done under it limits appends per second.
    rows = []
    for action, object_type, object_id, data in items:
        body = canonical_bytes(data)
        rows.append((now, actor.type, actor.id, actor.label, action, object_type,
                     str(object_id), ctx.correlation_id, body, sha256_hex(body), None))
    if background_sealing():
        width = len(_PENDING_FIELDS)
        pending = [PendingEntry(**dict(zip(_PENDING_FIELDS, r[:width], strict=True)))
                   for r in rows]
        batch = _BATCH.get()
        if batch is not None and connection.in_atomic_block and (
                _savepoints() == batch.savepoints):
            batch.entries.extend(pending)
        else:
            _insert_pending(pending)
        return pending
    # No savepoint: a failed append must abort the caller's whole transaction anyway (no
    # change without its entry), and two fewer round trips under the lock matter.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        seq, prev = _chain_head()
        entries = [LedgerEntry(**dict(zip(_LEDGER_COLUMNS, row, strict=True)))
                   for row in _chain(rows, seq=seq, prev=prev)]
        copy_objects(entries)  # keyed by their sequence numbers
    return entries


_PENDING_COLUMNS = ", ".join((*_PENDING_FIELDS, "id"))


def ledger_seal_pending(*, batch: int | None = None) -> int:
    """Chain every committed pending entry (background sealing); returns how many. Each
    batch is one transaction under the chain lock: entries are appended and their pending
    rows deleted together, so a pending entry is sealed exactly once. Safe to run from any
    number of processes at once; a no-op with inline sealing."""
    if connection.vendor != "postgresql":
        return 0
    batch = batch or settings.AUDIT_SEAL_BATCH
    total = 0
    while True:
        with transaction.atomic():
            _lock_chain()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {_PENDING_COLUMNS} FROM audit_pendingentry ORDER BY id LIMIT %s",  # noqa: S608 (fixed column list)
                    [batch])
                rows = [(*r[:8], bytes(r[8]), r[9], r[10]) for r in cursor.fetchall()]
                if not rows:
                    return total
                seq, prev = _chain_head()
                _copy_entries(cursor, _chain(rows, seq=seq, prev=prev))
                cursor.execute("DELETE FROM audit_pendingentry WHERE id = ANY(%s)",
                               [[r[10] for r in rows]])
        total += len(rows)
        if len(rows) < batch:
            return total


_LEDGER_COPY_TYPES = ("int8", "timestamptz", "varchar", "varchar", "varchar", "varchar",
                     "varchar", "varchar", "varchar", "bytea", "bytea", "varchar", "varchar",
                     "int8")


def _copy_entries(cursor, rows: list[tuple]) -> None:
    """Binary COPY: several times cheaper than a multi-row INSERT for thousands of entries,
    and bytea travels without hex encoding."""
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    with raw.copy(f"COPY audit_ledgerentry ({', '.join(_LEDGER_COLUMNS)}) FROM STDIN "
                  "(FORMAT BINARY)") as copy:
        copy.set_types(_LEDGER_COPY_TYPES)
        for i, row in enumerate(rows):
            if not i % 128:
                time.sleep(0)  # as in _chain: the sealer shares its process's GIL
            copy.write_row(row)


def ledger_pending_stats() -> tuple[int, float | None]:
    """(pending entries, age in seconds of the oldest) — what the sealer has not chained."""
    row = PendingEntry.objects.aggregate(n=Count("id"), oldest=Min("ts"))
    if not row["n"]:
        return 0, None
    return row["n"], (timezone.now() - row["oldest"]).total_seconds()


def audit_record(*, action: str, object_type: str, object_id: str, data: dict) -> LedgerEntry:
    """Record an event that is not a row change (a query, an external call, an export, a
    decision). Call it inside the transaction of the change it documents."""
    return ledger_append_many([(action, object_type, str(object_id), data)])[0]


@transaction.atomic
def ledger_entry_redact(*, seq: int, reason: str) -> LedgerEntry:
    """Remove an entry's body after its retention period. The header keeps the body's
    SHA-256, so the chain, digests and proofs still verify; the redaction itself is
    recorded. PostgreSQL only: the append-only trigger allows exactly this change in a
    session that enables it."""
    if not reason.strip():
        raise ValueError("a redaction needs a reason (retention rule or legal basis)")
    if connection.vendor != "postgresql":
        raise NotImplementedError("redaction needs PostgreSQL")
    entry = LedgerEntry.objects.select_for_update().get(seq=seq)
    if entry.body is None:
        return entry
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL vigil.audit_redaction = 'on'")
        cursor.execute("UPDATE audit_ledgerentry SET body = NULL WHERE seq = %s", [seq])
        cursor.execute("SET LOCAL vigil.audit_redaction = 'off'")
    audit_record(action="audit.redact", object_type=entry.object_type,
                 object_id=entry.object_id,
                 data={"seq": seq, "entry_hash": entry.hash, "reason": reason})
    entry.refresh_from_db()
    return entry
