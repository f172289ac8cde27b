"""Portal home, health and readiness."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.accounts.roles import READ_ROLES, role_required
from config.overview import home_overview


@role_required(*READ_ROLES)
def home(request):
    """Where work starts: the user's cases, the queues, the lists in use, the audit trail."""
    return render(request, "home.html", {"overview": home_overview(user=request.user)})


@require_GET
@never_cache
def healthz(request):
    """The process is up. Public: says nothing but 'ok'."""
    return JsonResponse({"status": "ok"})


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1),
                **({"detail": detail} if detail else {})}
    except Exception as exc:  # readiness reports every failure, never raises
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _redis(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return None


@require_GET
@never_cache
def readyz(request):
    """Database, Redis and broker reachable. 503 with detail when one is not."""
    checks = {"database": _check(_database)}
    if settings.REDIS_URL:
        checks["redis"] = _check(lambda: _redis(settings.REDIS_URL))
    else:
        checks["redis"] = {"ok": True, "detail": "not configured (embedded mode)"}
    broker = settings.CELERY_BROKER_URL
    if broker and broker.startswith("redis"):
        checks["broker"] = _check(lambda: _redis(broker))
    elif broker:
        from config.celery import app

        def _amqp():
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)

        checks["broker"] = _check(_amqp)
    else:
        checks["broker"] = {"ok": True, "detail": "tasks run in process (embedded mode)"}
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status=200 if ok else 503)


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}},
                        status=status)


def permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return _api_error(403, "permission_denied", "You do not have permission.")
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def not_found(request, exception=None):
    """404 in the API's error format under /api/, a page elsewhere."""
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return _api_error(500, "server_error", "Internal error; it has been logged.")
    return render(request, "500.html", status=500)
