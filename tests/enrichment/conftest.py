"""Fixtures for enrichment tests: the stub providers on loopback and clients for them."""

from __future__ import annotations

import random

import pytest

from enrichment.providers.bureau import ExperianClient, experian_http
from enrichment.providers.http import Timeouts
from enrichment.providers.registry import GleifClient, gleif_http
from enrichment.providers.resilience import CircuitBreaker, RetryPolicy
from enrichment.stubs import STUB_CLIENT_ID, STUB_CLIENT_SECRET, StubProviders


@pytest.fixture(scope="session")
def stub_server():
    with StubProviders(registry_size=600) as server:
        yield server


@pytest.fixture
def stub(stub_server):
    """The shared stub server, reset (no faults, zero counters) for each test."""
    stub_server.reset()
    yield stub_server
    stub_server.reset()


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
