"""Request ids, health and readiness, the API error format, and a real Celery worker."""

import json
import logging
import os

import pytest
from django.urls import reverse

from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


def test_request_id_is_generated_and_returned(client):
    response = client.get(reverse("healthz"))
    assert len(response["X-Request-ID"]) == 32


def test_request_id_is_accepted_and_reaches_the_audit_trail(integration_client, api_as,
                                                            analyst, portal_as):
    client = portal_as(analyst)
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="req-abc-123")
    assert response["X-Request-ID"] == "req-abc-123"
    # A write inside a request carries the request id and the user onto the ledger.
    from django.test import Client

    anon = Client()
    anon.post(reverse("login"), {"username": "t_analyst", "password": "bad"},
              HTTP_X_REQUEST_ID="req-login-1")
    entry = sealed_ledger().get(action="login.failed")
    assert entry.correlation_id == "req-login-1"


def test_hostile_request_id_is_replaced(client):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="<script>" + "x" * 100)
    assert response["X-Request-ID"] != "<script>" + "x" * 100
    assert response["X-Request-ID"].isalnum()


def test_request_id_reaches_log_lines(client, caplog):
    import structlog

    logger = structlog.get_logger("vigil.test")
    from config.middleware import RequestIdMiddleware

    seen = {}

    def view(request):
        logger.warning("inside")
        seen.update(structlog.contextvars.get_contextvars())
        from django.http import HttpResponse

        return HttpResponse("ok")

    from django.test import RequestFactory

    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="log-id-7")
    RequestIdMiddleware(view)(request)
    assert seen["request_id"] == "log-id-7"


def test_healthz_and_readyz(client):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}
    ready = client.get(reverse("readyz"))
    body = ready.json()
    assert ready.status_code == 200, body
    assert body["checks"]["database"]["ok"] is True
    assert set(body["checks"]) == {"database", "redis", "broker"}


def test_readyz_reports_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["ok"] is False
    assert "Error" in body["checks"]["redis"]["error"]


def test_api_errors_have_one_shape(api_as, auditor, client):
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    not_allowed = api_as(auditor).post("/api/v1/me", {}, format="json")
    assert not_allowed.status_code == 403
    assert set(not_allowed.json()["error"]) == {"code", "message", "fields"}


def test_schema_and_docs_are_served_without_cdn(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower() and "swagger-ui" in docs


@pytest.mark.celery_worker
@pytest.mark.redis
def test_task_runs_on_a_real_celery_worker(celery_worker_process):
    from config.celery import ping

    result = ping.delay("hello")
    value = result.get(timeout=60)
    assert value["pong"] == "hello"
    assert value["pid"] != os.getpid()


@pytest.mark.celery_worker
@pytest.mark.redis
@pytest.mark.parametrize(("limit_kib", "replaced"), [("1", True), ("0", False)])
def test_a_worker_process_over_its_memory_bound_is_replaced(transactional_db, tmp_path,
                                                            limit_kib, replaced):
    """CELERY_WORKER_MAX_MEMORY_PER_CHILD reaches a real prefork worker: a process over
    the bound (1 KiB: any process) is replaced after its task; 0 never replaces one."""
    from config.celery import ping
    from tests.conftest import celery_worker_running

    with celery_worker_running(tmp_path, pool="prefork", concurrency=1,
                               env={"CELERY_WORKER_MAX_MEMORY_PER_CHILD": limit_kib}):
        pids = [ping.delay(str(i)).get(timeout=60)["pid"] for i in range(3)]
    assert (len(set(pids)) == 3) is replaced, pids
    assert (len(set(pids)) == 1) is not replaced, pids


def test_structured_logs_render_json():
    from config.logging import formatter_factory

    formatter = formatter_factory("json")
    record = logging.LogRecord("vigil", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    line = json.loads(formatter.format(record))
    assert line["event"] == "hello x" and line["level"] == "info"


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and "text/html" in page["Content-Type"]


def test_extreme_time_zone_offsets_filter_in_utc(api_as, analyst):
    # Offsets PostgreSQL refuses (+17:32) must be converted, never reach the database.
    response = api_as(analyst).get("/api/v1/alerts/", {"since": "0344-09-14T06:38:50+17:32"})
    assert response.status_code == 200
    response = api_as(analyst).get("/api/v1/audit/entries/",
                                   {"until": "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 200
