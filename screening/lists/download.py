"""Downloading list files from their publishers (no Django).

Rules: bounded timeouts; retries with exponential backoff and jitter for transient
failures only (connection errors, timeouts, 5xx, 429, cut-off bodies); conditional GET
with ETag / Last-Modified (a 304 means "nothing new"); resume with `Range` when the server
advertised byte ranges; content-type check; size limit; SHA-256 of what was received,
checked against a published digest when the server sends one.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

#: Content types a list file may legitimately be served as.
ACCEPTED_TYPES = {
    "application/xml",
    "text/xml",
    "text/csv",
    "text/plain",
    "application/csv",
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/vnd.ms-excel",
    "binary/octet-stream",
}


class DownloadError(Exception):
    """A download failed for good (after retries, or at once for permanent errors)."""


class TransientDownloadError(DownloadError):
    """A failure worth retrying (timeouts, 5xx, connection resets, truncated bodies)."""


@dataclass(frozen=True)
class DownloadResult:
    not_modified: bool
    path: Path | None = None
    sha256: str = ""
    size: int = 0
    etag: str = ""
    last_modified: str = ""
    attempts: int = 1
    resumed: bool = False


@dataclass(frozen=True)
class DownloadPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 4
    backoff: float = 2.0  # seconds, doubled per attempt, with jitter
    max_bytes: int = 256 * 1024 * 1024
    user_agent: str = "Vigil sanctions list refresh"


def download(
    url: str,
    dest: Path,
    *,
    etag: str = "",
    last_modified: str = "",
    policy: DownloadPolicy | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Fetch `url` into `dest` (a `.part` file is kept between attempts for resuming)."""
    policy = policy or DownloadPolicy()
    session = session or requests.Session()
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    accepts_ranges = False
    validator = ""
    last_error: Exception | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            result = _attempt(
                url,
                dest,
                part,
                etag=etag,
                last_modified=last_modified,
                policy=policy,
                session=session,
                resume=accepts_ranges and part.exists(),
                validator=validator,
            )
            return DownloadResult(**{**result.__dict__, "attempts": attempt})
        except _Interrupted as exc:
            accepts_ranges, validator, last_error = exc.accepts_ranges, exc.validator, exc.cause
        except TransientDownloadError as exc:
            last_error = exc
        if attempt < policy.attempts:
            sleep(policy.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2))
    part.unlink(missing_ok=True)
    raise DownloadError(f"{url}: failed after {policy.attempts} attempts ({last_error})")


class _Interrupted(TransientDownloadError):
    """The body was cut off; what arrived is kept for a ranged resume."""

    def __init__(self, cause: Exception, accepts_ranges: bool, validator: str) -> None:
        super().__init__(str(cause))
        self.cause, self.accepts_ranges, self.validator = cause, accepts_ranges, validator


def _attempt(
    url,
    dest: Path,
    part: Path,
    *,
    etag,
    last_modified,
    policy: DownloadPolicy,
    session: requests.Session,
    resume: bool,
    validator: str,
) -> DownloadResult:
    headers = {"User-Agent": policy.user_agent, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    offset = part.stat().st_size if resume else 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator  # only resume the very same file
    try:
        response = session.get(
            url, headers=headers, stream=True, timeout=(policy.connect_timeout, policy.read_timeout)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientDownloadError(f"{type(exc).__name__}: {exc}") from exc
    with response:
        status = response.status_code
        if status == 304:
            return DownloadResult(not_modified=True, etag=etag, last_modified=last_modified)
        if status == 429 or status >= 500:
            raise TransientDownloadError(f"HTTP {status}")
        if status not in (200, 206):
            raise DownloadError(f"{url}: HTTP {status} (not retried)")
        ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype and ctype not in ACCEPTED_TYPES:
            raise DownloadError(f"{url}: unexpected content type {ctype!r} (an error page?)")
        new_etag = response.headers.get("ETag", "")
        new_modified = response.headers.get("Last-Modified", "")
        accepts_ranges = response.headers.get("Accept-Ranges", "").lower() == "bytes"
        append = status == 206 and offset > 0
        expected = response.headers.get("Content-Length")
        expected_total = (offset if append else 0) + int(expected) if expected else None
        if expected_total and expected_total > policy.max_bytes:
            raise DownloadError(f"{url}: {expected_total:,} bytes is over the size limit")
        received = offset if append else 0
        try:
            with part.open("ab" if append else "wb") as fh:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    received += len(chunk)
                    if received > policy.max_bytes:
                        raise DownloadError(f"{url}: body exceeds the size limit")
                    fh.write(chunk)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise _Interrupted(exc, accepts_ranges, new_etag or new_modified) from exc
        if expected_total is not None and received != expected_total:
            raise _Interrupted(
                TransientDownloadError(f"body cut off at {received:,} of {expected_total:,} bytes"),
                accepts_ranges,
                new_etag or new_modified,
            )
    digest = _sha256(part)
    published = _published_sha256(response.headers)
    if published and published != digest:
        part.unlink(missing_ok=True)
        raise TransientDownloadError(f"checksum mismatch: got {digest}, published {published}")
    part.replace(dest)
    return DownloadResult(
        not_modified=False,
        path=dest,
        sha256=digest,
        size=received,
        etag=new_etag,
        last_modified=new_modified,
        resumed=append,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _published_sha256(headers) -> str:
    """SHA-256 announced by the server (`Repr-Digest`/`Digest: sha-256=...`), hex, or ''."""
    for name in ("Repr-Digest", "Digest"):
        value = headers.get(name, "")
        for item in value.split(","):
            key, _, encoded = item.strip().partition("=")
            if key.lower() == "sha-256" and encoded:
                try:
                    return base64.b64decode(encoded.strip(":")).hex()
                except ValueError:
                    return ""
    return ""
