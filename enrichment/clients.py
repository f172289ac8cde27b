"""Provider clients built from settings, one set per process.

The circuit breaker and the rate limiter only work if every task shares them, so clients
are cached per configuration rather than built per run; with Redis, their state is shared
by every worker process too (one provider budget, one breaker per provider).
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from enrichment.conf import EnrichmentSettings, enrichment_settings
from enrichment.providers.bureau import ExperianClient, experian_http
from enrichment.providers.http import Timeouts
from enrichment.providers.registry import GleifClient, gleif_http
from enrichment.providers.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryPolicy,
    SharedCircuitBreaker,
    SharedRateLimiter,
)

_lock = threading.Lock()
_cache: dict[EnrichmentSettings, tuple[GleifClient, ExperianClient]] = {}
_executor: tuple[int, ThreadPoolExecutor] | None = None

#: provider calls of all runs of a process that may be in flight on the side at once
SIDE_CALLS = 32
#: seconds a "closed" answer of the shared breaker lets calls through without asking Redis
#: (each call's outcome renews it; an opening is seen at once by the process that saw the
#: failures, and by the others within this delay)
BREAKER_CLOSED_TTL = 0.25
#: most provider tokens a process takes from the shared budget per Redis round trip (a
#: quarter of the burst at most, so GLEIF's 60/min, a burst of 1, still asks every time)
RATE_LEASE_MAX = 16


def provider_executor() -> ThreadPoolExecutor:
    """Threads for the provider calls a run makes alongside its main sequence (the
    registry parents while the bureau answers). One pool per process (a forked child
    makes its own)."""
    global _executor
    with _lock:
        if _executor is None or _executor[0] != os.getpid():
            _executor = (os.getpid(), ThreadPoolExecutor(
                max_workers=SIDE_CALLS, thread_name_prefix="enrichment-calls"))
        return _executor[1]


def provider_clients(config: EnrichmentSettings | None = None
                     ) -> tuple[GleifClient, ExperianClient]:
    """(registry, bureau) clients for the current settings, shared within the process."""
    config = config or enrichment_settings()
    with _lock:
        if config not in _cache:
            _cache[config] = _build(config)
        return _cache[config]


def _redis():
    """A Redis client when Vigil has Redis (the shared state's home), else None."""
    redis_url = getattr(settings, "REDIS_URL", "")
    if not redis_url:
        return None
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def _key(provider: str, what: str, base_url: str = "") -> str:
    prefix = getattr(settings, "CACHES", {}).get("default", {}).get("KEY_PREFIX", "vigil")
    # The endpoint is part of a breaker's identity: a sandbox going down says nothing
    # about production (and test stubs on other ports stay independent).
    endpoint = f":{hashlib.sha256(base_url.encode()).hexdigest()[:12]}" if base_url else ""
    return f"{prefix or 'vigil'}:enrichment:{what}:{provider}{endpoint}"


def _limiter(client, provider: str, rate_per_minute: float, processes: int):
    """The provider's rate limit: shared by all workers through Redis when Vigil has
    Redis, else the budget divided evenly between ``processes`` worker processes."""
    burst = max(1, int(rate_per_minute // 60))
    if client is not None:
        return SharedRateLimiter(client, _key(provider, "ratelimit"), rate_per_minute,
                                 burst=burst, fallback_processes=processes,
                                 lease=min(RATE_LEASE_MAX, max(1, burst // 4)))
    return RateLimiter.per_process(rate_per_minute, processes, burst=burst)


def _breaker(client, provider: str, base_url: str, config: EnrichmentSettings):
    """The provider's circuit breaker: one for the whole cluster through Redis (a provider
    seen down by one worker fails fast in all of them), else one per process."""
    if client is not None:
        return SharedCircuitBreaker(
            client, _key(provider, "breaker", base_url), reset_timeout=config.breaker_reset_seconds,
            probe_ttl=config.connect_timeout + config.read_timeout + 5,
            closed_ttl=BREAKER_CLOSED_TTL)
    return CircuitBreaker(reset_timeout=config.breaker_reset_seconds)


def _build(config: EnrichmentSettings) -> tuple[GleifClient, ExperianClient]:
    timeouts = Timeouts(connect=config.connect_timeout, read=config.read_timeout)
    retry = RetryPolicy(max_attempts=config.max_attempts, base_delay=config.backoff_base,
                        max_delay=config.backoff_max, max_retry_after=config.max_retry_after)
    client = _redis()
    gleif = GleifClient(gleif_http(
        base_url=config.gleif_base_url, timeouts=timeouts, retry=retry,
        rate_limiter=_limiter(client, "gleif", config.gleif_rate_per_minute,
                              config.worker_processes),
        breaker=_breaker(client, "gleif", config.gleif_base_url, config),
    ))
    bureau = ExperianClient(
        experian_http(
            base_url=config.experian_base_url, timeouts=timeouts, retry=retry,
            rate_limiter=_limiter(client, "experian", config.bureau_rate_per_minute,
                                  config.worker_processes),
            breaker=_breaker(client, "experian", config.experian_base_url, config),
        ),
        token_url=config.experian_token_url, client_id=config.experian_client_id,
        client_secret=config.experian_client_secret, username=config.experian_username,
        password=config.experian_password, subcode=config.experian_subcode,
    )
    return gleif, bureau


def reset_provider_clients(*, breakers: bool = False) -> None:
    """Forget cached clients (tests that change settings or restart the stub); with
    ``breakers``, also close their circuit breakers for every process (shared state)."""
    with _lock:
        if breakers:
            for clients in _cache.values():
                for provider_client in clients:
                    reset = getattr(provider_client.http.breaker, "reset", None)
                    if reset is not None:
                        reset()
        _cache.clear()
