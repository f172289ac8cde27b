"""Routing events to shards (pure) and leasing shards to consumers (real Redis)."""

from __future__ import annotations

import time
import uuid
import zlib

import pytest
import redis

from monitoring.sharding import (
    MAX_SHARDS,
    ShardLeases,
    shard_of,
    shard_streams,
    stream_for,
    validate_shards,
)


def test_shard_is_crc32_of_the_account_so_producers_in_any_language_agree():
    # 0xCBF43926 is the published CRC-32 (ISO-HDLC) check value of "123456789".
    assert shard_of("123456789", 1000) == 0xCBF43926 % 1000
    assert shard_of("ACC-ü", 7) == zlib.crc32("ACC-ü".encode()) % 7
    assert stream_for("tx", "123456789", 8) == f"tx:{0xCBF43926 % 8}"


def test_one_shard_is_the_plain_stream():
    assert shard_streams("transactions", 1) == ["transactions"]
    assert stream_for("transactions", "A1", 1) == "transactions"
    assert shard_streams("tx", 3) == ["tx:0", "tx:1", "tx:2"]


@pytest.mark.parametrize("bad", [0, -1, MAX_SHARDS + 1, True, 2.0, "4"])
def test_bad_shard_counts_are_refused(bad):
    with pytest.raises(ValueError, match="shards must be an integer"):
        validate_shards(bad)


@pytest.fixture
def leases_factory(redis_client):
    client = redis_client
    stream = f"test-lease-{uuid.uuid4().hex[:10]}"

    def make(name: str, *, shards: int = 8, lease_ms: int = 10_000) -> ShardLeases:
        return ShardLeases(
            client=client,
            stream=stream,
            group="g",
            consumer=name,
            shards=shards,
            lease_ms=lease_ms,
        )

    yield make
    for key in client.scan_iter(f"{stream}:lease:*"):
        client.delete(key)


def _settle(members: list[ShardLeases], rounds: int = 3) -> dict[str, list[str]]:
    held = {}
    for _ in range(rounds):  # extras are released on one round, taken on the next
        for member in members:
            held[member.consumer] = member.refresh()
    return held


@pytest.mark.redis
def test_shards_are_split_fairly_and_never_held_twice(leases_factory):
    a, b, c = (leases_factory(name) for name in ("a", "b", "c"))
    assert a.refresh() == shard_streams(a.streams[0].rsplit(":", 1)[0], 8)  # alone: all
    held = _settle([a, b, c])
    assert sorted(len(v) for v in held.values()) == [2, 3, 3]
    everything = [s for streams in held.values() for s in streams]
    assert sorted(everything) == sorted(a.streams) and len(set(everything)) == 8
    assert a.owners() == {s: name for name, streams in held.items() for s in streams}


@pytest.mark.redis
def test_a_leaving_consumer_hands_its_shards_over_at_once(leases_factory):
    a, b = leases_factory("a"), leases_factory("b")
    held = _settle([a, b])
    assert len(held["a"]) == len(held["b"]) == 4
    b.leave()
    assert a.refresh() == a.streams
    assert set(a.owners().values()) == {"a"}


@pytest.mark.redis
def test_a_dead_consumers_shards_pass_to_the_others_after_the_lease(leases_factory):
    a, b = leases_factory("a", lease_ms=300), leases_factory("b", lease_ms=300)
    held = _settle([a, b])
    assert len(held["b"]) == 4
    # b stops refreshing (killed). Before its lease lapses a cannot take its shards ...
    assert len(a.refresh()) == 4
    time.sleep(0.5)
    # ... afterwards a holds everything.
    assert a.refresh() == a.streams


def test_lease_too_short_is_refused():
    with pytest.raises(ValueError, match="lease_ms"):
        ShardLeases(
            client=redis.Redis(), stream="s", group="g", consumer="c", shards=2, lease_ms=10
        )
