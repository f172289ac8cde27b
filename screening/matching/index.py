"""In-memory matcher index over listed names, with candidate retrieval.

Business rule: a query is compared in detail only with the listed names that share at
least one sufficiently similar token with it (same token, same variant key, one edit away,
same sound, same consonant skeleton, or a glued/split form), never with every listed name.
Token weights come from how rare a token is on the lists: a rare surname is strong evidence,
a common first name or particle is weak.
"""

from __future__ import annotations

import gc
import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, chain
from operator import is_not

import numpy as np

from screening.lists.records import ListedEntity
from screening.matching.memo import cache_store
from screening.matching.normalize import (
    INITIAL,
    NORMAL,
    ORG_FORM,
    PARTICLE,
    NameForm,
    abjad_listed_forms,
    abjad_query_form,
    normalize_name,
    skeleton,
)
from screening.matching.similarity import phonetic_key, token_similarity

# The look-ups below are cached per query token (`_lookup_cache` and the like): the
# functions' own memo of every (query token, listed token) pair would only duplicate
# them, and grow by hundreds of thousands of entries over a large batch.
_token_similarity = getattr(token_similarity, "__wrapped__", token_similarity)
_phonetic_key = getattr(phonetic_key, "__wrapped__", phonetic_key)

# Listed names are normalised once per build, without `normalize_name`'s memo: it is
# for queries (20,000 names), and the listed names filled it, so that every new query
# name evicted one of them; in a forked worker, freeing those shared objects copies
# their pages (copy-on-write, about 3 page faults per name).
_normalize_listed = getattr(normalize_name, "__wrapped__", normalize_name)

MIN_TOKEN_SIMILARITY = 0.75
# Glued/split tokens must be near-identical: concatenations create chance resemblances.
GLUED_LOOKUP_MIN = 0.92
BOUND_WIDTH = 12  # tokens per row kept in the vectorised score bound (longer: one by one)
ROLE_FACTORS: dict[str, float] = {NORMAL: 1.0, PARTICLE: 0.25, ORG_FORM: 0.15, INITIAL: 0.35}
# Entries per look-up cache: bounded so that a long-lived worker stays small (customer
# names keep bringing tokens and glued pairs never seen before).
LOOKUP_CACHE_LIMIT = 100_000
ROWS_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class NameRow:
    """One reading of one listed name, as indexed."""

    rid: int  # position in MatcherIndex.rows
    entity: int  # position in MatcherIndex.entities
    name_index: int  # position in the entity's names
    form: NameForm
    vocab: tuple[int, ...]  # vocab id per token
    glued: tuple[int, ...]  # vocab id per adjacent token pair, glued


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (as it was before, after).

    Building an index and screening a batch create hundreds of thousands of objects and
    no reference cycles: every collection the allocations trigger would walk all of them
    (about a fifth of a build, 40 % of a batch) and free nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _deletes(token: str) -> list[str]:
    return [token[:i] + token[i + 1 :] for i in range(len(token))]


def _merged(deletes: dict[str, list], spelled: dict[str, object]) -> dict[str, object]:
    """Per key: what `deletes` holds for it, then what `spelled` does (if anything); a
    single entry as itself, several as a tuple (read with `_add_found`). Most keys hold
    one entry: a look-up then reads the entry itself (an id, shared by every table), not
    a tuple of its own (in a forked worker, each object read has its page copied).
    Built in `deletes` itself: no second copy at build time."""
    out: dict = deletes
    for key, found in out.items():
        out[key] = found[0] if len(found) == 1 else tuple(found)
    for key, value in spelled.items():
        hit = out.get(key)
        if hit is None:
            out[key] = value
        elif hit.__class__ is tuple:
            out[key] = (*hit, value)
        else:
            out[key] = (hit, value)
    return out


_is_not_none = partial(is_not, None)


def _add_found(found: set, hits: Iterable) -> None:
    """Add every entry of `hits` (values of a `_merged` table, None for a missing key)
    to `found`, in order."""
    for hit in filter(_is_not_none, hits):
        if hit.__class__ is tuple:
            found.update(hit)
        else:
            found.add(hit)


