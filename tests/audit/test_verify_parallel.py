"""Parallel verification gives exactly the single-pass result, including damage at the
seams between ranges and digests that straddle them."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.context import Actor, audit_context
from audit.digests import digest_create
from audit.services import ledger_append_many
from audit.verification import _anchors_and_digest_problems, _conninfo, ledger_row_batches
from audit.verify_parallel import verify_parallel
from tests.audit.conftest import raw_sql

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 90  # three workers: ranges start at 1, 31, 61


def serial(anchors):
    from audit.chain import ChainVerifier

    verifier = ChainVerifier(anchors=anchors)
    for batch in ledger_row_batches(1):
        verifier.feed(batch)
    return verifier.finish()


def summary(report):
    return (report.checked, report.last_seq, report.head_hash,
            [(str(p.kind), p.seq) for p in report.problems])


ATTACKS = {
    "intact": None,
    "body at a seam": "UPDATE audit_ledgerentry SET body = set_byte(body, 3, 65) WHERE seq = 31",
    "hash before a seam": "UPDATE audit_ledgerentry SET hash = repeat('f', 64) WHERE seq = 60",
    "deleted before a seam": "DELETE FROM audit_ledgerentry WHERE seq = 30",
    "deleted at a seam": "DELETE FROM audit_ledgerentry WHERE seq = 61",
    "metadata": "UPDATE audit_ledgerentry SET actor_label = 'x' WHERE seq = 45",
    "truncated": "DELETE FROM audit_ledgerentry WHERE seq > 65",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_parallel_equals_single_pass(audit_env, attack):
    with audit_context(actor=Actor.system("seed")):
        ledger_append_many([("test.append", "test.item", str(i), {"i": i}) for i in range(70)])
        digest_create()  # 1..70: straddles the seams at 31 and 61
        ledger_append_many([("test.append", "test.item", str(i), {"i": i}) for i in range(20)])
    anchors, _ = _anchors_and_digest_problems()
    assert len(anchors) == 1
    if ATTACKS[attack]:
        with transaction.atomic():
            raw_sql(ATTACKS[attack])
    expected = serial(anchors)
    got = verify_parallel(conninfo=_conninfo(), start_seq=1, prev_hash="0" * 64,
                          anchors=anchors, workers=3)
    assert summary(got) == summary(expected)
    assert got.ok == (attack == "intact")
