"""The circuit breaker shared by every worker process through Redis (real Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from enrichment.providers.errors import CircuitOpenError, ProviderUnavailable
from enrichment.providers.http import ProviderHttpClient
from enrichment.providers.resilience import BreakerState, RetryPolicy, SharedCircuitBreaker
from enrichment.stubs import demo_company

REPO = Path(__file__).resolve().parents[2]


class SharedClock:
    """One fake clock for several breakers (standing for several hosts in sync)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def breaker_key(redis_client):
    key = f"test:enrichment:breaker:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(f"{key}:state", f"{key}:results", f"{key}:probe")


def pair(redis_client, key, clock=None, **kwargs):
    options = {"window": 6, "min_calls": 4, "failure_ratio": 0.75, "reset_timeout": 10,
               "clock": clock, **kwargs}
    return (SharedCircuitBreaker(redis_client, key, **options),
            SharedCircuitBreaker(redis_client, key, **options))


def test_failures_seen_by_one_worker_open_the_breaker_for_all(redis_client, breaker_key):
    clock = SharedClock()
    first, second = pair(redis_client, breaker_key, clock)
    first.record_failure()
    second.record_failure()
    first.record_failure()
    assert second.state == BreakerState.CLOSED  # 3 results: fewer than min_calls
    second.record_failure()
    assert first.state == second.state == BreakerState.OPEN
    assert first.allow() is False and second.allow() is False


def test_thirty_percent_faults_across_workers_keep_it_closed(redis_client, breaker_key):
    first, second = pair(redis_client, breaker_key, window=20, min_calls=10)
    for i in range(200):
        worker = first if i % 2 else second
        if i % 10 in (1, 4, 7):
            worker.record_failure()
        else:
            worker.record_success()
        assert worker.allow() is True


def test_exactly_one_probe_cluster_wide_and_its_success_closes_it(redis_client, breaker_key):
    clock = SharedClock()
    first, second = pair(redis_client, breaker_key, clock)
    for _ in range(4):
        first.record_failure()
    clock.now += 9.9
    assert second.allow() is False
    clock.now += 0.1
    assert second.state == BreakerState.HALF_OPEN
    assert second.allow() is True  # the probe
    assert first.allow() is False and second.allow() is False  # nobody else meanwhile
    second.record_success()
    assert first.state == BreakerState.CLOSED and first.allow() is True


def test_a_failed_probe_reopens_it_for_everyone(redis_client, breaker_key):
    clock = SharedClock()
    first, second = pair(redis_client, breaker_key, clock)
    for _ in range(4):
        second.record_failure()
    clock.now += 10
    assert first.allow() is True
    first.record_failure()
    assert second.state == BreakerState.OPEN
    clock.now += 9
    assert second.allow() is False
    clock.now += 1
    assert second.allow() is True  # the next probe, a full reset period later


def test_a_late_success_does_not_close_an_open_breaker(redis_client, breaker_key):
    clock = SharedClock()
    first, second = pair(redis_client, breaker_key, clock)
    for _ in range(4):
        first.record_failure()
    second.record_success()  # a call sent before the breaker tripped
    assert first.state == BreakerState.OPEN


def test_a_dead_probers_marker_expires(redis_client, breaker_key):
    # Real Redis time: the probe marker has a TTL in Redis, so a prober that died
    # (never recorded an outcome) cannot keep the breaker half-open forever.
    first, second = pair(redis_client, breaker_key, reset_timeout=0.05, probe_ttl=0.2)
    for _ in range(4):
        first.record_failure()
    time.sleep(0.1)
    assert first.allow() is True  # the probe, whose worker now dies
    assert second.allow() is False
    time.sleep(0.3)
    assert second.allow() is True


