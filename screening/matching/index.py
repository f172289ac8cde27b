"""In-memory matcher index over listed names, with candidate retrieval.

Business rule: a query is compared in detail only with the listed names that share at
least one sufficiently similar token with it (same token, same variant key, one edit away,
same sound, same consonant skeleton, or a glued/split form), never with every listed name.
Token weights come from how rare a token is on the lists: a rare surname is strong evidence,
a common first name or particle is weak.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np

from screening.lists.records import ListedEntity
from screening.matching.normalize import (
    INITIAL,
    NORMAL,
    ORG_FORM,
    PARTICLE,
    NameForm,
    abjad_listed_form,
    abjad_query_form,
    normalize_name,
    skeleton,
)
from screening.matching.similarity import phonetic_key, token_similarity

MIN_TOKEN_SIMILARITY = 0.75
# Glued/split tokens must be near-identical: concatenations create chance resemblances.
GLUED_LOOKUP_MIN = 0.92
BOUND_WIDTH = 8  # tokens per row kept in the vectorised score bound
ROLE_FACTORS: dict[str, float] = {NORMAL: 1.0, PARTICLE: 0.25, ORG_FORM: 0.15, INITIAL: 0.35}


@dataclass(frozen=True, slots=True)
class NameRow:
    """One reading of one listed name, as indexed."""

    rid: int  # position in MatcherIndex.rows
    entity: int  # position in MatcherIndex.entities
    name_index: int  # position in the entity's names
    form: NameForm
    vocab: tuple[int, ...]  # vocab id per token
    glued: tuple[int, ...]  # vocab id per adjacent token pair, glued


def _deletes(token: str) -> list[str]:
    return [token[:i] + token[i + 1:] for i in range(len(token))]


def _grams(token: str) -> set[str]:
    padded = f"^{token}$"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


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

        for entity in entities:
            e = len(self.entities)
            self.entities.append(entity)
            for ni, listed in enumerate(entity.names):
                normalized = normalize_name(listed.name)
                for form in normalized.forms:
                    r = len(self.rows)
                    vocab = tuple(vid(t) for t in form.tokens)
                    glued = tuple(vid(a + b) for a, b in zip(form.tokens, form.tokens[1:],
                                                               strict=False))
                    real.update(vocab)
                    for v in set(vocab):
                        postings[v].append(r)
                        df[v] += 1
                    for v in set(glued) - set(vocab):
                        postings[v].append(r)
                    self.rows.append(NameRow(r, e, ni, form, vocab, glued))

        n_rows = max(len(self.rows), 1)
        self.postings: list[array] = [array("i", p) for p in postings]
        # idf: log-scaled rarity; glued pseudo-tokens (df 0) get the rare-token weight.
        self.idf: list[float] = [
            math.log(1.0 + n_rows / (d if d else 1.0)) for d in df
        ]
        self.max_idf = math.log(1.0 + n_rows)
        idf, factors = self.idf, ROLE_FACTORS
        self.row_weights: list[tuple[float, ...]] = [
            tuple([idf[v] * factors.get(role, 1.0)
                   for v, role in zip(row.vocab, row.form.roles, strict=True)])
            for row in self.rows
        ]
        self._deletes: dict[str, list[int]] = defaultdict(list)
        self._phonetic: dict[str, list[int]] = defaultdict(list)
        self._skeleton: dict[str, list[int]] = defaultdict(list)
        self._abjad_form: dict[str, list[int]] = defaultdict(list)
        self._grams: dict[str, list[int]] = defaultdict(list)
        # Local names: this loop runs over the whole vocabulary at every build.
        deletes, phonetic, skeletons = self._deletes, self._phonetic, self._skeleton
        abjad_forms, grams = self._abjad_form, self._grams
        for v, token in enumerate(self.tokens):
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
            sk = skeleton(token)
            if sk:
                skeletons[sk].append(v)
            abjad_forms[abjad_listed_form(token)].append(v)
            if len(token) >= 5:
                for g in _grams(token):
                    grams[g].append(v)
        self._lookup_cache: dict[tuple[str, bool], dict[int, float]] = {}
        self._glued_cache: dict[tuple[str, bool], dict[int, float]] = {}
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
        # rows with an initial: the bound does not model initials, they are always aligned
        self.row_initial = np.zeros(max(n, 1), dtype=bool)
        for r, row in enumerate(self.rows):
            w = self.row_weights[r]
            m = len(w)
            self.row_long[r] = m > k
            self.row_initial[r] = INITIAL in row.form.roles
            for j in range(min(m, k)):
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
                found.update(self._deletes.get(token, ()))
                for d in _deletes(token):
                    found.update(self._deletes.get(d, ()))
                    v = self.vocab.get(d)
                    if v is not None:
                        found.add(v)
            elif len(token) >= 3:
                for d in _deletes(token):
                    v = self.vocab.get(d)
                    if v is not None:
                        found.add(v)
            pk = phonetic_key(token)
            if pk:
                found.update(self._phonetic.get(pk, ()))
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
            sim = token_similarity(token, self.tokens[v], abjad)
            if sim >= MIN_TOKEN_SIMILARITY:
                result[v] = sim
        if len(self._lookup_cache) > 300_000:
            self._lookup_cache.clear()
        self._lookup_cache[key] = result
        return result

    def lookup_glued(self, token: str, abjad: bool = False,
                     min_similarity: float = GLUED_LOOKUP_MIN) -> dict[int, float]:
        """Vocabulary tokens near-identical to a glued query pair (JOHN+SMITH ->
        JOHNSMITH): exact, one edit or same sound; only similarities >= `min_similarity`
        (scoring ignores glued pairs below it, so weaker ones would only add candidates)."""
        key = (token, abjad)
        cached = self._glued_cache.get(key)
        if cached is not None:
            return cached
        if abjad:
            # Abjad pairs need the skeleton keys of the full lookup.
            result = {v: s for v, s in self.lookup(token, abjad).items()
                      if s >= min_similarity}
        else:
            result = self._glued_latin(token, min_similarity)
        if len(self._glued_cache) > 300_000:
            self._glued_cache.clear()
        self._glued_cache[key] = result
        return result

    def _glued_latin(self, token: str, min_similarity: float) -> dict[int, float]:
        found: set[int] = set()
        exact = self.vocab.get(token)
        if exact is not None:
            found.add(exact)
        if token.isalpha() and len(token) >= 4:
            deletes = self._deletes
            vocab = self.vocab
            found.update(deletes.get(token, ()))
            for d in _deletes(token):
                hit = deletes.get(d)
                if hit:
                    found.update(hit)
                v = vocab.get(d)
                if v is not None:
                    found.add(v)
            pk = phonetic_key(token)
            if pk:
                found.update(self._phonetic.get(pk, ()))
        result: dict[int, float] = {}
        for v in found:
            sim = token_similarity(token, self.tokens[v], False)
            if sim >= min_similarity:
                result[v] = sim
        return result

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
            "delete_keys": len(self._deletes),
            "phonetic_keys": len(self._phonetic),
        }
