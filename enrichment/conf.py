"""Enrichment settings, read from Django settings with environment fallbacks.

Every value can be set in ``config/settings.py`` (``ENRICHMENT_*``) or, until it is, in
the environment under the same name; bad values fail loudly when first read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

STUB_ROOT = "http://127.0.0.1:8900"


def _value(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None or value == "":
        value = os.environ.get(name) or default
    return str(value)


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = _value(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}")
    return value


@dataclass(frozen=True)
class EnrichmentSettings:
    gleif_base_url: str
    gleif_rate_per_minute: float
    experian_base_url: str
    experian_token_url: str
    experian_client_id: str
    experian_client_secret: str
    experian_username: str
    experian_password: str
    experian_subcode: str
    bureau_rate_per_minute: float
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    backoff_base: float
    backoff_max: float
    max_retry_after: float
    worker_processes: int
    breaker_reset_seconds: float
    bureau_reuse_days: float
    stale_run_seconds: float


def enrichment_settings() -> EnrichmentSettings:
    """The current provider configuration (defaults point at the local stub on :8900)."""
    return EnrichmentSettings(
        gleif_base_url=_value("ENRICHMENT_GLEIF_BASE_URL", f"{STUB_ROOT}/gleif/api/v1"),
        gleif_rate_per_minute=_float("ENRICHMENT_GLEIF_RATE_PER_MINUTE", 60, 1),
        experian_base_url=_value("ENRICHMENT_EXPERIAN_BASE_URL",
                                 f"{STUB_ROOT}/experian/businessinformation/businesses"),
        experian_token_url=_value("ENRICHMENT_EXPERIAN_TOKEN_URL",
                                  f"{STUB_ROOT}/experian/oauth2/v1/token"),
        experian_client_id=_value("ENRICHMENT_EXPERIAN_CLIENT_ID", "vigil-stub-client"),
        experian_client_secret=_value("ENRICHMENT_EXPERIAN_CLIENT_SECRET", "vigil-stub-secret"),
        experian_username=_value("ENRICHMENT_EXPERIAN_USERNAME", "vigil"),
        experian_password=_value("ENRICHMENT_EXPERIAN_PASSWORD", "stub"),
        experian_subcode=_value("ENRICHMENT_EXPERIAN_SUBCODE", "0517614"),
        bureau_rate_per_minute=_float("ENRICHMENT_BUREAU_RATE_PER_MINUTE", 600, 1),
        connect_timeout=_float("ENRICHMENT_CONNECT_TIMEOUT", 3.05, 0.01),
        read_timeout=_float("ENRICHMENT_READ_TIMEOUT", 10, 0.01),
        max_attempts=int(_float("ENRICHMENT_MAX_ATTEMPTS", 4, 1)),
        backoff_base=_float("ENRICHMENT_BACKOFF_BASE", 0.5),
        backoff_max=_float("ENRICHMENT_BACKOFF_MAX", 8),
        max_retry_after=_float("ENRICHMENT_MAX_RETRY_AFTER", 30),
        worker_processes=int(_float("ENRICHMENT_WORKER_PROCESSES", 1, 1)),
        breaker_reset_seconds=_float("ENRICHMENT_BREAKER_RESET_SECONDS", 30, 0.01),
        bureau_reuse_days=_float("ENRICHMENT_BUREAU_REUSE_DAYS", 30),
        stale_run_seconds=_float("ENRICHMENT_STALE_RUN_SECONDS", 120, 0.1),
    )
