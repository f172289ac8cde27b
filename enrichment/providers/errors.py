"""Errors raised by provider clients.

Every error carries the facts an examiner needs (provider, method, URL without secrets,
HTTP status, attempt count and a payload excerpt) so that a failed enrichment run can
store them verbatim.
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """A provider call failed for good (after any retries)."""

    #: short machine code stored on the run and shown in the portal
    code = "provider_error"
    #: True when a human must look (e.g. a billable pull whose outcome is unknown)
    needs_human = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        method: str = "",
        url: str = "",
        status: int | None = None,
        attempts: int = 0,
        excerpt: str = "",
        call_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.method = method
        self.url = url
        self.status = status
        self.attempts = attempts
        self.excerpt = excerpt
        self.call_id = call_id
        #: every attempt made before the failure (filled in by the HTTP layer)
        self.records: list = []

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form stored on the run row and on the audit trail."""
        return {
            "code": self.code,
            "message": self.message,
            "provider": self.provider,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "excerpt": self.excerpt,
            "call_id": self.call_id,
            "needs_human": self.needs_human,
        }


class ProviderUnavailable(ProviderError):
    """Transient failures persisted through every retry (5xx, 429, timeouts, resets)."""

    code = "provider_unavailable"


class CircuitOpenError(ProviderUnavailable):
    """The provider's circuit breaker is open: the call was not attempted."""

    code = "circuit_open"


class ProviderRejected(ProviderError):
    """The provider answered with a permanent client error (4xx other than 408/429)."""

    code = "provider_rejected"


class NotFound(ProviderRejected):
    """The provider says the requested record does not exist (404)."""

    code = "not_found"


class MalformedResponse(ProviderError):
    """The provider answered 2xx but the body is not what its API promises."""

    code = "malformed_response"


class UnknownOutcome(ProviderError):
    """A billable, non-idempotent request may or may not have been processed.

    Pulling again could record a second inquiry on the business's credit file, so the
    call is never repeated automatically; a human reconciles it with the bureau.
    """

    code = "unknown_outcome"
    needs_human = True
