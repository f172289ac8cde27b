"""Parallel verification gives exactly the single-pass result, including damage at the
seams between ranges and digests that straddle them."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.chain import GENESIS_PREV_HASH, META_SEPARATOR, ChainVerifier
from audit.context import Actor, audit_context
from audit.digests import digest_create
from audit.services import ledger_append_many, ledger_seal_pending
from audit.verification import (
    _anchors_and_digest_problems,
    _conninfo,
    _orm_rows,
    _verify_in_process,
    verify_ledger,
)
from audit.verify_parallel import verify_parallel
from tests.audit.conftest import raw_sql

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 90  # three workers: ranges start at 1, 31, 61


def serial(anchors):
    """The reference: one pass over full ROW_FIELDS rows read through the ORM."""
    verifier = ChainVerifier(anchors=anchors)
    for batch in _orm_rows(1):
        verifier.feed(batch)
    return verifier.finish()


def compact(anchors):
    """What verify_audit does on PostgreSQL: one pass over the compact stream."""
    return _verify_in_process(1, GENESIS_PREV_HASH, anchors, 0, None)


def summary(report):
    return (
        report.checked,
        report.last_seq,
        report.head_hash,
        [(str(p.kind), p.seq) for p in report.problems],
    )


ATTACKS = {
    "intact": None,
    "body at a seam": "UPDATE audit_ledgerentry SET body = set_byte(body, 3, 65) WHERE seq = 31",
    "hash before a seam": "UPDATE audit_ledgerentry SET hash = repeat('f', 64) WHERE seq = 60",
    "deleted before a seam": "DELETE FROM audit_ledgerentry WHERE seq = 30",
    "deleted at a seam": "DELETE FROM audit_ledgerentry WHERE seq = 61",
    "metadata": "UPDATE audit_ledgerentry SET actor_label = 'x' WHERE seq = 45",
    # The compact stream joins metadata with a separator: a value that contains it must
    # not shift fields into a match.
    "separator in metadata": "UPDATE audit_ledgerentry SET actor_id = actor_id || chr(31) || "
    "'x', actor_label = 'x' WHERE seq = 44",
    "field moved across the separator": "UPDATE audit_ledgerentry SET action = action || "
    "chr(31) || object_type WHERE seq = 47",
    "time": "UPDATE audit_ledgerentry SET ts = ts + interval '1 microsecond' WHERE seq = 50",
    "truncated": "DELETE FROM audit_ledgerentry WHERE seq > 65",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_parallel_equals_single_pass(audit_env, attack):
    with audit_context(actor=Actor.system("seed")):
        ledger_append_many([("test.append", "test.item", str(i), {"i": i}) for i in range(70)])
        digest_create()  # 1..70: straddles the seams at 31 and 61
        ledger_append_many([("test.append", "test.item", str(i), {"i": i}) for i in range(20)])
    # Background sealing: chain the last 20 now, not while the passes below read the ledger.
    ledger_seal_pending()
    anchors, _ = _anchors_and_digest_problems()
    assert len(anchors) == 1
    if ATTACKS[attack]:
        with transaction.atomic():
            raw_sql(ATTACKS[attack])
    expected = serial(anchors)
    got = verify_parallel(
        conninfo=_conninfo(), start_seq=1, prev_hash="0" * 64, anchors=anchors, workers=3
    )
    assert summary(got) == summary(expected)
    assert summary(compact(anchors)) == summary(expected)
    assert got.ok == (attack == "intact")


def test_separator_and_hostile_metadata_verify(audit_env):
    """Legitimate values holding the compact stream's separator, quotes, backslashes,
    control characters and non-Latin text leave the fast path and still verify."""
    odd = f'a{META_SEPARATOR}b "q" \\ \n\t Ж 名 \u2028 😀'
    with audit_context(actor=Actor.system(odd), correlation_id=odd):
        ledger_append_many(
            [("test.append", "test.item", odd, {"i": 1}), ("test.append", odd, "2", {"i": 2})]
        )
    ledger_seal_pending()
    result = verify_ledger(reconcile=False)
    assert result.chain.ok, result.chain.problems
    assert result.chain.checked == 2
    with transaction.atomic():
        raw_sql(f"UPDATE audit_ledgerentry SET object_type = 'x{META_SEPARATOR}y' WHERE seq = 2")
    result = verify_ledger(reconcile=False)
    assert [(str(p.kind), p.seq) for p in result.chain.problems] == [("metadata_mismatch", 2)]
