"""Rate limiter, circuit breaker and retry timing (pure, no network, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from enrichment.providers.resilience import (
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_paces_to_the_configured_rate():
    clock = FakeClock()
    limiter = RateLimiter(60, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    # 60/min = one a second: the first is free, the next four wait a second each.
    assert clock.now == pytest.approx(4.0)


def test_rate_limiter_allows_a_burst_then_waits():
    clock = FakeClock()
    limiter = RateLimiter(120, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(0.5)


def test_rate_limiter_refuses_waits_beyond_max_wait():
    clock = FakeClock()
    limiter = RateLimiter(1, burst=1, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    with pytest.raises(TimeoutError):
        limiter.acquire(max_wait=5)


def test_rate_limiter_per_process_divides_the_budget():
    assert RateLimiter.per_process(60, 4).rate_per_second == pytest.approx(0.25)


def test_breaker_opens_on_failure_ratio_and_fails_fast():
    clock = FakeClock()
    breaker = CircuitBreaker(window=10, min_calls=5, failure_ratio=0.8, reset_timeout=30,
                             clock=clock)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state == BreakerState.CLOSED  # fewer than min_calls
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    assert breaker.allow() is False


def _trips(breaker: CircuitBreaker, rng: random.Random, fault_rate: float,
           calls: int) -> int | None:
    """The call at which random faults open `breaker`, or None."""
    for call in range(calls):
        if rng.random() < fault_rate:
            breaker.record_failure()
        else:
            breaker.record_success()
        if breaker.state != BreakerState.CLOSED:
            return call
    return None


@pytest.mark.parametrize("fault_rate", [0.3, 0.4])
def test_random_faults_never_open_the_breaker(fault_rate):
    """A provider failing 30 % (or 40 %) of calls at random is slow, not down: over
    ten runs of 20,000 calls the default breaker never opens. The window it had before
    (the last 20 attempts, at least 10) opened on the same faults, failing every call
    for the reset timeout each time."""
    seeds = range(10)
    assert [_trips(CircuitBreaker(clock=FakeClock()), random.Random(seed), fault_rate,
                   20_000) for seed in seeds] == [None] * len(seeds)
    narrow = [_trips(CircuitBreaker(window=20, min_calls=10, clock=FakeClock()),
                     random.Random(seed), fault_rate, 20_000) for seed in seeds]
    assert sum(t is not None for t in narrow) >= 2, narrow


@pytest.mark.parametrize(("fault_rate", "within"), [(1.0, 20), (0.9, 30)])
def test_an_outage_opens_the_breaker_within_a_few_dozen_calls(fault_rate, within):
    for seed in range(10):
        call = _trips(CircuitBreaker(clock=FakeClock()), random.Random(seed), fault_rate,
                      1_000)
        assert call is not None and call < within, (seed, call)


def test_breaker_recovers_through_one_half_open_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(window=4, min_calls=2, failure_ratio=1.0, reset_timeout=10,
                             clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow() is False
    clock.now += 10
    assert breaker.state == BreakerState.HALF_OPEN
    assert breaker.allow() is True
    assert breaker.allow() is False  # only one probe at a time
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED
    assert breaker.allow() is True


def test_breaker_reopens_when_the_probe_fails():
    clock = FakeClock()
    breaker = CircuitBreaker(window=4, min_calls=2, failure_ratio=1.0, reset_timeout=10,
                             clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow() is True
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    clock.now += 9
    assert breaker.allow() is False


def test_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(3)
    delays = [[policy.backoff(attempt, rng) for _ in range(200)] for attempt in (1, 2, 3, 6)]
    assert max(delays[0]) <= 0.1
    assert max(delays[1]) <= 0.2
    assert max(delays[2]) <= 0.4
    assert max(delays[3]) <= 1.0
    assert len(set(delays[2])) > 150  # jittered, not a fixed schedule
    assert max(delays[2]) > 0.3


def test_retry_after_is_a_floor_on_the_delay():
    policy = RetryPolicy(base_delay=0.01, max_delay=0.02)
    assert policy.delay(1, 3.0, random.Random(1)) == 3.0


def test_parse_retry_after_seconds_and_http_date():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
