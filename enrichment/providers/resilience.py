"""Rate limiting, circuit breaking and retry timing for provider calls.

The plain classes are process-local and thread-safe; the ``Shared*`` ones keep their
state in Redis so every worker process shares it. A provider's published limit (GLEIF:
60 requests a minute per user) is the budget for the whole deployment, so callers that
run several worker processes divide it between them (see ``RateLimiter.per_process``).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], float]
Sleeper = Callable[[float], None]


class RateLimiter:
    """Token bucket: ``rate_per_minute`` sustained, ``burst`` tokens at most.

    ``acquire`` blocks until a token is free, so callers are paced instead of being
    answered 429 by the provider. ``max_wait`` bounds the wait; beyond it the call
    raises ``TimeoutError`` rather than hold a worker for minutes.
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleeper = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(rate_per_minute // 60)))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    @classmethod
    def per_process(cls, rate_per_minute: float, processes: int, **kwargs) -> RateLimiter:
        """Share one provider budget evenly between ``processes`` worker processes."""
        return cls(rate_per_minute / max(1, processes), **kwargs)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_second)
        self._updated = now

    def acquire(self, *, max_wait: float = 120.0) -> float:
        """Take one token, sleeping as needed; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                needed = (1.0 - self._tokens) / self.rate_per_second
            if waited + needed > max_wait:
                raise TimeoutError(f"rate limit wait {waited + needed:.1f}s exceeds {max_wait}s")
            self._sleep(needed)
            waited += needed


class BreakerState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# The breaker's window: it opens when 75 % of the last BREAKER_WINDOW attempts failed
# (at least BREAKER_MIN_CALLS of them). Random faults cluster: at a 30 % fault rate a
# window of 20 (at least 10) reached 75 % in 33 of 40 simulated runs of 100,000 calls
# (about once in 60,000 calls; each time every call fails fast for the reset timeout),
# a window of 50 (at least 20) in none of 40, at 40 % faults neither. An outage still
# opens it after 20 failed calls (tests/enrichment/test_resilience.py).
BREAKER_WINDOW = 50
BREAKER_MIN_CALLS = 20


class CircuitBreaker:
    """Fail fast while a provider is down; probe again after ``reset_timeout`` seconds.

    The breaker opens when, among the last ``window`` attempts (at least ``min_calls``),
    the share of transient failures reaches ``failure_ratio``. A ratio rather than a
    run of consecutive failures keeps random faults (a 30 % fault rate) from tripping it
    while a real outage (close to 100 %) trips it within ``min_calls`` attempts.
    After ``reset_timeout`` one probe call is let through (half-open): success closes
    the breaker, failure opens it again for another ``reset_timeout``.
    """

    def __init__(
        self,
        *,
        window: int = BREAKER_WINDOW,
        min_calls: int = BREAKER_MIN_CALLS,
        failure_ratio: float = 0.75,
        reset_timeout: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.window = window
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._results: deque[bool] = deque(maxlen=window)
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> str:
        elapsed = self._clock() - self._opened_at
        if self._state == BreakerState.OPEN and elapsed >= self.reset_timeout:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        with self._lock:
            state = self._current_state()
            if state == BreakerState.CLOSED:
                return True
            if state == BreakerState.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state != BreakerState.CLOSED:
                self._state = BreakerState.CLOSED
                self._results.clear()
            self._probe_in_flight = False
            self._results.append(True)

    def record_failure(self) -> None:
        with self._lock:
            state = self._current_state()
            self._probe_in_flight = False
            if state == BreakerState.HALF_OPEN:
                self._trip()
                return
            self._results.append(False)
            failures = self._results.count(False)
            if (
                len(self._results) >= self.min_calls
                and failures / len(self._results) >= self.failure_ratio
            ):
                self._trip()

    def _trip(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._results.clear()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by ``max_delay``.

    ``max_retry_after`` caps how long a provider's Retry-After may hold a worker; a
    longer demand ends the call (the run fails cleanly and can be retried later).
    """

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Jittered backoff, but never shorter than the provider's Retry-After."""
        jittered = self.backoff(attempt, rng)
        if retry_after is None:
            return jittered
        return max(retry_after, jittered)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