def _grams(token: str) -> set[str]:
    padded = f"^{token}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class MatcherIndex:
    """Token, phonetic, skeleton and n-gram keys over every name of the given entities."""

    def __init__(self, entities: Iterable[ListedEntity]) -> None:
        self.entities: list[ListedEntity] = []
        self.rows: list[NameRow] = []
        self.vocab: dict[str, int] = {}
        self.tokens: list[str] = []
        postings: list[list[int]] = []
        df: list[int] = []
        real: set[int] = set()

        def vid(token: str) -> int:
            v = self.vocab.get(token)
            if v is None:
                v = len(self.tokens)
                self.vocab[token] = v
                self.tokens.append(token)
                postings.append([])
                df.append(0)
            return v

        raw_spellings: dict[str, set[int]] = defaultdict(set)
        for entity in entities:
            e = len(self.entities)
            self.entities.append(entity)
            for ni, listed in enumerate(entity.names):
                normalized = _normalize_listed(listed.name)
                for form in normalized.forms:
                    r = len(self.rows)
                    vocab = tuple(vid(t) for t in form.tokens)
                    for w, v, ab in zip(form.raw, vocab, form.abjad, strict=False):
                        if not ab and w != self.tokens[v] and len(w) >= 4 and w.isalpha():
                            raw_spellings[w].add(v)
                    glued = tuple(
                        vid(a + b) for a, b in zip(form.tokens, form.tokens[1:], strict=False)
                    )
                    real.update(vocab)
                    for v in set(vocab):
                        postings[v].append(r)
                        df[v] += 1
                    for v in set(glued) - set(vocab):
                        postings[v].append(r)
                    self.rows.append(NameRow(r, e, ni, form, vocab, glued))

        n_rows = max(len(self.rows), 1)
        # Every token's rows in one array (rows ascending per token), cut by offsets: one
        # object instead of one per token, so a forked worker's look-ups write to no
        # shared page for them (copy-on-write).
        self._posting_rows = np.fromiter(
            chain.from_iterable(postings), dtype=np.int32, count=sum(map(len, postings))
        )
        self._posting_ends = array("q", [0])
        self._posting_ends.extend(accumulate(map(len, postings)))
        # idf: log-scaled rarity; glued pseudo-tokens (df 0) get the rare-token weight.
        self.idf: list[float] = [math.log(1.0 + n_rows / (d if d else 1.0)) for d in df]
        self.max_idf = math.log(1.0 + n_rows)
        idf, factors = self.idf, ROLE_FACTORS
        self.row_weights: list[tuple[float, ...]] = [
            tuple(
                [
                    idf[v] * factors.get(role, 1.0)
                    for v, role in zip(row.vocab, row.form.roles, strict=True)
                ]
            )
            for row in self.rows
        ]
        deletes: dict[str, list[int]] = defaultdict(list)  # merged into `_near` below
        self._phonetic: dict[str, object] = defaultdict(list)  # read with `_add_found`
        self._skeleton: dict[str, list[int]] = defaultdict(list)
        self._abjad_form: dict[str, list[int]] = defaultdict(list)
        self._grams: dict[str, list[int]] = defaultdict(list)
        # Local names: this loop runs over the whole vocabulary at every build.
        phonetic, skeletons = self._phonetic, self._skeleton
        abjad_forms, grams = self._abjad_form, self._grams
        # The vocabulary's own id objects (not new ones from `enumerate`): every table
        # refers to one int object per id, so a forked worker reading the tables writes
        # (reference counts) to the few pages of those ints only (copy-on-write).
        for v, token in zip(self.vocab.values(), self.tokens, strict=True):
            if not token.isalpha():
                continue
            key = phonetic_key(token)
            if key:
                phonetic[key].append(v)
            if v not in real:
                # Glued pairs are found by exact key or sound only (keeps the index small).
                continue
            if len(token) >= 4:
                for d in _deletes(token):
                    deletes[d].append(v)
            for sk in {skeleton(token), skeleton(token.replace("V", "F"))}:
                if sk:
                    skeletons[sk].append(v)
            for form in abjad_listed_forms(token):
                abjad_forms[form].append(v)
            if len(token) >= 5:
                for g in _grams(token):
                    grams[g].append(v)
        _merged(phonetic, {})
        # Spellings as written (before folding) that differ from their folded token: a
        # typo can fold far from the folded listed token (STEL -> STEL, STEEL -> STIL)
        # while the spellings as written stay one edit apart.
        self.raw_vocab: dict[str, tuple[int, ...]] = {
            w: tuple(sorted(vs)) for w, vs in raw_spellings.items()
        }
        raw_deletes: dict[str, list[str]] = defaultdict(list)
        for w in self.raw_vocab:
            for d in _deletes(w):
                raw_deletes[d].append(w)
        # The first sight of a query token looks up each of its deletes in the delete
        # keys and in the vocabulary: both answers under one key, in the order the
        # look-ups add them (the tokens a delete away, then the token spelled so), make
        # that one dictionary probe per delete.
        self._delete_keys = len(deletes)
        self._near: dict[str, object] = _merged(deletes, self.vocab)
        self._raw_near: dict[str, object] = _merged(raw_deletes, {w: w for w in self.raw_vocab})
        self._spelled_cache: dict[tuple[str, str], dict[int, float]] = {}
        # and as an abjad would write those spellings (JOSE -> JS, where its folded
        # JOSEF -> JSF)
        self._abjad_raw: dict[str, list[str]] = defaultdict(list)
        for w in self.raw_vocab:
            for form in abjad_listed_forms(w):
                self._abjad_raw[form].append(w)
        self._lookup_cache: dict[tuple[str, bool], dict[int, float]] = {}
        self._glued_cache: dict[tuple[str, bool], dict[int, float]] = {}
        self.credit_cache: dict[tuple, dict[int, float]] = {}
        self._rows_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._build_bound_arrays()

    def _build_bound_arrays(self) -> None:
        """Per-row token ids and weights as fixed-width arrays, so a score upper bound
        can be computed for thousands of candidate rows at once."""
        n, k = len(self.rows), BOUND_WIDTH
        pad = len(self.tokens)  # index of an always-zero similarity slot
        self.row_vocab = np.full((max(n, 1), k), pad, dtype=np.int32)
        self.row_w = np.zeros((max(n, 1), k), dtype=np.float32)
        self.row_w_min = np.zeros((max(n, 1), k), dtype=np.float32)  # smallest denominator
        self.row_glued = np.full((max(n, 1), k), pad, dtype=np.int32)
        self.row_long = np.zeros(max(n, 1), dtype=bool)  # too wide: bound gives up (1.0)
        # rows with a one-letter token (an initial, or a particle such as Y): the bound
        # does not model them (an initial may take any word), they are always aligned
        self.row_initial = np.zeros(max(n, 1), dtype=bool)
        # smallest coverage denominator of each row (unmatched middle tokens count half)
        self.row_w_min_sum: list[float] = []
        # one-letter tokens: their letter (0-25, else 26) and whether they are initials
        self.row_letter = np.full((max(n, 1), k), 26, dtype=np.int8)
        self.row_letter_initial = np.zeros((max(n, 1), k), dtype=bool)
        for r, row in enumerate(self.rows):
            w = self.row_weights[r]
            m = len(w)
            self.row_long[r] = m > k
            self.row_initial[r] = any(len(t) == 1 and "A" <= t <= "Z" for t in row.form.tokens)
            self.row_w_min_sum.append(
                sum(x * (0.5 if 0 < j < m - 1 else 1.0) for j, x in enumerate(w))
            )
            for j in range(min(m, k)):
                t = row.form.tokens[j]
                if len(t) == 1 and "A" <= t <= "Z":
                    self.row_letter[r, j] = ord(t) - 65
                    self.row_letter_initial[r, j] = row.form.roles[j] == INITIAL
                self.row_vocab[r, j] = row.vocab[j]
                self.row_w[r, j] = w[j]
                self.row_w_min[r, j] = w[j] * (0.5 if 0 < j < m - 1 else 1.0)
            for j in range(min(len(row.glued), k)):
                self.row_glued[r, j] = row.glued[j]

    # ------------------------------------------------------------------ token lookup

    def lookup(self, token: str, abjad: bool = False) -> dict[int, float]:
        """Vocabulary tokens similar to `token` (vocab id -> similarity >= minimum)."""
        key = (token, abjad)
        cached = self._lookup_cache.get(key)
        if cached is not None:
            return cached
        found: set[int] = set()
        exact = self.vocab.get(token)
        if exact is not None:
            found.add(exact)
        if token.isalpha() and len(token) >= 2:
            if abjad:
                # As written in the abjad (ALI -> LY); the bare skeleton only when it has
                # two consonants or more (a one-letter skeleton fetches half the list).
                found.update(self._abjad_form.get(abjad_query_form(token), ()))
                sk = skeleton(token)
                if len(sk) >= 2:
                    found.update(self._skeleton.get(sk, ()))
            if len(token) >= 4:
                _add_found(found, map(self._near.get, [token, *_deletes(token)]))
            elif len(token) >= 3:
                for d in _deletes(token):
                    v = self.vocab.get(d)
                    if v is not None:
                        found.add(v)
            pk = _phonetic_key(token)
            if pk:
                _add_found(found, (self._phonetic.get(pk),))
            if not found and len(token) >= 6:
                # Typos beyond one edit: fall back to shared character trigrams.
                # Only the rarest trigrams are consulted (cheap, and discriminating).
                lists = sorted((p for g in _grams(token) if (p := self._grams.get(g))), key=len)
                lists = [p for p in lists[:5] if len(p) <= 300]
                if len(lists) >= 3:
                    counts = Counter(chain.from_iterable(lists))
                    found.update(v for v, c in counts.items() if c >= 3)
        result: dict[int, float] = {}
        for v in found:
            sim = _token_similarity(token, self.tokens[v], abjad)
            if sim >= MIN_TOKEN_SIMILARITY:
                result[v] = sim
        if abjad and token.isalpha():
            for w in self._abjad_raw.get(abjad_query_form(token), ()):
                sim = _token_similarity(token, w, True)
                if sim >= MIN_TOKEN_SIMILARITY:
                    for v in self.raw_vocab[w]:
                        if sim > result.get(v, 0.0):
                            result[v] = sim
        cache_store(self._lookup_cache, key, result, LOOKUP_CACHE_LIMIT)
        return result

    def lookup_spelled(self, token: str, raw: str) -> dict[int, float]:
        """`lookup(token)` of a Latin token, plus the vocabulary tokens similar to `raw`
        (the query token as written) or whose own spelling as written is, each with the
        best of these similarities."""
        found = self.lookup(token, False)
        if raw == token and raw not in self.raw_vocab and len(raw) < 4:
            return found
        key = (token, raw)
        cached = self._spelled_cache.get(key)
        if cached is not None:
            return cached
        spellings: set[str] = set()
        if raw in self.raw_vocab:
            spellings.add(raw)
        if len(raw) >= 4 and raw.isalpha():
            _add_found(spellings, map(self._raw_near.get, [raw, *_deletes(raw)]))
        merged = found
        if raw != token and raw.isalpha():
            # the spelling as written against the folded vocabulary (AJAA ~ AJAKA, while
            # its folded AJA is two edits away)
            for v, sim in self.lookup(raw, False).items():
                if sim > merged.get(v, 0.0):
                    if merged is found:
                        merged = dict(found)
                    merged[v] = sim
        for w in spellings:
            sim = _token_similarity(raw, w, False)
            if sim < MIN_TOKEN_SIMILARITY:
                continue
            for v in self.raw_vocab[w]:
                if sim > merged.get(v, 0.0):
                    if merged is found:
                        merged = dict(found)
                    merged[v] = sim
        cache_store(self._spelled_cache, key, merged, LOOKUP_CACHE_LIMIT)
        return merged

    def lookup_glued(
        self, token: str, abjad: bool = False, min_similarity: float = GLUED_LOOKUP_MIN
    ) -> dict[int, float]:
        """Vocabulary tokens near-identical to a glued query pair (JOHN+SMITH ->
        JOHNSMITH): exact, one edit or same sound; only similarities >= `min_similarity`
        (scoring ignores glued pairs below it, so weaker ones would only add candidates)."""
        key = (token, abjad)
        cached = self._glued_cache.get(key)
        if cached is not None:
            return cached
        if abjad:
            # Abjad pairs need the skeleton keys of the full lookup.
            result = {v: s for v, s in self.lookup(token, abjad).items() if s >= min_similarity}
        else:
            result = self._glued_latin(token, min_similarity)
        cache_store(self._glued_cache, key, result, LOOKUP_CACHE_LIMIT)
        return result

    def _glued_latin(self, token: str, min_similarity: float) -> dict[int, float]:
        found: set[int] = set()
        exact = self.vocab.get(token)
        if exact is not None:
            found.add(exact)
        if token.isalpha() and len(token) >= 4:
            _add_found(found, map(self._near.get, [token, *_deletes(token)]))
            pk = _phonetic_key(token)
            if pk:
                _add_found(found, (self._phonetic.get(pk),))
        result: dict[int, float] = {}
        for v in found:
            sim = _token_similarity(token, self.tokens[v], False)
            if sim >= min_similarity:
                result[v] = sim
        return result

    def credit_rows(self, key: tuple, credits: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding any vocabulary token of `credits` and, per row, the best
        credit found there (rows ascending, no repeats); cached under `key`."""
        found = self._rows_cache.get(key)
        if found is not None:
            return found
        flat, ends = self._posting_rows, self._posting_ends
        if not credits:
            found = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64))
        elif len(credits) == 1:
            v, c = next(iter(credits.items()))
            rows = flat[ends[v] : ends[v + 1]]  # ascending, unique
            found = (rows, np.full(len(rows), c))
        else:
            # Best credit first, then a stable sort by row: each row's first entry holds
            # its best credit.
            ranked = sorted(credits.items(), key=lambda x: -x[1])
            parts = [flat[ends[v] : ends[v + 1]] for v, _ in ranked]
            rows = np.concatenate(parts)
            cred = np.repeat(
                np.fromiter((c for _, c in ranked), dtype=np.float64, count=len(ranked)),
                [len(p) for p in parts],
            )
            order = np.argsort(rows, kind="stable")
            rows, cred = rows[order], cred[order]
            first = np.ones(len(rows), dtype=bool)
            first[1:] = rows[1:] != rows[:-1]
            found = (rows[first], cred[first])
        cache_store(self._rows_cache, key, found, ROWS_CACHE_LIMIT)
        return found

    def posting_rows(self, v: int) -> np.ndarray:
        """The rows holding vocabulary token `v` (ascending)."""
        return self._posting_rows[self._posting_ends[v] : self._posting_ends[v + 1]]

    def token_weight(self, token: str, role: str, matches: dict[int, float]) -> float:
        """Weight of a query token: rarity of what it matches, scaled by its role."""
        v = self.vocab.get(token)
        if v is not None:
            idf = self.idf[v]
        elif matches:
            best = max(matches, key=matches.__getitem__)
            idf = self.idf[best]
        else:
            idf = self.max_idf
        return idf * ROLE_FACTORS.get(role, 1.0)

    def listed_weight(self, v: int, role: str) -> float:
        return self.idf[v] * ROLE_FACTORS.get(role, 1.0)

    # ------------------------------------------------------------------ stats

    def stats(self) -> dict[str, int]:
        return {
            "entities": len(self.entities),
            "name_rows": len(self.rows),
            "vocabulary": len(self.tokens),
            "delete_keys": self._delete_keys,
            "phonetic_keys": len(self._phonetic),
        }
