"""Request id and audit context for every request."""

from __future__ import annotations

import re
import uuid

import structlog

from audit.context import Actor, AuditContext, pop_context, push_context

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
logger = structlog.get_logger("vigil.request")


class RequestIdMiddleware:
    """Accepts a sane `X-Request-ID`, generates one otherwise, returns it on the response,
    and binds it to every log line written while the request is handled."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request_id
        return response


class AuditContextMiddleware:
    """Names the acting user and the request id for every audited write in the request.

    The user is resolved lazily: API views replace the actor once DRF has authenticated
    the bearer token (see config.api.ApiView.initial)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ctx = AuditContext(
            actor=None,
            actor_resolver=lambda: Actor.from_user(getattr(request, "user", None)),
            user_resolver=lambda: getattr(request, "user", None),
            correlation_id=getattr(request, "request_id", uuid.uuid4().hex),
        )
        token = push_context(ctx)
        try:
            return self.get_response(request)
        finally:
            pop_context(token)