# GCRA (generic cell rate algorithm) in one atomic script: the stored value is the
# "theoretical arrival time" of the next request, in milliseconds of Redis' own clock.
# ARGV: interval_ms, burst, n. Takes n tokens when the budget has them now, else one;
# returns {wait_ms, tokens taken} (wait_ms > 0: none taken, try again after it).
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if n > 1 and tat + n * interval - now - burst * interval > 0 then n = 1 end
local new_tat = tat + n * interval
local wait = new_tat - now - burst * interval
if wait > 0 then return {math.ceil(wait), 0} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {0, n}
"""


class SharedRateLimiter:
    """A provider budget shared by every worker process through Redis (GCRA).

    Same contract as :class:`RateLimiter`. If Redis cannot be reached the limiter falls
    back to a per-process bucket with the budget divided by ``fallback_processes``, so a
    Redis outage slows enrichment down rather than stopping it or overspending.

    With ``lease`` > 1 the process takes up to that many tokens per Redis round trip when
    the budget has them at once, and spends them within ``LEASE_SECONDS`` (unspent ones
    lapse: the budget is never exceeded, at worst slightly underused). A lease must stay
    well under ``burst``; with a burst of 1 (GLEIF's 60/min) there is nothing to lease."""

    #: leased tokens not spent within this many seconds lapse
    LEASE_SECONDS = 1.0

    def __init__(self, client, key: str, rate_per_minute: float, *, burst: int = 1,
                 fallback_processes: int = 1, sleep: Sleeper = time.sleep,
                 lease: int = 1) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if lease < 1:
            raise ValueError("lease must be at least 1")
        self.key = key
        self.interval_ms = 60_000.0 / rate_per_minute
        self.burst = max(1, burst)
        self.lease = min(lease, self.burst)
        self._script = client.register_script(_GCRA)
        self._sleep = sleep
        self._fallback = RateLimiter.per_process(rate_per_minute, fallback_processes,
                                                 burst=self.burst, sleep=sleep)
        self._redis_down_until = 0.0
        self._leased = 0
        self._lease_ends = 0.0
        self._lease_lock = threading.Lock()

    #: after a Redis failure, stay on the local budget this long before trying again
    RETRY_REDIS_AFTER = 30.0

    def _take_leased(self) -> bool:
        with self._lease_lock:
            if self._leased > 0 and time.monotonic() < self._lease_ends:
                self._leased -= 1
                return True
            self._leased = 0
            return False

    def acquire(self, *, max_wait: float = 120.0) -> float:
        waited = 0.0
        while True:
            if time.monotonic() < self._redis_down_until:
                return waited + self._fallback.acquire(max_wait=max(0.0, max_wait - waited))
            if self.lease > 1 and self._take_leased():
                return waited
            try:
                wait_ms, taken = self._script(keys=[self.key],
                                              args=[self.interval_ms, self.burst, self.lease])
                wait_ms, taken = float(wait_ms), int(taken)
            except Exception:  # noqa: BLE001 - any Redis failure: degrade, do not stop
                self._redis_down_until = time.monotonic() + self.RETRY_REDIS_AFTER
                return waited + self._fallback.acquire(max_wait=max(0.0, max_wait - waited))
            if wait_ms <= 0:
                if taken > 1:
                    with self._lease_lock:
                        self._leased = taken - 1
                        self._lease_ends = time.monotonic() + self.LEASE_SECONDS
                return waited
            seconds = wait_ms / 1000.0
            if waited + seconds > max_wait:
                raise TimeoutError(f"rate limit wait {waited + seconds:.1f}s exceeds {max_wait}s")
            self._sleep(seconds)
            waited += seconds


# One atomic script per breaker operation. KEYS: state hash (state, opened_at), recent
# results list (newest first, "1" success / "0" failure), half-open probe marker.
# ARGV: op, now_ms ("" = Redis' own clock), reset_ms, window, min_calls, failure_ratio,
# probe_ttl_ms, key_ttl_ms. Returns {allowed (0/1), state}.
_BREAKER = """
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local reset = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local min_calls = tonumber(ARGV[5])
local ratio = tonumber(ARGV[6])
local probe_ttl = tonumber(ARGV[7])
local key_ttl = tonumber(ARGV[8])
local deferred = tonumber(ARGV[9] or '0')
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if deferred > 0 and state == 'closed' then
  -- successes a process saw while it trusted a recent "closed" answer, reported late:
  -- they count only if the breaker is still closed (they never close a half-open one)
  for _ = 1, math.min(deferred, window) do redis.call('LPUSH', KEYS[2], '1') end
  redis.call('LTRIM', KEYS[2], 0, window - 1)
end
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  if now - opened >= reset then
    state = 'half_open'
    redis.call('HSET', KEYS[1], 'state', state)
    redis.call('DEL', KEYS[3])
  end
end
local allowed = 1
local function trip()
  state = 'open'
  redis.call('HSET', KEYS[1], 'state', state, 'opened_at', now)
  redis.call('DEL', KEYS[2], KEYS[3])
end
if op == 'allow' then
  if state == 'open' then
    allowed = 0
  elseif state == 'half_open' then
    if not redis.call('SET', KEYS[3], now, 'NX', 'PX', probe_ttl) then allowed = 0 end
  end
elseif op == 'success' then
  if state == 'half_open' then
    state = 'closed'
    redis.call('HSET', KEYS[1], 'state', state)
    redis.call('DEL', KEYS[2], KEYS[3])
  end
  if state == 'closed' then
    redis.call('LPUSH', KEYS[2], '1')
    redis.call('LTRIM', KEYS[2], 0, window - 1)
  end
elseif op == 'failure' then
  if state == 'half_open' then
    trip()
  elseif state == 'closed' then
    redis.call('LPUSH', KEYS[2], '0')
    redis.call('LTRIM', KEYS[2], 0, window - 1)
    local results = redis.call('LRANGE', KEYS[2], 0, -1)
    local failures = 0
    for _, r in ipairs(results) do
      if r == '0' then failures = failures + 1 end
    end
    if #results >= min_calls and failures / #results >= ratio then trip() end
  end
end
if op ~= 'state' then
  redis.call('PEXPIRE', KEYS[1], key_ttl)
  redis.call('PEXPIRE', KEYS[2], key_ttl)
end
return {allowed, state}
"""


class SharedCircuitBreaker:
    """A :class:`CircuitBreaker` whose state every worker process shares through Redis.

    State, the window of recent results and the half-open probe live under ``key`` and
    change in one atomic script per call, so one worker's failures open the breaker for
    all of them and exactly one probe is let through cluster-wide. The probe marker
    expires after ``probe_ttl`` seconds, so a prober that dies cannot wedge the breaker.
    A success seen while open (a call sent before the breaker tripped) does not close it;
    only the probe's outcome does. Times come from Redis' clock (or ``clock``, in tests).
    While Redis cannot be reached, a process-local breaker takes over."""

    #: after a Redis failure, use the local breaker this long before trying Redis again
    RETRY_REDIS_AFTER = 30.0

    def __init__(self, client, key: str, *, window: int = BREAKER_WINDOW,
                 min_calls: int = BREAKER_MIN_CALLS,
                 failure_ratio: float = 0.75, reset_timeout: float = 10.0,
                 probe_ttl: float = 60.0, clock: Clock | None = None,
                 closed_ttl: float = 0.0) -> None:
        if not 0 < failure_ratio <= 1 or window < 1 or min_calls < 1 or reset_timeout <= 0:
            raise ValueError("breaker needs window >= 1, min_calls >= 1, "
                             "0 < failure_ratio <= 1 and reset_timeout > 0")
        self.key = key
        self.window = window
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self.reset_timeout = reset_timeout
        self.probe_ttl = probe_ttl
        self._clock = clock
        self._keys = [f"{key}:state", f"{key}:results", f"{key}:probe"]
        self._client = client
        self._script = client.register_script(_BREAKER)
        self._fallback = CircuitBreaker(window=window, min_calls=min_calls,
                                        failure_ratio=failure_ratio,
                                        reset_timeout=reset_timeout)
        self._redis_down_until = 0.0
        # With ``closed_ttl``, a "closed" answer (from any operation) lets this process's
        # calls through for that many seconds without asking Redis: every call's outcome
        # refreshes it, and an answer that is not "closed" ends it at once. A breaker
        # opened by another process is then seen at most ``closed_ttl`` late.
        self.closed_ttl = closed_ttl
        self._closed_until = 0.0
        # Successes seen while the "closed" answer is fresh are not sent one by one: they
        # travel with this process's next script call (the next failure, or the first
        # allow after the answer expires, so at most ``closed_ttl`` late). A success only
        # adds to the window of a closed breaker, so the other processes see the same
        # state; the window just learns of them a little later.
        self._deferred = 0
        self._deferred_lock = threading.Lock()

    def _take_deferred(self) -> int:
        with self._deferred_lock:
            deferred, self._deferred = self._deferred, 0
        return deferred

    def _call(self, op: str) -> tuple[bool, str] | None:
        if time.monotonic() < self._redis_down_until:
            return None
        now = "" if self._clock is None else str(int(self._clock() * 1000))
        deferred = self._take_deferred()
        args = [op, now, int(self.reset_timeout * 1000), self.window, self.min_calls,
                self.failure_ratio, max(1, int(self.probe_ttl * 1000)),
                max(3_600_000, int(self.reset_timeout * 10_000)), deferred]
        try:
            allowed, state = self._script(keys=self._keys, args=args)
        except Exception:  # noqa: BLE001 - any Redis failure: degrade to the local breaker
            self._redis_down_until = time.monotonic() + self.RETRY_REDIS_AFTER
            self._closed_until = 0.0
            for _ in range(min(deferred, self.window)):
                self._fallback.record_success()
            return None
        state = state.decode() if isinstance(state, bytes) else str(state)
        if self.closed_ttl:
            self._closed_until = (time.monotonic() + self.closed_ttl
                                  if state == BreakerState.CLOSED else 0.0)
        return bool(allowed), state

    def reset(self) -> None:
        """Close the breaker for every process (forget its state and recent results)."""
        self._closed_until = 0.0
        self._take_deferred()
        self._fallback = CircuitBreaker(window=self.window, min_calls=self.min_calls,
                                        failure_ratio=self.failure_ratio,
                                        reset_timeout=self.reset_timeout)
        try:
            self._client.delete(*self._keys)
        except Exception:  # noqa: BLE001, S110 - Redis down: the keys expire on their own
            pass

    @property
    def state(self) -> str:
        result = self._call("state")
        return self._fallback.state if result is None else result[1]

    def allow(self) -> bool:
        if self.closed_ttl and time.monotonic() < self._closed_until:
            return True
        result = self._call("allow")
        return self._fallback.allow() if result is None else result[0]

    def record_success(self) -> None:
        if self.closed_ttl and time.monotonic() < self._closed_until:
            with self._deferred_lock:
                if self._deferred + 1 < self.window:
                    self._deferred += 1
                    return
            # a window's worth: send them now, with this one
        if self._call("success") is None:
            self._fallback.record_success()

    def record_failure(self) -> None:
        if self._call("failure") is None:
            self._fallback.record_failure()
