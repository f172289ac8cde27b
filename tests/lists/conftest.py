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


def _un_subset(source: Path, keep: set[str], dest: Path) -> Path:
    """A UN publication reduced to the records whose DATAID is in `keep` (verbatim XML)."""
    import re

    text = source.read_text(encoding="utf-8")
    record = re.compile(r"(\s*<(INDIVIDUAL|ENTITY)>.*?</\2>)", re.S)

    def replace(match: re.Match) -> str:
        dataid = re.search(r"<DATAID>(\d+)</DATAID>", match.group(1)).group(1)
        return match.group(1) if dataid in keep else ""

    dest.write_text(record.sub(replace, text), encoding="utf-8")
    return dest


@pytest.fixture(scope="session")
def un_small(tmp_path_factory) -> tuple[Path, Path]:
    """Two small UN publications cut from the real ones: every record that was added,
    removed or changed between 2025-11-18 and 2026-02-27, plus 40 unchanged ones."""
    import re

    if not SHARED_SANCTIONS.exists():
        pytest.skip("../shared/data/sanctions is not present")
    old = SHARED_SANCTIONS / "un/UN_consolidated_2025-11-18.xml"
    new = SHARED_SANCTIONS / "un/UN_consolidated_2026-02-27.xml"
    ids_old = set(re.findall(r"<DATAID>(\d+)</DATAID>", old.read_text(encoding="utf-8")))
    ids_new = set(re.findall(r"<DATAID>(\d+)</DATAID>", new.read_text(encoding="utf-8")))
    keep = (ids_old ^ ids_new) | set(sorted(ids_old & ids_new)[:40]) | {"6908402"}
    folder = tmp_path_factory.mktemp("un")
    return (
        _un_subset(old, keep, folder / "UN_2025-11-18_subset.xml"),
        _un_subset(new, keep, folder / "UN_2026-02-27_subset.xml"),
    )
