"""Finds PostgreSQL and Redis before Django starts, and decides what tests may run.

Loaded as a plugin (`-p tests._services`) so it runs before pytest-django reads the
settings. With no DATABASE_URL/REDIS_URL it tries the 127.0.0.1 defaults. A missing
service skips the tests that need it, with the reason printed, except under CI=true or
REQUIRE_SERVICES=1, where a missing service fails the run."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/vigil"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1",
                                       parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get(
    "REQUIRE_SERVICES", "") == "1"

os.environ.setdefault("VIGIL_ENV", "test")
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
# Tests call tasks in process unless a test starts a real worker on purpose.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Each test process keeps its own cache (cleared between tests in conftest).
os.environ.setdefault("CACHE_URL", "locmem://")

MISSING: dict[str, str] = {}
if os.environ["DATABASE_URL"].startswith("postgres"):
    if not _answers(os.environ["DATABASE_URL"], 5432):
        MISSING["postgres"] = f"PostgreSQL does not answer at {os.environ['DATABASE_URL']}"
        if not REQUIRED:
            os.environ["DATABASE_URL"] = "sqlite:///:memory:"
else:
    MISSING["postgres"] = "DATABASE_URL is not PostgreSQL"
if not _answers(os.environ["REDIS_URL"], 6379):
    MISSING["redis"] = f"Redis does not answer at {os.environ['REDIS_URL']}"
    if not REQUIRED:
        os.environ["REDIS_URL"] = ""
if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
    MISSING["browser"] = "Chromium is not installed (apt-get install chromium)"
MISSING_FOR_MARK = {"postgres": "postgres", "redis": "redis", "celery_worker": "redis",
                    "browser": "browser"}


def pytest_report_header(config):
    lines = [f"database: {os.environ['DATABASE_URL']}; redis: {os.environ['REDIS_URL'] or '-'}"]
    for name, reason in MISSING.items():
        verdict = "FAIL (services required)" if REQUIRED else "tests needing it are skipped"
        lines.append(f"missing service {name}: {reason} -> {verdict}")
    return lines


def pytest_collection_modifyitems(config, items):
    if REQUIRED:
        return  # missing services already failed the session
    for item in items:
        for mark, service in MISSING_FOR_MARK.items():
            if item.get_closest_marker(mark) and service in MISSING:
                item.add_marker(pytest.mark.skip(reason=MISSING[service]))


def pytest_sessionstart(session):
    if REQUIRED and MISSING:
        raise pytest.UsageError(
            "Required services are missing: " + "; ".join(MISSING.values())
        )
