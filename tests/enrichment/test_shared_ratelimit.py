"""The provider budget shared by all worker processes through Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from enrichment.providers.resilience import SharedRateLimiter


def test_two_processes_share_one_budget(redis_client):
    key = f"test:enrichment:ratelimit:{uuid.uuid4().hex}"
    # Two limiters on one key stand for two worker processes: 120/min in total.
    first = SharedRateLimiter(redis_client, key, 120, burst=1)
    second = SharedRateLimiter(redis_client, key, 120, burst=1)
    started = time.monotonic()
    for limiter in (first, second, first, second):
        limiter.acquire()
    # One every 0.5 s across both: the fourth waits about 1.5 s after the first.
    assert time.monotonic() - started >= 1.4
    redis_client.delete(key)


def test_wait_beyond_max_wait_is_refused(redis_client):
    key = f"test:enrichment:ratelimit:{uuid.uuid4().hex}"
    limiter = SharedRateLimiter(redis_client, key, 1, burst=1)
    limiter.acquire()
    with pytest.raises(TimeoutError):
        limiter.acquire(max_wait=1)
    redis_client.delete(key)


def test_redis_outage_falls_back_to_a_local_budget():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = SharedRateLimiter(unreachable, "x", 600, burst=1, fallback_processes=2)
    started = time.monotonic()
    for _ in range(3):
        limiter.acquire()
    # 600/min divided by two processes: one every 0.2 s locally.
    assert time.monotonic() - started >= 0.35


def _count_script_calls(limiter: SharedRateLimiter) -> list[int]:
    """Record the tokens asked for in each Redis round trip of ``limiter``."""
    calls: list[int] = []
    script = limiter._script

    def counted(*, keys, args):
        calls.append(args[2])
        return script(keys=keys, args=args)

    limiter._script = counted
    return calls


def test_a_lease_takes_several_tokens_from_the_shared_budget_at_once(redis_client):
    key = f"test:enrichment:ratelimit:{uuid.uuid4().hex}"
    # 600/min with a burst of 4: the first process leases the whole burst in one trip.
    first = SharedRateLimiter(redis_client, key, 600, burst=4, lease=4)
    second = SharedRateLimiter(redis_client, key, 600, burst=4)
    calls = _count_script_calls(first)
    for _ in range(4):
        first.acquire()
    assert calls == [4]
    # The leased tokens were spent from the shared budget: the other process must wait.
    with pytest.raises(TimeoutError):
        second.acquire(max_wait=0.01)
    redis_client.delete(key)


def test_unspent_leased_tokens_lapse(redis_client):
    key = f"test:enrichment:ratelimit:{uuid.uuid4().hex}"
    limiter = SharedRateLimiter(redis_client, key, 6000, burst=100, lease=8)
    limiter.LEASE_SECONDS = 0.05
    calls = _count_script_calls(limiter)
    limiter.acquire()
    limiter.acquire()
    time.sleep(0.1)
    limiter.acquire()  # the six tokens left lapsed: asks Redis again
    assert calls == [8, 8]
    redis_client.delete(key)


def test_a_lease_larger_than_the_burst_is_cut_to_it(redis_client):
    limiter = SharedRateLimiter(redis_client, "unused", 60, burst=1, lease=16)
    assert limiter.lease == 1
    with pytest.raises(ValueError):
        SharedRateLimiter(redis_client, "unused", 60, lease=0)
