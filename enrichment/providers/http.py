"""The HTTP layer every provider client sits on, and the call records it yields.

Each attempt of each request produces one :class:`CallRecord` (method, URL without
secrets, status, latency, attempt number, SHA-256 of the response body and an excerpt of
the body within a size limit). Records are handed to ``on_record`` as they happen and
returned with the response, so the caller can store and audit every external call,
including the failed attempts that preceded a success.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from .errors import (
    CircuitOpenError,
    MalformedResponse,
    NotFound,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    UnknownOutcome,
)
from .resilience import CircuitBreaker, RateLimiter, RetryPolicy, parse_retry_after

#: query parameters whose values never leave the process (OpenCorporates api_token, …)
SECRET_PARAMS = frozenset(
    {"api_token", "api_key", "apikey", "key", "token", "access_token", "password", "secret",
     "client_secret", "signature"}
)
#: statuses a provider uses for "try again later"
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: statuses that prove a POST was not processed, so repeating a billable pull is safe
NOT_PROCESSED_STATUSES = frozenset({429, 502, 503})

OUTCOME_OK = "ok"
OUTCOME_RETRY = "retry"
OUTCOME_FAILED = "failed"
OUTCOME_CIRCUIT_OPEN = "circuit_open"


def redact_url(url: str) -> str:
    """The URL with credentials and secret query values replaced by ``[redacted]``."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (k, "[redacted]" if k.lower() in SECRET_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def canonical_json(data: Any) -> bytes:
    """Stable bytes for hashing request bodies (sorted keys, no whitespace)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CallRecord:
    """One attempt of one external request, as stored and audited."""

    call_id: str
    provider: str
    operation: str
    method: str
    url: str
    attempt: int
    started_at: datetime
    latency_ms: float = 0.0
    status: int | None = None
    outcome: str = OUTCOME_OK
    error: str = ""
    request_sha256: str = ""
    response_sha256: str = ""
    response_size: int = 0
    response_excerpt: str = ""
    content_type: str = ""
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        return data


@dataclass
class ProviderResponse:
    """A successful (2xx, well-formed) answer plus every attempt that led to it."""

    status: int
    data: Any
    call_id: str
    fetched_at: datetime
    url: str
    records: list[CallRecord] = field(default_factory=list)


RecordSink = Callable[[CallRecord], None]


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0
    read: float = 5.0


class ProviderHttpClient:
    """A requests session with timeouts, retries, rate limit and circuit breaker.

    Retries happen only on transient errors: connect failures, timeouts and dropped
    connections, 408/429/5xx. Non-idempotent billable requests (a credit report pull) are
    retried only when the failure proves the request was not processed (connect error,
    429, 502, 503); otherwise :class:`UnknownOutcome` is raised for a human to reconcile.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        accept: str = "application/json",
        content_types: tuple[str, ...] = ("application/json",),
        headers: Mapping[str, str] | None = None,
        excerpt_limit: int = 16_384,
        max_body_bytes: int = 5_000_000,
        on_record: RecordSink | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        pool_size: int = 32,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter
        self.breaker = breaker or CircuitBreaker()
        self.accept = accept
        self.content_types = content_types
        self.excerpt_limit = excerpt_limit
        self.max_body_bytes = max_body_bytes
        self.on_record = on_record
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._local = threading.local()
        self._pool_size = pool_size
        # requests' defaults (Accept-Encoding, Connection) under ours.
        self._headers = dict(requests.utils.default_headers())
        self._headers.update({"Accept": accept, "User-Agent": "Vigil-Enrichment/1.0"})
        self._headers.update(headers or {})
        self._proxies: dict[str, str] | None = None

    @property
    def adapter(self) -> HTTPAdapter:
        # One connection pool per thread: a threaded worker pool never contends on one
        # pool's lock. Requests go straight to the adapter: the session's per-request
        # merging of settings and cookie jars was a third of a call's CPU, and these APIs
        # use neither cookies nor redirects (a 3xx is an error here).
        adapter = getattr(self._local, "adapter", None)
        if adapter is None:
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_size,
                                  max_retries=0)
            self._local.adapter = adapter
        return adapter

    @property
    def proxies(self) -> dict[str, str]:
        # Read from the environment once, not on every request (requests scans
        # os.environ per call: a measurable share of a run's CPU).
        if self._proxies is None:
            self._proxies = requests.utils.get_environ_proxies(self.base_url)
        return self._proxies

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _emit(self, record: CallRecord, records: list[CallRecord]) -> None:
        records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        billable: bool = False,
        allow_404: bool = False,
        redact_response: bool = False,
    ) -> ProviderResponse:
        """Send one logical request (with retries) and return its parsed JSON body.

        Raises a :class:`ProviderError` subclass carrying provider, URL, status, attempt
        count and a payload excerpt when the request fails for good.
        """
        records: list[CallRecord] = []
        try:
            return self._request(
                method, path, records, operation=operation, params=params,
                json_body=json_body, headers=headers, idempotent=idempotent,
                billable=billable, allow_404=allow_404, redact_response=redact_response,
            )
        except ProviderError as exc:
            # The caller stores and audits every attempt, failed ones included.
            exc.records = records
            raise

    def _request(
        self,
        method: str,
        path: str,
        records: list[CallRecord],
        *,
        operation: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        billable: bool,
        allow_404: bool,
        redact_response: bool,
    ) -> ProviderResponse:
        url = self.url_for(path)
        body_bytes = canonical_json(json_body) if json_body is not None else b""
        send_headers = {**self._headers, **(headers or {})}
        if json_body is not None:
            send_headers["Content-Type"] = "application/json"
        # Prepared once and sent as is by every attempt (the same bytes each time).
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers=send_headers, params=params,
                         data=body_bytes if json_body is not None else None)
        safe_url = redact_url(prepared.url or url)
        request_sha = sha256_hex(body_bytes) if body_bytes else ""
        last_error: ProviderError | None = None
        context = {"provider": self.provider, "method": method, "url": safe_url}

        for attempt in range(1, self.retry.max_attempts + 1):
            record = CallRecord(
                call_id=str(uuid.uuid4()),
                provider=self.provider,
                operation=operation,
                method=method,
                url=safe_url,
                attempt=attempt,
                started_at=utcnow(),
                request_sha256=request_sha,
            )
            if not self.breaker.allow():
                record.outcome = OUTCOME_CIRCUIT_OPEN
                record.error = "circuit breaker open: provider failing, call not attempted"
                self._emit(record, records)
                raise CircuitOpenError(
                    f"{self.provider} circuit breaker is open; call not attempted",
                    attempts=attempt - 1, call_id=record.call_id, **context,
                )
            if self.rate_limiter is not None:
                try:
                    self.rate_limiter.acquire()
                except TimeoutError as exc:
                    record.outcome = OUTCOME_FAILED
                    record.error = f"rate limit: {exc}"
                    self._emit(record, records)
                    raise ProviderUnavailable(
                        f"{self.provider} rate limit budget exhausted: {exc}",
                        attempts=attempt - 1, call_id=record.call_id, **context,
                    ) from exc
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                response = self.adapter.send(
                    prepared,
                    timeout=(self.timeouts.connect, self.timeouts.read),
                    stream=True,
                    proxies=self.proxies,
                )
                try:
                    body = self._read_body(response)
                finally:
                    response.close()
            except requests.RequestException as exc:
                record.latency_ms = (time.perf_counter() - started) * 1000
                record.outcome = OUTCOME_RETRY
                record.error = f"{type(exc).__name__}: {_short(exc)}"
                self.breaker.record_failure()
                processed_unknown = not _never_reached_server(exc)
                if billable and not idempotent and processed_unknown:
                    record.outcome = OUTCOME_FAILED
                    self._emit(record, records)
                    raise UnknownOutcome(
                        f"{self.provider} {operation}: {record.error}; the billable request "
                        "may have been processed, so it is not repeated automatically",
                        attempts=attempt, call_id=record.call_id, **context,
                    ) from exc
                last_error = ProviderUnavailable(
                    f"{self.provider} {operation}: {record.error}",
                    attempts=attempt, call_id=record.call_id, **context,
                )
            else:
                record.latency_ms = (time.perf_counter() - started) * 1000
                record.status = response.status_code
                record.content_type = response.headers.get("Content-Type", "")
                record.response_size = len(body)
                record.response_sha256 = sha256_hex(body)
                record.response_excerpt = (
                    "[redacted: credentials]" if redact_response
                    else body[: self.excerpt_limit].decode("utf-8", errors="replace")
                )
                excerpt = record.response_excerpt[:2000]
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        data = self._parse(body, record.content_type)
                    except MalformedResponse as exc:
                        # The provider is up but not speaking its API: permanent for this
                        # call, and not a sign of an outage, so the breaker is not fed.
                        record.outcome = OUTCOME_FAILED
                        record.error = exc.message
                        self.breaker.record_success()
                        self._emit(record, records)
                        raise MalformedResponse(
                            f"{self.provider} {operation}: {exc.message}", status=status,
                            attempts=attempt, excerpt=excerpt, call_id=record.call_id,
                            **context,
                        ) from None
                    self.breaker.record_success()
                    self._emit(record, records)
                    return ProviderResponse(
                        status=status, data=data, call_id=record.call_id,
                        fetched_at=record.started_at, url=safe_url, records=records,
                    )
                if status == 404 and allow_404:
                    self.breaker.record_success()
                    self._emit(record, records)
                    return ProviderResponse(
                        status=status, data=None, call_id=record.call_id,
                        fetched_at=record.started_at, url=safe_url, records=records,
                    )
                if status in TRANSIENT_STATUSES:
                    self.breaker.record_failure()
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    record.retry_after = retry_after
                    record.outcome = OUTCOME_RETRY
                    record.error = f"HTTP {status}"
                    if billable and not idempotent and status not in NOT_PROCESSED_STATUSES:
                        record.outcome = OUTCOME_FAILED
                        self._emit(record, records)
                        raise UnknownOutcome(
                            f"{self.provider} {operation}: HTTP {status}; the billable request "
                            "may have been processed, so it is not repeated automatically",
                            status=status, attempts=attempt, excerpt=excerpt,
                            call_id=record.call_id, **context,
                        )
                    last_error = ProviderUnavailable(
                        f"{self.provider} {operation}: HTTP {status}", status=status,
                        attempts=attempt, excerpt=excerpt, call_id=record.call_id, **context,
                    )
                else:
                    # 4xx: our request is wrong or the record is missing; retrying changes
                    # nothing, and the provider is healthy.
                    self.breaker.record_success()
                    record.outcome = OUTCOME_FAILED
                    record.error = f"HTTP {status}"
                    self._emit(record, records)
                    error_class = NotFound if status == 404 else ProviderRejected
                    raise error_class(
                        f"{self.provider} {operation}: HTTP {status} "
                        f"{_provider_message(body)}".rstrip(),
                        status=status, attempts=attempt, excerpt=excerpt,
                        call_id=record.call_id, **context,
                    )

            if attempt >= self.retry.max_attempts:
                record.outcome = OUTCOME_FAILED
                self._emit(record, records)
                break
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                record.outcome = OUTCOME_FAILED
                self._emit(record, records)
                assert last_error is not None
                last_error.message = (
                    f"{last_error.message}; Retry-After {retry_after:.0f}s exceeds the "
                    f"{self.retry.max_retry_after:.0f}s limit"
                )
                last_error.args = (last_error.message,)
                break
            self._emit(record, records)
            self._sleep(self.retry.delay(attempt, retry_after, self._rng))

        assert last_error is not None
        last_error.message = f"{last_error.message} (gave up after {last_error.attempts} attempts)"
        last_error.args = (last_error.message,)
        raise last_error

    def _read_body(self, response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65_536):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise requests.exceptions.ContentDecodingError(
                    f"response body larger than {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes, content_type: str) -> Any:
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in self.content_types:
            raise MalformedResponse(
                f"unexpected content type {media_type or '(none)'!r}; "
                f"expected {' or '.join(self.content_types)}"
            )
        if not body:
            raise MalformedResponse("empty response body")
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedResponse(f"response body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _never_reached_server(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the provider (safe to resend)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        seen: set[int] = set()
        pending: list[BaseException] = [exc]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if isinstance(current, NewConnectionError | ConnectionRefusedError):
                return True
            for nested in (
                getattr(current, "reason", None),
                current.__cause__,
                current.__context__,
                *current.args,
            ):
                if isinstance(nested, BaseException):
                    pending.append(nested)
        return False
    return False


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


def _provider_message(body: bytes) -> str:
    """The provider's own error text (JSON:API ``errors`` or Experian ``errors``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
        first = data["errors"][0]
        if isinstance(first, dict):
            return str(first.get("message") or first.get("detail") or first.get("title") or "")
    return ""
