"""Fixtures for enrichment tests: the stub providers on loopback and clients for them."""

from __future__ import annotations

import random

import pytest

from enrichment.providers.bureau import ExperianClient, experian_http
from enrichment.providers.http import Timeouts
from enrichment.providers.registry import GleifClient, gleif_http
from enrichment.providers.resilience import CircuitBreaker, RetryPolicy
from enrichment.stubs import STUB_CLIENT_ID, STUB_CLIENT_SECRET, StubProcess, StubProviders


@pytest.fixture(scope="session")
def stub_server():
    with StubProviders(registry_size=600) as server:
        yield server


@pytest.fixture(scope="session")
def stub_process_server():
    """The stub server in a process of its own (`StubProcess`): its answers do not wait
    for this process's interpreter, whatever its threads are doing."""
    with StubProcess(registry_size=600) as server:
        yield server


def reset_around(server):
    """A stub server reset (no faults, zero counters) before and after a test."""
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def stub(stub_server):
    """The shared stub server, reset for each test."""
    yield from reset_around(stub_server)


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=2)


def make_clients(stub, *, retry=FAST_RETRY, breaker=None, records=None, read_timeout=2.0,
                 page_size=15):
    common = {
        "timeouts": Timeouts(connect=1.0, read=read_timeout),
        "retry": retry,
        "rng": random.Random(7),
        "on_record": records.append if records is not None else None,
    }
    gleif = GleifClient(
        gleif_http(base_url=stub.gleif_base_url, breaker=breaker or CircuitBreaker(), **common),
        page_size=page_size,
    )
    bureau = ExperianClient(
        experian_http(base_url=stub.experian_base_url, breaker=CircuitBreaker(), **common),
        token_url=stub.experian_token_url, client_id=STUB_CLIENT_ID,
        client_secret=STUB_CLIENT_SECRET, username="vigil", password="stub", subcode="0517614",
    )
    return gleif, bureau


@pytest.fixture
def clients(stub):
    return make_clients(stub)


@pytest.fixture
def enrichment_settings_for_stub(stub, settings):
    """Point the enrichment settings at the stub with fast retries and no rate limit."""
    settings.ENRICHMENT_GLEIF_BASE_URL = stub.gleif_base_url
    settings.ENRICHMENT_EXPERIAN_BASE_URL = stub.experian_base_url
    settings.ENRICHMENT_EXPERIAN_TOKEN_URL = stub.experian_token_url
    settings.ENRICHMENT_GLEIF_RATE_PER_MINUTE = 600_000
    settings.ENRICHMENT_BUREAU_RATE_PER_MINUTE = 600_000
    settings.ENRICHMENT_BACKOFF_BASE = 0.01
    settings.ENRICHMENT_BACKOFF_MAX = 0.05
    settings.ENRICHMENT_MAX_RETRY_AFTER = 2
    settings.ENRICHMENT_READ_TIMEOUT = 2
    _close_breakers()
    yield settings
    _close_breakers()


def _close_breakers() -> None:
    """Breakers are shared through Redis and keyed by the stub's address: a test that
    took the stub down must not leave later tests failing fast, nor may a breaker left
    open by another process (a Celery worker of an earlier test, or an earlier stub on
    the same port) greet this one. Closed before and after each test."""
    from enrichment.clients import provider_clients, reset_provider_clients

    reset_provider_clients()
    provider_clients()
    reset_provider_clients(breakers=True)


def application_data(index: int, **overrides) -> dict:
    """Valid application input for demo company ``index``."""
    from enrichment.stubs import demo_company

    company = demo_company(index)
    data = {
        "legal_name": company.legal_name, "registration_number": company.registration_number,
        "country": company.country, "address_line": company.street, "city": company.city,
        "postal_code": company.postal_code, "requested_amount": "250000.00",
        "currency": "USD", "purpose": "Working capital",
    }
    data.update(overrides)
    return data


PRINCIPALS = [{"full_name": "Maria Keller", "date_of_birth": "1975-04-02",
               "nationality": "DE", "role": "owner", "ownership_percent": "60.00"}]


