"""Japanese readings through pykakasi with its kanji dictionary held compact
(screening/matching/japanese.py): the same readings, a fraction of the memory."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from pykakasi.properties import Configurations

from screening.matching import japanese
from screening.matching.normalize import normalize_name

ROOT = Path(__file__).resolve().parents[2]
KANWA = Configurations.dictpath(Configurations.jisyo_kanwa)

NAMES = [
    "山田太郎", "鈴木一郎", "佐藤花子", "高橋健太", "田中角栄", "渡辺美智子", "伊藤博文",
    "中村雅俊", "小林幸子", "加藤清正", "東京海上日動火災保険株式会社", "三菱商事株式会社",
    "朝鮮労働党", "金正恩", "大日本印刷", "日本郵船", "北朝鮮船舶", "齋藤", "髙橋", "斎藤",
    "やまだ たろう", "ヤマダ タロウ", "山田 太郎", "株式会社トヨタ自動車",
]


def test_every_group_is_pykakasis_own():
    with open(KANWA, "rb") as f:
        table = pickle.load(f)  # noqa: S301 - pykakasi's installed file
    compact = japanese.compact_table(KANWA)
    assert len(compact) == len(table) > 6000
    assert sorted(compact.keys()) == sorted(table)
    for code, entries in table.items():
        assert compact.get(code) == entries, chr(code)
    assert compact.get(ord("A")) is None
    assert compact.get(ord("A"), "none") == "none"
    # the pickled groups: about a tenth of a megabyte per 700 first characters
    assert compact.size() < 16 * 2**20


def test_recent_groups_stay_bounded(monkeypatch):
    monkeypatch.setattr(japanese, "RECENT_GROUPS", 50)
    compact = japanese.compact_table(KANWA)
    codes = list(compact.keys())[:400]
    for code in codes:
        assert compact.get(code)
    assert 0 < len(compact._recent) <= 50
    # a group read again after it left the recent ones is the same
    assert compact.get(codes[0]) == compact.get(codes[0])


def test_readings_use_the_compact_table():
    from pykakasi.kanji import Kanwa

    assert japanese.japanese_reading("山田太郎") == ["yamada", "taro"]
    assert isinstance(Kanwa._shared_state["_jisyo_table"], japanese.CompactKanwaTable)
    # and normalisation gives a kanji name its Japanese reading (spelling folded)
    texts = [f.text for f in normalize_name("山田太郎").forms]
    assert normalize_name("YAMADA TARO").forms[0].text in texts


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_MEASURE = """
import json
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
{imports}
before = rss()
{setup}
readings = {{name: {convert} for name in {names!r}}}
print(json.dumps({{"readings": readings, "growth": rss() - before}}))
"""


def test_same_readings_as_pykakasi_itself_in_a_fraction_of_the_memory():
    """pykakasi as it ships (its whole table loaded) and through `japanese`, each in a
    fresh process: the same conversion of every name, and the memory each took."""
    plain = _run(_MEASURE.format(
        imports="import pykakasi", setup="k = pykakasi.kakasi()",
        convert="[p['hepburn'] for p in k.convert(name)]", names=NAMES))
    compact = _run(_MEASURE.format(
        imports="import pykakasi\nfrom screening.matching import japanese", setup="",
        convert="[p['hepburn'] for p in japanese.converter().convert(name)]",
        names=NAMES))
    assert compact["readings"] == plain["readings"]
    assert plain["readings"]["山田太郎"] == ["yamada", "tarou"]
    # pykakasi's own table: about 120 MB; the compact one: about 20-30 MB
    assert plain["growth"] > 90 * 2**20, plain["growth"]
    assert compact["growth"] < 50 * 2**20, compact["growth"]
