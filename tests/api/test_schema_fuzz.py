"""Schemathesis over the whole OpenAPI schema, as an integration client and as an
auditor: no 500s, and every documented response matches the schema.

It grows with every endpoint: whatever an app adds under /api/v1/ is fuzzed here."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from config.wsgi import application

CHECKS = (not_a_server_error, response_schema_conformance, content_type_conformance)
MAX_EXAMPLES = 12


@pytest.fixture
def api_schema(db):
    # Like Django's test client: the WSGI handler must not close the test's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def _isolated_call(case, headers):
    """Each call in its own savepoint: a failing request is reported as itself and does
    not poison the test transaction for the operations fuzzed after it."""
    savepoint = transaction.savepoint()
    try:
        response = case.call(headers=headers)
    finally:
        transaction.savepoint_rollback(savepoint)
    return response


@pytest.fixture
def bearer_headers(db):
    from config.accounts.services import api_client_create

    _, token = api_client_create(name="fuzz-client")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auditor_headers(db):
    from django.test import Client

    from config.accounts.services import user_create_with_role

    user = user_create_with_role(username="fuzz_auditor", role="auditor",
                                 password="fuzz_auditor-Pa55word!x")
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_as_integration_client(case, bearer_headers):
    response = _isolated_call(case, bearer_headers)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_as_auditor(case, auditor_headers):
    response = _isolated_call(case, auditor_headers)
    case.validate_response(response, checks=CHECKS)
    if case.method.upper() not in {"GET", "HEAD", "OPTIONS"}:
        # An auditor's write never succeeds, whatever it sends.
        assert response.status_code >= 400, (
            f"auditor write {case.method} {case.path} got {response.status_code}")


def test_fuzzing_credentials_really_authenticate(client, bearer_headers, auditor_headers):
    # Otherwise the fuzz tests above would only ever see 401s and prove nothing.
    as_client = client.get("/api/v1/me", HTTP_AUTHORIZATION=bearer_headers["Authorization"])
    assert as_client.status_code == 200 and as_client.json()["roles"] == ["integration"]
    client.cookies.load(auditor_headers["Cookie"])
    assert client.get("/api/v1/me").json()["roles"] == ["auditor"]
