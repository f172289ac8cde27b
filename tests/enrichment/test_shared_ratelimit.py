"""The provider budget shared by all worker processes through Redis."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis

from enrichment.providers.resilience import SharedRateLimiter


@pytest.fixture
def redis_client():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("Redis is not available")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis does not answer")
    return client


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
