"""Japanese readings of kanji names (pykakasi), with pykakasi's kanji dictionary compact.

Business rule: a Japanese name written in kanji is also read the Japanese way (山田太郎 ->
YAMADA TARO), so that it finds the romanised name on a list.

pykakasi unpickles its whole kanji dictionary (`kanwadict4.db`: readings grouped by 6,823
first characters, about 270,000 lists) into Python objects the first time it converts
anything: about 105 MB in every process that ever reads one Japanese name, a quarter of
a screening worker's memory. Here each first character's group stays pickled (about
9.4 MB of bytes in all) and is unpickled when a name needs it, the most recent groups
kept. pykakasi reads the same entries in the same way: its readings do not change
(tests/screening/test_japanese.py compares every group with pykakasi's own table).
"""

from __future__ import annotations

import gc
import io
import logging
import pickle
import threading
from array import array
from typing import Any

from screening.matching.memo import cache_store

log = logging.getLogger(__name__)

# First characters whose readings stay unpickled (a group is a few entries, at most
# 2,514): the common surname and given-name kanji of a batch stay at hand.
RECENT_GROUPS = 512

_lock = threading.Lock()
_converter: Any = None


class CompactKanwaTable:
    """What pykakasi's `Kanwa` reads as its table (`get(code, default)`, code: the first
    character's code point), held as one pickled group per first character, all in one
    buffer."""

    __slots__ = ("_buffer", "_spans", "_recent")

    def __init__(self, buffer: bytes, codes: array, ends: array) -> None:
        self._buffer = memoryview(buffer)
        starts = [0, *ends[:-1]]
        self._spans = {code: (start, end) for code, start, end in zip(codes, starts, ends,
                                                                      strict=True)}
        self._recent: dict[int, dict] = {}

    def get(self, code: int, default: Any = None) -> Any:
        found = self._recent.get(code)
        if found is None:
            span = self._spans.get(code)
            if span is None:
                return default
            # pykakasi's own dictionary, re-pickled by this process (never outside input)
            found = pickle.loads(self._buffer[span[0]:span[1]])  # noqa: S301
            cache_store(self._recent, code, found, RECENT_GROUPS)
        return found

    def __len__(self) -> int:
        return len(self._spans)

    def keys(self):  # noqa: ANN201 - a dict's keys view
        return self._spans.keys()

    def size(self) -> int:
        """Bytes of the pickled groups."""
        return len(self._buffer)


def compact_table(path: str) -> CompactKanwaTable:
    """pykakasi's kanji dictionary file, as a `CompactKanwaTable`.

    The whole table is unpickled once, briefly. Everything kept is written to three
    buffers (the pickled groups, their first characters, where each ends), never to
    small objects, so that none of the kept objects sits among the table's: when the
    table is freed, its memory goes back to the system whole (about 120 MB otherwise
    held for good). The collector is off meanwhile (hundreds of thousands of new
    objects, no cycles)."""
    paused = gc.isenabled()
    gc.disable()
    buffer, codes, ends = io.BytesIO(), array("q"), array("q")
    try:
        # the file installed with pykakasi (a pinned requirement), not outside input
        with open(path, "rb") as f:
            table = pickle.load(f)  # noqa: S301
        for code, entries in table.items():
            pickle.dump(entries, buffer, protocol=pickle.HIGHEST_PROTOCOL)
            codes.append(code)
            ends.append(buffer.tell())
        del table
    finally:
        if paused:
            gc.enable()
    return CompactKanwaTable(buffer.getvalue(), codes, ends)


def _install_compact_table() -> None:
    """Give pykakasi's shared kanji dictionary state the compact table, before pykakasi
    loads its own (or in place of it). If a pykakasi release no longer has that state,
    pykakasi keeps its own table: more memory, the same readings."""
    try:
        from pykakasi.kanji import Kanwa
        from pykakasi.properties import Configurations

        state = Kanwa._shared_state
        lock = state["_lock"]
        path = Configurations.dictpath(Configurations.jisyo_kanwa)
    except (ImportError, AttributeError, KeyError, TypeError):
        log.warning("pykakasi's kanji dictionary is loaded whole: its internals changed")
        return
    with lock:
        if not isinstance(state.get("_jisyo_table"), CompactKanwaTable):
            state["_jisyo_table"] = compact_table(path)


def converter() -> Any:
    """pykakasi's converter (one per process), its kanji dictionary compact."""
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                import pykakasi  # only Japanese input needs it

                _install_compact_table()
                _converter = pykakasi.kakasi()
    return _converter


def japanese_reading(text: str) -> list[str] | None:
    """Hepburn reading of Japanese text, a part per word pykakasi finds; None when
    pykakasi cannot read it (a missing reading only loses one variant of the name)."""
    try:
        parts = converter().convert(text)
    except Exception:  # noqa: BLE001
        log.warning("no Japanese reading of %r", text[:50])
        return None
    # Hepburn long vowels are usually written short in names (TAROU -> TARO).
    return [part["hepburn"].replace("ou", "o").replace("uu", "u")
            for part in parts if part["hepburn"].strip()]
