"""The matcher's speed devices change no result: merged delete look-ups, memoised
normalisation per word, best credit per row, bounded caches (pure, no database)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from screening.lists.parsers import parse_list
from screening.matching import normalize as normalize_module
from screening.matching.engine import Matcher
from screening.matching.index import (
    MIN_TOKEN_SIMILARITY,
    _add_found,
    _deletes,
    _merged,
    cache_store,
)
from screening.matching.memo import memo_per_word
from screening.matching.normalize import normalize_name
from screening.matching.similarity import phonetic_key, token_similarity

FIXTURE_SDN = Path(__file__).resolve().parents[2] / "fixtures" / "sanctions" / "ofac-sdn-2021-07"


@pytest.fixture(scope="module")
def sdn_matcher():
    return Matcher(parse_list("ofac-sdn", FIXTURE_SDN).entities)


def _neighbours(token: str, vocab: list[str], real: set[str]) -> set[str]:
    """Vocabulary tokens one delete away from `token` either way (or sharing a delete),
    by brute force over the vocabulary, and those that sound the same."""
    keys = {token, *_deletes(token)}
    out = set()
    for v in vocab:
        if v == token or v in keys:
            out.add(v)
        elif v in real and len(v) >= 4 and keys & {v, *_deletes(v)}:
            out.add(v)
        elif phonetic_key(token) and phonetic_key(v) == phonetic_key(token):
            out.add(v)
    return out


def test_lookup_finds_every_token_one_delete_away(sdn_matcher):
    """`lookup` answers each delete with one probe of a merged table: it still finds
    every vocabulary token a delete away (longer, shorter, substituted) or sounding the
    same, when similar enough."""
    index = sdn_matcher.index
    real = {index.tokens[r.vocab[i]] for r in index.rows for i in range(len(r.vocab))}
    vocab = [t for t in index.tokens if t.isalpha()]
    rng = random.Random(3)
    probes = rng.sample(sorted(real), 40)
    # altered: one letter dropped, one added, one replaced
    probes += [t[:2] + t[3:] for t in probes[:10] if len(t) >= 6]
    probes += [t[:2] + "A" + t[2:] for t in probes[:10]]
    probes += [t[:1] + "O" + t[2:] for t in probes[:10]]
    probes = [t for t in probes if len(t) >= 4]
    for token in probes:
        found = index.lookup(token)
        expected = {
            v
            for v in _neighbours(token, vocab, real)
            if token_similarity(token, v) >= MIN_TOKEN_SIMILARITY
        }
        got = {index.tokens[v] for v in found}
        assert expected <= got, (token, expected - got)


def test_credit_rows_keeps_the_best_credit_of_each_row(sdn_matcher):
    index = sdn_matcher.index
    rng = random.Random(5)
    for k in range(300):
        ids = rng.sample(range(len(index.tokens)), rng.choice([1, 2, 3, 8, 30]))
        credits = {v: rng.choice([0.5, 0.8, 1.0, rng.random()]) for v in ids}
        rows, cred = index.credit_rows(("test", k), credits)
        best: dict[int, float] = {}
        for v, c in credits.items():
            for r in index.posting_rows(v).tolist():
                best[r] = max(best.get(r, 0.0), c)
        assert rows.tolist() == sorted(best)
        assert np.array_equal(cred, np.asarray([best[r] for r in sorted(best)]))


def test_normalisation_memoised_per_word_equals_a_cold_normalisation():
    """Words memoised in one context (a Korean word alone is surname + given name, in
    a longer name it is one part) give what a cold normalisation gives."""
    names = [
        "김정은",
        "김정은 위원장",
        "김정은",
        "金正恩",
        "金正恩 同志",
        "Владимир Путин",
        "Путин",
        "ABD AL RAHMAN",
        "Abd al-Rahman LMITED",
        "Mohammed Ali Trading Ltd",
        "J. Smith",
        "José Müller",
        "Müller",
        "أسامة بن لادن",
        "بن لادن",
    ]
    warm = [normalize_name(n) for n in names]

    def cold(name: str):
        for cached in (normalize_name, normalize_module._romanised, normalize_module._word_token):
            cached.cache_clear()
        return normalize_name(name)

    assert warm == [cold(n) for n in names]
    assert warm[0].forms[0].tokens == ("KIM", "JONGUN")
    assert warm[1].forms[0].tokens[0] == "KIMJONGUN"


def test_cache_store_drops_the_older_half_when_full():
    cache: dict[int, int] = {}
    for k in range(10):
        cache_store(cache, k, k * k, 10)
    assert len(cache) == 10
    cache_store(cache, 10, 100, 10)
    assert len(cache) <= 10
    assert 10 in cache and 9 in cache and 0 not in cache
    assert all(cache[k] == k * k for k in cache)


# ---------------------------------------------------------------- shared pages (fork)


def test_posting_rows_are_the_rows_holding_each_token(sdn_matcher):
    """One flat array cut by offsets gives each vocabulary token exactly the rows whose
    tokens or glued pairs hold it (ascending), as the per-token lists did."""
    index = sdn_matcher.index
    expected: dict[int, set[int]] = {}
    for row in index.rows:
        for v in {*row.vocab, *row.glued}:
            expected.setdefault(v, set()).add(row.rid)
    for v in range(len(index.tokens)):
        assert index.posting_rows(v).tolist() == sorted(expected.get(v, ())), v


def test_index_tables_share_one_int_object_per_vocabulary_id(sdn_matcher):
    """The delete, sound, skeleton and spelling tables refer to the vocabulary's own id
    objects, so a forked worker's look-ups write to few shared pages."""
    index = sdn_matcher.index
    ids = list(index.vocab.values())
    assert ids == list(range(len(index.tokens)))
    tables = (
        index._near,
        index._phonetic,
        index._skeleton,
        index._abjad_form,
        index._grams,
        index.raw_vocab,
    )
    found = [
        v
        for table in tables
        for vs in table.values()
        for v in (vs if isinstance(vs, tuple | list) else (vs,))
        if isinstance(v, int)
    ]
    assert len(found) > 1000
    assert all(v is ids[v] for v in found)
    assert all(v is ids[v] for row in index.rows for v in (*row.vocab, *row.glued))