def test_another_process_sees_the_breaker_this_one_opened(redis_client, breaker_key):
    first, _ = pair(redis_client, breaker_key, reset_timeout=600)
    for _ in range(4):
        first.record_failure()
    code = (
        "import redis, sys\n"
        "from enrichment.providers.resilience import SharedCircuitBreaker\n"
        "b = SharedCircuitBreaker(redis.Redis.from_url(sys.argv[1]), sys.argv[2], window=6,"
        " min_calls=4, failure_ratio=0.75, reset_timeout=600)\n"
        "print(b.state, b.allow())\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, os.environ["REDIS_URL"], breaker_key], cwd=REPO,
        capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert output == ["open", "False"]


def test_redis_outage_falls_back_to_a_local_breaker():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    breaker = SharedCircuitBreaker(unreachable, "x", window=4, min_calls=2,
                                   failure_ratio=1.0, reset_timeout=600)
    assert breaker.allow() is True
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN and breaker.allow() is False


def test_two_workers_http_clients_share_the_outage(stub, redis_client, breaker_key):
    """Worker A sees the provider down; worker B fails fast without sending anything."""
    def worker():
        return ProviderHttpClient(
            provider="gleif", base_url=stub.gleif_base_url,
            accept="application/vnd.api+json", content_types=("application/vnd.api+json",),
            retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002),
            breaker=SharedCircuitBreaker(redis_client, breaker_key, window=6, min_calls=4,
                                         failure_ratio=0.75, reset_timeout=600))

    worker_a, worker_b = worker(), worker()
    stub.configure(script=[{"match": "/lei-records/", "fault": "503", "times": 4}],
                   retry_after=0)
    path = f"lei-records/{demo_company(41).lei}"
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            worker_a.request("GET", path, operation="lei_record")
    sent = stub.stats()["requests"]
    with pytest.raises(CircuitOpenError):
        worker_b.request("GET", path, operation="lei_record")
    assert stub.stats()["requests"] == sent


def _count_script_calls(breaker: SharedCircuitBreaker) -> list[str]:
    """Record each Redis script call of ``breaker`` (its operation)."""
    calls: list[str] = []
    script = breaker._script

    def counted(*, keys, args):
        calls.append(args[0])
        return script(keys=keys, args=args)

    breaker._script = counted
    return calls


def test_a_closed_answer_lets_calls_through_without_asking_redis(redis_client, breaker_key):
    first, second = pair(redis_client, breaker_key, closed_ttl=60)
    calls = _count_script_calls(first)
    assert first.allow() is True  # nothing known yet: asks Redis
    first.record_success()  # deferred: travels with the next script call
    assert first.allow() is True and first.allow() is True
    assert calls == ["allow"]
    # Without closed_ttl every allow asks Redis.
    other_calls = _count_script_calls(second)
    second.closed_ttl = 0
    second.allow()
    second.allow()
    assert other_calls == ["allow", "allow"]


def test_successes_under_a_closed_verdict_reach_the_window_with_the_next_call(
        redis_client, breaker_key):
    first, second = pair(redis_client, breaker_key, closed_ttl=60)
    calls = _count_script_calls(first)
    assert first.allow() is True
    for _ in range(3):
        first.record_success()
    assert redis_client.llen(f"{breaker_key}:results") == 0
    first.record_failure()  # carries the three successes, in the order they happened
    assert redis_client.lrange(f"{breaker_key}:results", 0, -1) == [b"0", b"1", b"1", b"1"]
    for _ in range(6):  # a window's worth (6) is sent at once
        first.record_success()
    assert calls == ["allow", "failure", "success"]
    assert redis_client.lrange(f"{breaker_key}:results", 0, -1) == [b"1"] * 6
    # Three failures among six results: below the ratio, the breaker stays closed.
    for _ in range(3):
        second.record_failure()
    assert second.state == BreakerState.CLOSED


def test_deferred_successes_never_close_an_open_or_half_open_breaker(redis_client,
                                                                      breaker_key):
    clock = SharedClock()
    first, second = pair(redis_client, breaker_key, clock, closed_ttl=60)
    assert first.allow() is True  # first trusts "closed" from now on
    for _ in range(4):
        second.record_failure()
    assert second.state == BreakerState.OPEN
    first.record_success()  # a call sent before the trip, deferred
    first.record_success()
    clock.now += 11  # reset timeout over: half-open, waiting for one probe
    assert second.allow() is True  # second takes the probe
    assert first.state == BreakerState.HALF_OPEN  # first's successes arrive, change nothing
    assert first.allow() is False  # the probe is taken
    second.record_success()
    assert first.state == BreakerState.CLOSED


def test_this_processs_failures_end_the_closed_verdict_at_once(redis_client, breaker_key):
    first, _second = pair(redis_client, breaker_key, closed_ttl=60)
    assert first.allow() is True
    for _ in range(4):
        first.record_failure()
    assert first.allow() is False  # tripped by its own failures: no cached "closed"


def test_another_processs_opening_is_seen_once_the_closed_verdict_expires(
        redis_client, breaker_key):
    first, second = pair(redis_client, breaker_key, closed_ttl=0.2)
    assert second.allow() is True  # second caches "closed"
    for _ in range(4):
        first.record_failure()
    assert first.allow() is False
    time.sleep(0.3)
    assert second.allow() is False
