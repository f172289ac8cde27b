"""Fixtures of the screening tests: a tiny real-format OFAC list, imported and active."""

from __future__ import annotations

import pytest

SDN = [
    ("306", "BANCO NACIONAL DE CUBA", "-0- ", "CUBA", "", "Havana"),
    ("6365", "BIN LADIN, Usama", "individual", "SDGT", "DOB 30 Jul 1957", ""),
    ("20157", "KIM, Jong Un", "individual", "DPRK2", "DOB 08 Jan 1984", ""),
    ("7001", "GUZMAN LOERA, Joaquin", "individual", "SDNTK", "DOB 04 Apr 1957", ""),
]
ALT = [("306", "1", "aka", "NATIONAL BANK OF CUBA"), ("6365", "2", "aka", "BIN LADEN, Osama")]


def write_sdn(folder, rows=SDN, alts=ALT):
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for ent, name, kind, prog, remarks, _city in rows:
        cols = [ent, f'"{name}"', f'"{kind}"' if kind != "-0- " else "-0- ", f'"{prog}"']
        cols += ["-0- "] * 7 + [f'"{remarks}"' if remarks else "-0- "]
        lines.append(",".join(cols))
    (folder / "sdn.csv").write_text("\r\n".join(lines) + "\r\n\x1a\r\n", encoding="utf-8")
    (folder / "alt.csv").write_text(
        "\r\n".join(f'{e},{n},"{k}","{a}",-0- ' for e, n, k, a in alts) + "\r\n",
        encoding="utf-8")
    return folder


@pytest.fixture
def active_list(db, tmp_path):
    """Import the tiny SDN list (activated) and reset the process-level matcher."""
    from audit.context import Actor
    from screening.lists.services import list_import
    from screening.matcher_cache import matcher_cache_clear

    matcher_cache_clear()
    outcome = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"),
                          actor=Actor.system("test"))
    assert outcome.version.is_active
    yield outcome.version
    matcher_cache_clear()


@pytest.fixture
def customer(db):
    from cases.services import customer_upsert

    return customer_upsert(external_id="C-1", name="Osama bin Laden", dob="1957",
                           country="SA")
