"""The Celery application. Without a broker (the embedded default) tasks run in process.

The current audit context (actor and correlation id) travels with every task in its
headers, so a task started from a request is attributed to that request on the audit trail.
"""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.before_task_publish.connect
def _attach_audit_context(headers=None, **_kwargs):
    from audit.context import current_context

    ctx = current_context()
    if headers is not None and ctx is not None:
        headers["vigil_correlation_id"] = ctx.correlation_id
        headers["vigil_actor"] = ctx.actor_dict()


_TOKENS: dict[str, object] = {}


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(task=None, **_kwargs):
    """With CELERY_DB_REUSE_MAX set, a worker keeps its database connection across tasks
    (a new PostgreSQL backend per task cost more CPU than an enrichment run's queries).
    Like Django around a request, drop it if it broke or outlived CONN_MAX_AGE. An eager
    task runs inside its caller's connection, perhaps its transaction: leave that alone."""
    if task is not None and not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


@signals.task_prerun.connect
def _enter_audit_context(task_id=None, task=None, **_kwargs):
    import structlog

    from audit.context import Actor, AuditContext, current_context, push_context

    request = task.request
    outer = current_context()
    if getattr(request, "is_eager", False) and outer is not None:
        # In-process task: it acts for whoever started it, inside the same request.
        actor, correlation = outer.resolve_actor(), outer.correlation_id
    else:
        actor_data = getattr(request, "vigil_actor", None)
        actor = Actor(**actor_data) if actor_data else Actor.system(task.name)
        correlation = getattr(request, "vigil_correlation_id", None) or task_id
    _TOKENS[task_id] = push_context(
        AuditContext(actor=actor, correlation_id=str(correlation), task_id=task_id)
    )
    structlog.contextvars.bind_contextvars(task_id=task_id, request_id=str(correlation))


@signals.task_postrun.connect
def _leave_audit_context(task_id=None, **_kwargs):
    import structlog

    from audit.context import pop_context

    token = _TOKENS.pop(task_id, None)
    if token is not None:
        pop_context(token)
    structlog.contextvars.unbind_contextvars("task_id", "request_id")


@app.task(name="vigil.ping")
def ping(value: str) -> dict:
    """Round-trip check used by /readyz-style probes and the worker test."""
    return {"pong": value, "pid": os.getpid()}
