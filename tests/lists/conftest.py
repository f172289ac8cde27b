"""Fixtures of the lists tests: the real files (shipped fixtures and ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "sanctions"
SHARED_SANCTIONS = REPO.parent / "shared" / "data" / "sanctions"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def sanctions() -> Path:
    """../shared/data/sanctions (read-only real files); tests skip when it is absent."""
    if not SHARED_SANCTIONS.exists():
        pytest.skip("../shared/data/sanctions is not present")
    return SHARED_SANCTIONS
