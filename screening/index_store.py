"""Built matcher indexes kept on disk: a process loads the active lists' index instead of
reading every listed entity from the database and building it again.

Business rule: a loaded index is exactly the one a build would give, or none is loaded.
- A file is found by a key naming everything the build depends on: the list versions (id,
  file hash and import time), the database they were read from, the matcher's algorithm
  version, the source of the matcher's code, and the Python and numpy versions that
  pickled it. A new version, a new release or another database finds no file and builds.
- A file is unpickled only when its HMAC, under a key derived from SECRET_KEY, verifies:
  a file that was not written by Vigil (or was torn or altered) is never executed as a
  pickle; it is set aside and the index is built.
- Nothing here ever fails a screening: a missing, foreign or unwritable store means a
  build, logged as a warning where something was wrong.

Files are written whole (a temporary file, then an atomic rename), at most
`SCREENING_INDEX_KEEP` are kept (the least recently used are removed), and the directory
(`SCREENING_INDEX_DIR`, empty to disable) is created private to the process's user.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.crypto import salted_hmac

from screening.matching.engine import ALGORITHM_VERSION
from screening.matching.index import MatcherIndex, gc_paused

logger = logging.getLogger(__name__)

MAGIC = b"vigil-matcher-index/1\n"
MAC_SIZE = 32  # HMAC-SHA256
_SALT = "vigil.screening.index_store"
PARTIAL_MAX_AGE = 3600.0  # seconds: an unfinished write older than this was abandoned
_CODE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the source of everything a built index depends on: the matcher package
    and the listed-entity records (any edit, even one that keeps the algorithm version,
    makes earlier files unusable)."""
    digest = hashlib.sha256()
    files = sorted((_CODE / "matching").glob("*.py")) + [_CODE / "lists" / "records.py"]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def index_key(versions: Iterable) -> str:
    """The store key of the index over these list versions (`ListVersion` rows)."""
    db = connection.settings_dict
    parts = [ALGORITHM_VERSION, code_fingerprint(), sys.version, np.__version__,
             db["ENGINE"], str(db["NAME"]), str(db.get("HOST") or ""), str(db.get("PORT") or "")]
    for v in sorted(versions, key=lambda v: v.pk):
        imported = v.imported_at.isoformat() if v.imported_at else ""
        parts.append(f"{v.pk}:{v.sha256}:{imported}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def store_dir() -> Path | None:
    """Where indexes are kept (None: the store is off)."""
    configured = getattr(settings, "SCREENING_INDEX_DIR", "")
    return Path(configured) if configured else None


def _mac(payload: bytes | memoryview) -> bytes:
    return salted_hmac(_SALT, payload, algorithm="sha256").digest()


def _set_aside(path: Path, why: str) -> None:
    logger.warning("matcher index %s not used (%s): removed, the index is built instead",
                   path.name, why)
    try:
        path.unlink()
    except OSError:
        pass


def load_index(key: str) -> MatcherIndex | None:
    """The stored index under `key`, or None (none stored, the store off, or a file
    that does not verify: set aside)."""
    folder = store_dir()
    if folder is None:
        return None
    path = folder / f"{key}.index"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("matcher index %s unreadable: %s", path, exc)
        return None
    head = len(MAGIC) + MAC_SIZE
    if len(data) < head or not data.startswith(MAGIC):
        _set_aside(path, "not a Vigil index file")
        return None
    payload = memoryview(data)[head:]
    if not hmac.compare_digest(data[len(MAGIC):head], _mac(payload)):
        _set_aside(path, "its signature does not verify")
        return None
    try:
        with gc_paused():  # hundreds of thousands of objects, no cycles: see gc_paused
            index = pickle.loads(payload)  # noqa: S301 -- signed by this deployment
    except Exception as exc:  # signed but unreadable (e.g. a library changed its pickles)
        _set_aside(path, f"it does not unpickle: {exc.__class__.__name__}")
        return None
    if not isinstance(index, MatcherIndex):
        _set_aside(path, "it holds no matcher index")
        return None
    try:
        os.utime(path)  # recently used: kept by the pruning
    except OSError:
        pass
    return index


def save_index(key: str, index: MatcherIndex) -> Path | None:
    """Store a freshly built index (before any query filled its caches) under `key`;
    the path written, or None (store off, already stored, or not writable: logged)."""
    folder = store_dir()
    if folder is None:
        return None
    final = folder / f"{key}.index"
    if final.exists():  # another process built the same index meanwhile
        return None
    tmp = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with gc_paused():
            payload = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".writing-", suffix=".partial")  # 0600
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC)
            out.write(_mac(payload))
            out.write(payload)
        os.replace(tmp, final)
        tmp = None
    except OSError as exc:
        logger.warning("matcher index not stored in %s: %s", folder, exc)
        return None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _prune(folder, keep=final)
    return final


def _prune(folder: Path, keep: Path) -> None:
    """Remove the least recently used index files beyond SCREENING_INDEX_KEEP."""
    limit = max(1, int(getattr(settings, "SCREENING_INDEX_KEEP", 4)))
    try:
        files = [(p.stat().st_mtime, p) for p in folder.glob("*.index") if p != keep]
    except OSError:
        return
    files.sort(reverse=True)
    stale = [p for p in folder.glob(".writing-*.partial")  # left by a process that died
             if _age(p) > PARTIAL_MAX_AGE]
    for path in [p for _, p in files[limit - 1:]] + stale:
        try:
            path.unlink()
        except OSError:
            pass


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
