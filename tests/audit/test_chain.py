"""Pure tests of the streaming chain verifier: every kind of damage is named at its seq."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.chain import (
    GENESIS_PREV_HASH,
    ChainVerifier,
    Damage,
    _expected_header,
    entry_header,
    format_ts,
    parse_header,
)
from tests.audit.chainkit import anchor_for, make_chain, make_row, reseal


def verify(rows, **kwargs):
    verifier = ChainVerifier(**kwargs)
    verifier.feed(rows)
    return verifier.finish()


def first(report):
    assert report.first_problem is not None, "damage went undetected"
    return report.first_problem.kind, report.first_problem.seq


def test_intact_chain_verifies_and_reports_head():
    rows = make_chain(50)
    report = verify(rows)
    assert report.ok
    assert report.checked == 50
    assert (report.first_seq, report.last_seq, report.head_hash) == (1, 50, rows[-1].hash)


def test_feeding_in_batches_equals_one_pass():
    rows = make_chain(30)
    verifier = ChainVerifier()
    for i in range(0, 30, 7):
        verifier.feed(rows[i : i + 7])
    assert verifier.finish().as_dict() == verify(rows).as_dict()


def test_incremental_run_starts_from_a_trusted_head():
    rows = make_chain(20)
    assert verify(rows[10:], start_seq=11, prev_hash=rows[9].hash).ok
    kind, seq = first(verify(rows[10:], start_seq=11, prev_hash=rows[8].hash))
    assert (kind, seq) == (Damage.BROKEN_LINK, 11)


@given(st.text(), st.text(), st.text(), st.integers(min_value=1, max_value=2**62))
@settings(max_examples=60, deadline=None)
def test_fast_header_rebuild_matches_canonical_encoder(label, object_id, corr, seq):
    ts = dt.datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=dt.UTC)
    row = make_row(seq, "a" * 64, ts=ts, actor_label=label, object_id=object_id,
                   correlation_id=corr)
    body_sha = parse_header(row.header)["body_sha256"]
    assert _expected_header(row, format_ts(ts), body_sha, "a" * 64) == row.header
    assert verify([row], start_seq=seq, prev_hash="a" * 64).ok


def test_flipped_body_byte_is_body_mismatch():
    rows = make_chain(10)
    body = bytearray(rows[4].body)
    body[3] ^= 0x01
    rows[4] = rows[4]._replace(body=bytes(body))
    assert first(verify(rows)) == (Damage.BODY_MISMATCH, 5)


def test_changed_hash_only_is_hash_mismatch():
    rows = make_chain(10)
    rows[6] = rows[6]._replace(hash="f" * 64)
    assert first(verify(rows)) == (Damage.HASH_MISMATCH, 7)


def test_changed_payload_with_recomputed_hash_breaks_the_next_link():
    rows = make_chain(10)
    forged = make_row(4, rows[3].prev_hash, body={"after": {"n": "forged"}})
    rows[3] = forged
    assert first(verify(rows)) == (Damage.BROKEN_LINK, 5)


def test_resealed_suffix_passes_alone_but_not_against_a_digest():
    rows = make_chain(40)
    anchor = anchor_for(rows[:30])
    tampered = list(rows)
    tampered[20] = make_row(21, rows[19].hash, body={"after": {"n": "forged"}})
    tampered = reseal(tampered, 20)
    assert verify(tampered).ok  # why digests outside the database exist
    kind, seq = first(verify(tampered, anchors=[anchor]))
    assert kind == Damage.DIGEST_MISMATCH and seq == 30


def test_resealed_inner_range_is_caught_by_the_merkle_root():
    rows = make_chain(40)
    anchor = anchor_for(rows[:30])
    tampered = reseal([*rows[:4], make_row(5, rows[3].hash, body={"x": 1}), *rows[5:]], 4)
    # Suppose the attacker also got the head hash right: the Merkle root still differs.
    forged_anchor = dataclasses.replace(anchor, head_hash=tampered[29].hash)
    assert first(verify(tampered, anchors=[forged_anchor])) == (Damage.DIGEST_MISMATCH, 1)


def test_overlapping_hourly_and_daily_digests_are_all_checked():
    rows = make_chain(30)
    anchors = [anchor_for(rows[:10]), anchor_for(rows[10:30]), anchor_for(rows[:30], "day")]
    report = verify(rows, anchors=anchors)
    assert report.ok and report.digests_checked == 3


def test_deleted_middle_entry_is_a_gap():
    rows = make_chain(10)
    del rows[4]
    assert first(verify(rows)) == (Damage.GAP, 5)


def test_truncated_tail_is_caught_against_a_digest():
    rows = make_chain(30)
    anchor = anchor_for(rows[:25])
    assert verify(rows[:20]).ok
    assert first(verify(rows[:20], anchors=[anchor])) == (Damage.TRUNCATED, 21)


def test_inserted_forged_entry_resealed_forward():
    rows = make_chain(30)
    anchor = anchor_for(rows[:30])
    forged = [*rows[:10], make_row(11, rows[9].hash, action="delete"), *rows[10:]]
    forged = [r._replace(seq=i + 1) for i, r in enumerate(forged)]
    forged = reseal(forged, 10)
    assert verify(forged).ok
    kind, _ = first(verify(forged, anchors=[anchor]))
    assert kind == Damage.DIGEST_MISMATCH


def test_swapped_entries_are_detected():
    rows = make_chain(10)
    a, b = rows[3], rows[4]
    rows[3], rows[4] = b._replace(seq=4), a._replace(seq=5)
    kind, seq = first(verify(rows))
    assert seq == 4 and kind in {Damage.METADATA_MISMATCH, Damage.BROKEN_LINK}


def test_duplicate_entry_is_named():
    rows = make_chain(10)
    rows.insert(5, rows[4])
    assert first(verify(rows)) == (Damage.FORK, 5)


def test_fork_with_a_different_entry_on_the_same_predecessor():
    rows = make_chain(10)
    sibling = make_row(6, rows[4].hash, action="fork")
    rows[5] = sibling
    rows.insert(6, make_chain(1, start=6, prev=rows[4].hash)[0])
    assert first(verify(rows)) == (Damage.FORK, 6)


@pytest.mark.parametrize("column", ["actor_id", "actor_label", "correlation_id", "ts", "action"])
def test_changed_metadata_column_is_named(column):
    rows = make_chain(10)
    value = rows[2].ts + dt.timedelta(seconds=1) if column == "ts" else "mallory"
    rows[2] = rows[2]._replace(**{column: value})
    report = verify(rows)
    assert first(report) == (Damage.METADATA_MISMATCH, 3)
    assert column in report.first_problem.detail


def test_replaced_genesis_is_bad_genesis():
    rows = make_chain(5)
    rows[0] = make_row(1, "1" * 64)
    assert first(verify(rows)) == (Damage.BAD_GENESIS, 1)


def test_replaced_genesis_with_valid_zero_link_breaks_entry_two():
    rows = make_chain(5)
    rows[0] = make_row(1, GENESIS_PREV_HASH, action="forged-genesis")
    assert first(verify(rows)) == (Damage.BROKEN_LINK, 2)


def test_out_of_order_rows():
    rows = make_chain(6)
    rows.append(rows[1])
    assert first(verify(rows)) == (Damage.OUT_OF_ORDER, 2)


def test_non_canonical_header_is_malformed():
    rows = make_chain(3)
    header = rows[1].header.replace(b'{"action"', b'{ "action"')
    rows[1] = rows[1]._replace(header=header, hash=hashlib.sha256(header).hexdigest())
    assert first(verify(rows)) == (Damage.MALFORMED_HEADER, 2)


def test_redacted_body_still_verifies_but_a_changed_header_does_not():
    rows = make_chain(6)
    rows[2] = rows[2]._replace(body=None)
    report = verify(rows)
    assert report.ok and report.redacted == 1
    rows[2] = rows[2]._replace(actor_label="someone else")
    assert first(verify(rows)) == (Damage.METADATA_MISMATCH, 3)


def test_problems_after_the_first_are_listed_without_cascading():
    rows = make_chain(20)
    rows[3] = rows[3]._replace(actor_id="x")
    rows[12] = rows[12]._replace(hash="0" * 64)
    report = verify(rows)
    assert [(p.kind, p.seq) for p in report.problems] == [
        (Damage.METADATA_MISMATCH, 4), (Damage.HASH_MISMATCH, 13), (Damage.BROKEN_LINK, 14),
    ]


def test_header_encoding_matches_the_documented_layout():
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    header = entry_header(
        seq=1, ts=ts, actor_type="system", actor_id="", actor_label="job", action="a",
        object_type="o", object_id="1", correlation_id="c", body_sha256="b" * 64,
        prev_hash=GENESIS_PREV_HASH,
    )
    assert header.startswith(b'{"action":"a","actor":{"id":"","label":"job","type":"system"}')
    assert b'"ts":"2026-01-01T00:00:00.000000Z","v":1}' in header


@given(st.lists(st.text(), min_size=7, max_size=7), st.integers(min_value=1, max_value=2**62),
       st.datetimes(timezones=st.just(dt.UTC)))
@settings(max_examples=80, deadline=None)
def test_sealer_header_builder_is_byte_identical_to_entry_header(fields, seq, ts):
    from audit.chain import entry_header, fast_header

    a_type, a_id, a_label, action, o_type, o_id, corr = fields
    kwargs = dict(actor_type=a_type, actor_id=a_id, actor_label=a_label, action=action,
                  object_type=o_type, object_id=o_id, correlation_id=corr)
    expected = entry_header(seq=seq, ts=ts, body_sha256="b" * 64, prev_hash="c" * 64, **kwargs)
    assert fast_header(seq, a_type, a_id, a_label, action, o_type, o_id, corr, format_ts(ts),
                       "b" * 64, "c" * 64) == expected
