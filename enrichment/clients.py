"""Provider clients built from settings, one set per process.

The circuit breaker and the rate limiter only work if every task in a worker process
shares them, so clients are cached per configuration rather than built per run.
"""

from __future__ import annotations

import threading

from django.conf import settings

from enrichment.conf import EnrichmentSettings, enrichment_settings
from enrichment.providers.bureau import ExperianClient, experian_http
from enrichment.providers.http import Timeouts
from enrichment.providers.registry import GleifClient, gleif_http
from enrichment.providers.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryPolicy,
    SharedRateLimiter,
)

_lock = threading.Lock()
_cache: dict[EnrichmentSettings, tuple[GleifClient, ExperianClient]] = {}


def provider_clients(config: EnrichmentSettings | None = None
                     ) -> tuple[GleifClient, ExperianClient]:
    """(registry, bureau) clients for the current settings, shared within the process."""
    config = config or enrichment_settings()
    with _lock:
        if config not in _cache:
            _cache[config] = _build(config)
        return _cache[config]


def _limiter(provider: str, rate_per_minute: float, processes: int):
    """The provider's rate limit: shared by all workers through Redis when Vigil has
    Redis, else the budget divided evenly between ``processes`` worker processes."""
    burst = max(1, int(rate_per_minute // 60))
    redis_url = getattr(settings, "REDIS_URL", "")
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        prefix = getattr(settings, "CACHES", {}).get("default", {}).get("KEY_PREFIX", "vigil")
        return SharedRateLimiter(client, f"{prefix}:enrichment:ratelimit:{provider}",
                                 rate_per_minute, burst=burst, fallback_processes=processes)
    return RateLimiter.per_process(rate_per_minute, processes, burst=burst)


def _build(config: EnrichmentSettings) -> tuple[GleifClient, ExperianClient]:
    timeouts = Timeouts(connect=config.connect_timeout, read=config.read_timeout)
    retry = RetryPolicy(max_attempts=config.max_attempts, base_delay=config.backoff_base,
                        max_delay=config.backoff_max, max_retry_after=config.max_retry_after)
    gleif = GleifClient(gleif_http(
        base_url=config.gleif_base_url, timeouts=timeouts, retry=retry,
        rate_limiter=_limiter("gleif", config.gleif_rate_per_minute,
                              config.worker_processes),
        breaker=CircuitBreaker(reset_timeout=config.breaker_reset_seconds),
    ))
    bureau = ExperianClient(
        experian_http(
            base_url=config.experian_base_url, timeouts=timeouts, retry=retry,
            rate_limiter=_limiter("experian", config.bureau_rate_per_minute,
                                  config.worker_processes),
            breaker=CircuitBreaker(reset_timeout=config.breaker_reset_seconds),
        ),
        token_url=config.experian_token_url, client_id=config.experian_client_id,
        client_secret=config.experian_client_secret, username=config.experian_username,
        password=config.experian_password, subcode=config.experian_subcode,
    )
    return gleif, bureau


def reset_provider_clients() -> None:
    """Forget cached clients (tests that change settings or restart the stub)."""
    with _lock:
        _cache.clear()
