"""The append-only digest directory (``AUDIT_DIGEST_DIR``), meant to live on WORM storage.

Files are created exclusively (never overwritten) and made read-only. The directory is
the copy of the digests that a database restore or a database superuser cannot touch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from audit.formats import check_digest_document, digest_signed_bytes
from audit.signing import verify_signature


def digest_dir() -> Path:
    return Path(settings.AUDIT_DIGEST_DIR)


def archive_write(name: str, data: bytes) -> bool:
    """Write a digest file once; True if written, False if an identical one exists.
    A different existing file is never replaced (raises FileExistsError)."""
    path = digest_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        if path.read_bytes() == data:
            return False
        raise
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


@dataclass(frozen=True)
class ArchivedDigest:
    """A digest file as found in the archive, with its signature already checked."""

    name: str
    document: dict[str, Any]
    signature: str
    raw: bytes


def archive_read(public_key: bytes) -> tuple[list[ArchivedDigest], list[str]]:
    """All digest files with a valid signature, and a list of problems with the others."""
    root = digest_dir()
    found: list[ArchivedDigest] = []
    problems: list[str] = []
    if not root.exists():
        return found, problems
    for path in sorted(root.glob("*.json")):
        raw = path.read_bytes()
        try:
            envelope = json.loads(raw)
            doc = envelope["digest"]
            sig = envelope["signature"]["value"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{path.name}: not a digest envelope")
            continue
        issues = check_digest_document(doc)
        if issues:
            problems.append(f"{path.name}: " + "; ".join(issues))
            continue
        try:
            sig_bytes = bytes.fromhex(sig)
        except (ValueError, TypeError):
            sig_bytes = b""
        if not verify_signature(public_key, digest_signed_bytes(doc), sig_bytes):
            problems.append(f"{path.name}: signature does not verify with the signing key")
            continue
        found.append(ArchivedDigest(path.name, doc, sig, raw))
    return found, problems
