"""Writing to the ledger. Every entry is appended under one chain lock, inside the
caller's transaction, so an entry exists exactly when the change it records exists."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_PREV_HASH, canonical_bytes, entry_hash, entry_header, sha256_hex
from audit.context import effective_context
from audit.models import LedgerEntry

# Arbitrary constant identifying the ledger's chain lock among PostgreSQL advisory locks.
CHAIN_LOCK_KEY = 0x5649_4749_4C  # "VIGIL"


def _lock_chain() -> None:
    """Serialise appends: held until the surrounding transaction commits or rolls back.
    On SQLite the IMMEDIATE transaction mode already holds the single write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def ledger_append_many(items: list[tuple[str, str, str, dict]]) -> list[LedgerEntry]:
    """Append (action, object_type, object_id, data) items as consecutive entries."""
    if not items:
        return []
    ctx = effective_context()
    actor = ctx.resolve_actor()
    # Serialise and hash the bodies before taking the chain lock: the lock is held until
    # the transaction commits, so everything done under it limits appends per second.
    prepared = []
    for action, object_type, object_id, data in items:
        body = canonical_bytes(data)
        prepared.append((action, object_type, str(object_id), body, sha256_hex(body)))
    # No savepoint: a failed append must abort the caller's whole transaction anyway (no
    # change without its entry), and two fewer round trips under the lock matter.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        head = LedgerEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev = (head[0], head[1]) if head else (0, GENESIS_PREV_HASH)
        now = timezone.now()
        entries = []
        for action, object_type, object_id, body, body_sha in prepared:
            seq += 1
            header = entry_header(
                seq=seq, ts=now, actor_type=actor.type, actor_id=actor.id,
                actor_label=actor.label, action=action, object_type=object_type,
                object_id=object_id, correlation_id=ctx.correlation_id,
                body_sha256=body_sha, prev_hash=prev,
            )
            digest = entry_hash(header)
            entries.append(LedgerEntry(
                seq=seq, ts=now, actor_type=actor.type, actor_id=actor.id,
                actor_label=actor.label, action=action, object_type=object_type,
                object_id=object_id, correlation_id=ctx.correlation_id,
                header=header, body=body, prev_hash=prev, hash=digest,
            ))
            prev = digest
        LedgerEntry.objects.bulk_create(entries)
    return entries


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