def test_merged_tables_give_every_entry_in_order():
    """A key with one entry holds the entry itself (no tuple of its own): the look-ups
    still get every entry, in the order added, id 0 included."""
    table = _merged({"AB": [3], "CD": [1, 2], "EF": [0]}, {"AB": 9, "GH": 0, "IJ": 5})
    assert table["AB"] == (3, 9) and table["EF"] == 0 and table["IJ"] == 5
    found: set[int] = set()
    _add_found(found, map(table.get, ["XX", "EF", "CD", "AB", "GH", "IJ"]))
    assert found == {0, 1, 2, 3, 9, 5}
    seen: list[int] = []
    _add_found(_Recorder(seen), map(table.get, ["CD", "EF", "AB", "XX", "IJ"]))
    assert seen == [1, 2, 0, 3, 9, 5]


class _Recorder:
    """A set stand-in that records what is added, in order."""

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen

    def add(self, v: int) -> None:
        self.seen.append(v)

    def update(self, vs) -> None:
        self.seen.extend(vs)


def test_building_an_index_leaves_the_query_memo_to_queries():
    """Listed names are normalised without `normalize_name`'s memo (kept for queries):
    filling it made every new query evict a listed name's objects."""
    normalize_name.cache_clear()
    Matcher(parse_list("ofac-sdn", FIXTURE_SDN).entities)
    assert normalize_name.cache_info().currsize == 0


def test_memo_per_word_keeps_each_flag_apart_and_drops_the_older_half():
    """The per-word memo answers what the function answers, one memo per flags (the
    same word with other flags is another entry), bounded like `cache_store`."""
    calls: list[tuple] = []

    @memo_per_word(4)
    def shout(word: str, loud: bool) -> str:
        calls.append((word, loud))
        return word.upper() + ("!" if loud else "")

    assert [shout("a", True), shout("a", False), shout("a", True)] == ["A!", "A", "A!"]
    assert calls == [("a", True), ("a", False)]
    for w in "bcdef":
        shout(w, True)
    assert shout("f", True) == "F!" and len(calls) == 7
    shout("b", True)  # dropped with the older half: computed again
    assert calls[-1] == ("b", True)
    shout.cache_clear()
    shout("f", True)
    assert calls[-1] == ("f", True)
