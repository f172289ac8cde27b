"""Batch screening: many queries at once, exactly the results of one search per query.

Business rule: a batch must give every query exactly what `Matcher.search` gives it
(matches, scores, explanations). Most customer names match nothing; the batch path shows
that for most of them with the matcher's own score bounds, computed for the whole batch
at once instead of query by query:

1. query side (`_query_side_rows`): each reading's query-coverage bound per listed row,
   with `Matcher._query_side`'s prefix filtering, for every (reading, row) pair of the
   batch in one sort -- a superset of the rows `_query_side` keeps;
2. both sides (`_listed_side_rows`): the bound of `Matcher._bound_filter` (every query
   token and every listed token takes its best partner) for every pair left, rows wider
   than the bound arrays included.

Both bounds only ever over-estimate an alignment's score. A query none of whose readings
keeps a row has no match (`search` would return `[]`); the others are finished by
`Matcher.search` given those candidates (the rest of it: bound, alignment, qualifiers,
explanations) on the rows kept, so a row dropped here is one `search` could not have
matched, and a row kept here that `search` would have dropped scores below the floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from screening.matching.index import cache_store, gc_paused
from screening.matching.normalize import INITIAL, NameForm, NormalizedName, normalize_name
from screening.matching.scoring import (
    INITIAL_CREDIT,
    MIDDLE_FACTOR,
    QUERY_SHARE,
    QueryForm,
    _credits,
    credit_of,
    min_query_coverage,
)
from screening.matching.similarity import INITIAL_SIMILARITY

if TYPE_CHECKING:
    from screening.matching.engine import Match, Matcher

# Readings per vectorised step: bounds the size of the (reading, row) arrays.
READINGS_PER_STEP = 1024
# The vectorised sums add the same terms in another order than `_query_side`: a row is
# dropped only when it misses the need by more than float rounding could explain.
QUERY_SIDE_SLACK = 1e-6
TOKEN_CACHE_LIMIT = 100_000  # words and glued pairs each (bounded memory)

_Credits = tuple[np.ndarray, np.ndarray]  # vocabulary ids ascending, their credits


class _Term:
    """What one query word (or glued pair of words) brings to the bounds: the rows it
    matches with the best credit per row, and its credit per vocabulary id."""

    __slots__ = ("rows", "cred", "best", "lettered", "credits", "_arrays", "_initial")

    def __init__(self, rows: np.ndarray, cred: np.ndarray, credits: dict[int, float],
                 lettered: bool) -> None:
        self.rows = rows
        self.cred = cred
        self.best = max(credits.values())
        self.lettered = lettered  # some of the rows hold one-letter tokens
        self.credits = credits
        self._arrays: _Credits | None = None
        self._initial: tuple[np.ndarray, np.ndarray] | None = None

    def initial_rows(self, row_initial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, credits) of the rows with one-letter tokens (a few percent of the
        rows: kept once computed)."""
        if self._initial is None:
            mask = row_initial[self.rows]
            self._initial = (self.rows[mask], self.cred[mask])
        return self._initial

    def arrays(self) -> _Credits:
        if self._arrays is None:
            c = self.credits
            ids = np.fromiter(c.keys(), dtype=np.int64, count=len(c))
            vals = np.fromiter(c.values(), dtype=np.float64, count=len(c))
            order = np.argsort(ids)
            self._arrays = (ids[order], vals[order])
        return self._arrays


def _term(matcher: Matcher, key: tuple, credits: dict[int, float]) -> _Term | None:
    if not credits:
        return None
    rows, cred = matcher.index.credit_rows(key, credits)
    return _Term(rows, cred, credits, bool(matcher.index.row_initial[rows].any()))


_Letter = tuple[int, bool, float]  # letter 0-25, only a listed initial takes it, credit


def _token_term(matcher: Matcher, tok: str, role: str, abjad: bool, raw: str,
                cache: dict) -> tuple[float, float, _Term | None, _Letter | None]:
    """Weight, fixed credit (initials), term and first letter (what a one-letter listed
    token with it may credit) of one query word, as `QueryForm.prepare` and
    `Matcher._query_side` compute them (cached per word)."""
    key = (tok, role, abjad, raw)
    found = cache.get(key)
    if found is not None:
        return found
    index = matcher.index
    letter = ((ord(tok[0]) - 65, role != INITIAL,
               credit_of(1.0 if len(tok) == 1 else INITIAL_SIMILARITY, abjad))
              if "A" <= tok[:1] <= "Z" else None)
    if role == INITIAL:
        weight = index.token_weight(tok, role, {})
        found = (weight, weight * INITIAL_CREDIT[abjad], None, letter)
    else:
        matches = index.lookup(tok, True) if abjad else index.lookup_spelled(tok, raw)
        weight = index.token_weight(tok, role, matches)
        found = (weight, 0.0, _term(matcher, (tok, abjad, raw),
                                    _credits(index, (tok, abjad, raw), matches, abjad)),
                 letter)
    cache_store(cache, key, found, TOKEN_CACHE_LIMIT)
    return found


def _glued_term(matcher: Matcher, pair: str, abjad: bool, cache: dict) -> _Term | None:
    """The term of a glued query pair, as `_query_side` gets it (cached per pair)."""
    key = (pair, abjad)
    found = cache.get(key, False)
    if found is not False:
        return found
    index = matcher.index
    found = _term(matcher, (pair, abjad, None),
                  _credits(index, (pair, abjad, None), index.lookup_glued(pair, abjad),
                           abjad))
    cache_store(cache, key, found, TOKEN_CACHE_LIMIT)
    return found


class _Reading:
    """One reading of one query, prepared for the bounds."""

    __slots__ = ("query", "form", "need", "fixed", "letters", "terms", "open", "w_min",
                 "weights", "init_credit", "token_terms", "glued_terms", "settled",
                 "gather", "light", "light_reach")

    def __init__(self, query: int, form: NameForm) -> None:
        self.query = query
        self.form = form
        self.need = 0.0
        self.fixed = 0.0
        # (position, letter 0-25, only a listed initial takes it, credit) per word that a
        # one-letter listed token with its first letter may credit
        self.letters: list[tuple[int, int, bool, float]] = []
        self.terms: list[tuple[float, _Term]] = []  # (weight, term): words, glued pairs
        self.open = False  # no bound applies: the query goes to the full search
        self.settled = False  # no row can reach the need (known without the rows)
        self.w_min = 0.0
        self.weights: list[float] = []
        self.init_credit = 0.0  # best credit a query initial gives any listed token
        self.token_terms: list[tuple[int, _Term]] = []  # (position, term)
        self.glued_terms: list[tuple[int, _Term]] = []
        # Prefix filtering: a row none of the `gather` terms matches gets at most
        # `fixed` + `light_reach` from the `light` ones, which misses the need (unless it
        # holds one-letter tokens).
        self.gather: list[tuple[float, _Term]] = []
        self.light: list[tuple[float, _Term]] = []
        self.light_reach = 0.0


def _reading(matcher: Matcher, qi: int, form: NameForm, min_qcov: float,
             tokens: dict, pairs: dict) -> _Reading:
    r = _Reading(qi, form)
    toks, roles, abjad = form.tokens, form.roles, form.abjad
    raw = form.raw or toks
    n = len(toks)
    weights = []
    w_min = 0.0
    for i in range(n):
        w, fixed, term, letter = _token_term(matcher, toks[i], roles[i], abjad[i], raw[i],
                                             tokens)
        weights.append(w)
        w_min += w * (MIDDLE_FACTOR if 0 < i < n - 1 else 1.0)
        if fixed:
            r.fixed += fixed
            r.init_credit = max(r.init_credit, INITIAL_CREDIT[abjad[i]])
        if term is not None:
            r.terms.append((w, term))
            r.token_terms.append((i, term))
        if letter is not None:
            # what a one-letter listed token with this word's first letter may credit it
            r.letters.append((i, *letter))
    for i in range(n - 1):
        if not toks[i].isalpha():
            continue
        term = _glued_term(matcher, toks[i] + toks[i + 1], abjad[i], pairs)
        if term is not None:
            r.terms.append((weights[i] + weights[i + 1], term))
            r.glued_terms.append((i, term))
    r.need = min_qcov * w_min
    r.w_min = w_min
    r.weights = weights
    if not w_min:
        r.open = True  # `_query_side` keeps every gathered row: no bound to apply
        return r
    # A row's query-side bound is `fixed` plus, per term matching it, weight x credit
    # (at most the term's best): heaviest terms first, the rest cannot reach the need.
    reach = sorted(((w * t.best, w, t) for w, t in r.terms), key=lambda x: -x[0])
    rest = r.fixed + sum(x[0] for x in reach)
    for best, w, t in reach:
        if rest >= r.need - QUERY_SIDE_SLACK:
            r.gather.append((w, t))
        else:
            r.light.append((w, t))
            r.light_reach += best
        rest -= best
    r.settled = not r.gather and not any(t.lettered for _, t in r.light)
    return r


def _query_side_rows(matcher: Matcher, readings: Sequence[_Reading]
                     ) -> list[np.ndarray]:
    """Per reading, the rows whose query-side bound reaches its need (ascending); a
    superset of what `Matcher._query_side` returns for it (the same bound, over every
    row its gathering terms match)."""
    index = matcher.index
    row_initial = index.row_initial
    n_rows = max(len(index.rows), 1)
    empty = np.zeros(0, dtype=np.int64)

    def entries(parts: list[tuple[int, float, np.ndarray, np.ndarray]]
                ) -> tuple[np.ndarray, np.ndarray]:
        # (reading * n_rows + row, weight x credit) of each (reading, term row)
        if not parts:
            return empty, np.zeros(0)
        counts = np.asarray([len(p[2]) for p in parts], dtype=np.int64)
        reading_of = np.repeat(np.asarray([p[0] for p in parts], dtype=np.int64), counts)
        keys = reading_of * n_rows + np.concatenate([p[2] for p in parts]).astype(np.int64)
        vals = (np.repeat(np.asarray([p[1] for p in parts]), counts)
                * np.concatenate([p[3] for p in parts]))
        return keys, vals

    gathered: list[tuple[int, float, np.ndarray, np.ndarray]] = []
    for k, r in enumerate(readings):
        for w, t in r.gather:
            gathered.append((k, w, t.rows, t.cred))
        for w, t in r.light:
            if t.lettered:
                # rows with one-letter tokens may get more than the light terms' reach
                gathered.append((k, w, *t.initial_rows(row_initial)))
    keys, vals = entries(gathered)
    if not len(keys):
        return [empty] * len(readings)
    uniq, inverse = np.unique(keys, return_inverse=True)
    got = np.bincount(inverse, weights=vals, minlength=len(uniq))
    rd = uniq // n_rows
    row = uniq - rd * n_rows
    got += np.asarray([r.fixed for r in readings])[rd]
    need = np.asarray([r.need for r in readings])[rd] - QUERY_SIDE_SLACK
    lettered = row_initial[row]
    if lettered.any():
        got[lettered] += _lettered_extra(matcher, readings, rd[lettered], row[lettered])
        # wider rows keep letters past the arrays: `_query_side` never drops them
        got[lettered & index.row_long[row]] = np.inf
    # Rows without one-letter tokens that only the light terms could lift over the need:
    # add what the light terms give them.
    reach = np.asarray([r.light_reach for r in readings])[rd]
    open_ = (got < need) & (got + reach >= need) & ~lettered
    if open_.any():
        # every row of the light terms: those with one-letter tokens are no target
        live = set(rd[open_].tolist())
        light = [(k, w, t.rows, t.cred) for k in sorted(live) for w, t in readings[k].light]
        l_keys, l_vals = entries(light)
        targets = uniq[open_]
        at = np.searchsorted(targets, l_keys)
        at[at == len(targets)] = 0
        hit = targets[at] == l_keys
        got[np.flatnonzero(open_)] += np.bincount(at[hit], weights=l_vals[hit],
                                                  minlength=len(targets))
    keep = got >= need
    rd, row = rd[keep], row[keep]
    bounds = np.searchsorted(rd, np.arange(len(readings) + 1))
    return [row[bounds[k]:bounds[k + 1]] for k in range(len(readings))]


def _letter_masks(matcher: Matcher) -> tuple[np.ndarray, np.ndarray]:
    """Per row, a bit per letter of its one-letter tokens (within the bound arrays'
    width), for any such token and for those that are initials."""
    masks = matcher._batch_letter_masks
    if masks is None:
        index = matcher.index
        letters = index.row_letter.astype(np.int64)
        valid = letters < 26
        bits = np.where(valid, np.left_shift(1, np.minimum(letters, 25)), 0)
        masks = (np.bitwise_or.reduce(bits, axis=1),
                 np.bitwise_or.reduce(np.where(index.row_letter_initial, bits, 0), axis=1))
        matcher._batch_letter_masks = masks
    return masks


def _lettered_extra(matcher: Matcher, readings: Sequence[_Reading], rd: np.ndarray,
                    row: np.ndarray) -> np.ndarray:
    """What the one-letter tokens of each (reading, row) pair add to the query-side
    bound, exactly as `Matcher._query_side` adds it: every query word whose first letter
    one of the row's one-letter tokens has (an initial's, unless the word is one)."""
    any_mask, init_mask = _letter_masks(matcher)
    counts = np.asarray([len(r.letters) for r in readings], dtype=np.int64)
    flat = [x for r in readings for x in r.letters]
    if not flat:
        return np.zeros(len(rd))
    letter = np.asarray([x[1] for x in flat], dtype=np.int64)
    strict = np.asarray([x[2] for x in flat], dtype=bool)
    credit = np.asarray([r.weights[x[0]] * x[3] for r in readings for x in r.letters])
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    per_pair = counts[rd]
    pair = np.repeat(np.arange(len(rd)), per_pair)
    # position of each expanded entry among its reading's words
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    word = np.repeat(starts[rd], per_pair) + offset
    mask = np.where(strict[word], init_mask[row[pair]], any_mask[row[pair]])
    hit = (mask >> letter[word]) & 1
    return np.bincount(pair, weights=credit[word] * hit, minlength=len(rd))


def _expand(counts: np.ndarray, starts: np.ndarray, owner: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each item of `owner` (a reading per pair), one entry per element of that
    reading's run (`starts`, `counts`): (item index, element index) per entry."""
    per = counts[owner]
    item = np.repeat(np.arange(len(owner)), per)
    offset = np.arange(len(item)) - np.repeat(np.cumsum(per) - per, per)
    return item, np.repeat(starts[owner], per) + offset


class _RowArrays:
    """Per-row token arrays for the listed-side bound, padded to one width: the
    matcher's bound arrays (width `BOUND_WIDTH`) or a wider copy for the few rows longer
    than that."""

    __slots__ = ("vocab", "glued", "w", "w_min_sum", "letter", "letter_initial")

    def __init__(self, vocab, glued, w, w_min_sum, letter, letter_initial) -> None:
        self.vocab = vocab
        self.glued = glued
        self.w = w
        self.w_min_sum = w_min_sum
        self.letter = letter
        self.letter_initial = letter_initial


def _row_arrays(matcher: Matcher) -> tuple[_RowArrays, _RowArrays, np.ndarray]:
    """(arrays of every row, full-width arrays of the wide rows, position of each row
    among the wide rows), built once per matcher."""
    found = matcher._batch_row_arrays
    if found is not None:
        return found
    index = matcher.index
    narrow = _RowArrays(index.row_vocab.astype(np.int64), index.row_glued.astype(np.int64),
                        index.row_w.astype(np.float64),
                        np.asarray(index.row_w_min_sum or [0.0]), index.row_letter,
                        index.row_letter_initial)
    wide_rows = np.flatnonzero(index.row_long)
    width = max((len(index.rows[r].vocab) for r in wide_rows), default=1)
    pad = len(index.tokens)
    n = max(len(wide_rows), 1)
    wide = _RowArrays(np.full((n, width), pad, dtype=np.int64),
                      np.full((n, width), pad, dtype=np.int64), np.zeros((n, width)),
                      np.zeros(n), np.full((n, width), 26, dtype=np.int8),
                      np.zeros((n, width), dtype=bool))
    for at, rid in enumerate(wide_rows.tolist()):
        row = index.rows[rid]
        m = len(row.vocab)
        wide.vocab[at, :m] = row.vocab
        wide.glued[at, :m - 1] = row.glued
        wide.w[at, :m] = index.row_weights[rid]
        wide.w_min_sum[at] = index.row_w_min_sum[rid]
        for j, t in enumerate(row.form.tokens):
            if len(t) == 1 and "A" <= t <= "Z":
                wide.letter[at, j] = ord(t) - 65
                wide.letter_initial[at, j] = row.form.roles[j] == INITIAL
    position = np.zeros(max(len(index.rows), 1), dtype=np.int64)
    position[wide_rows] = np.arange(len(wide_rows))
    found = matcher._batch_row_arrays = (narrow, wide, position)
    return found


class _CreditTable:
    """Every word's and glued pair's credits of a step in one sorted array (key: term *
    stride + vocabulary id), looked up many at a time."""

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self._term_of: dict[int, int] = {}
        self._keys: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self.keys = np.zeros(1, dtype=np.int64)
        self.vals = np.zeros(1)

    def term(self, term: _Term) -> int:
        t = self._term_of.get(id(term))
        if t is None:
            t = self._term_of[id(term)] = len(self._keys)
            ids, vals = term.arrays()
            self._keys.append(ids + t * self.stride)
            self._vals.append(vals)
        return t

    def freeze(self) -> None:
        if self._keys:
            self.keys = np.concatenate(self._keys)
            self.vals = np.concatenate(self._vals)

    def credit(self, terms: np.ndarray, ids: np.ndarray) -> np.ndarray:
        want = terms[:, None] * self.stride + ids
        at = np.searchsorted(self.keys, want)
        at[at == len(self.keys)] = 0
        return np.where(self.keys[at] == want, self.vals[at], 0.0)


def _listed_side_rows(matcher: Matcher, readings: Sequence[_Reading],
                      rows_of: Sequence[np.ndarray], floors: np.ndarray
                      ) -> list[np.ndarray]:
    """Per reading, the rows (of `rows_of`) whose name-score bound reaches the floor;
    the bound of `Matcher._bound_filter` (every query token and every listed token takes
    its best partner), for all (reading, row) pairs of the batch at once."""
    from screening.matching.engine import BOUND_SLACK

    index = matcher.index
    counts = np.asarray([len(x) for x in rows_of], dtype=np.int64)
    if not counts.sum():
        return list(rows_of)
    p_rd = np.repeat(np.arange(len(readings)), counts)
    p_row = np.concatenate(rows_of).astype(np.int64)
    table = _CreditTable(len(index.tokens) + 1)  # the padding id is never a key
    tok = ([], [], [])  # reading, word position, term
    glu = ([], [], [])
    let = ([], [], [], [], [])  # reading, position, letter, strict, credit
    for k, r in enumerate(readings):
        for i, c in r.token_terms:
            tok[0].append(k)
            tok[1].append(i)
            tok[2].append(table.term(c))
        for i, c in r.glued_terms:
            glu[0].append(k)
            glu[1].append(i)
            glu[2].append(table.term(c))
        for x in r.letters:
            let[0].append(k)
            for f, v in zip(let[1:], x, strict=True):
                f.append(v)
    table.freeze()
    runs = {}
    for name, part in (("tok", tok), ("glu", glu), ("let", let)):
        c = np.bincount(np.asarray(part[0], dtype=np.int64), minlength=len(readings))
        runs[name] = (c, np.concatenate(([0], np.cumsum(c)[:-1])),
                      [np.asarray(v) for v in part[1:]])
    width = max(len(r.weights) for r in readings)
    weights = np.zeros((len(readings), width))
    for k, r in enumerate(readings):
        weights[k, :len(r.weights)] = r.weights
    fixed = np.asarray([r.fixed for r in readings])
    w_min = np.asarray([max(r.w_min, 1e-9) for r in readings])
    init_credit = np.asarray([r.init_credit for r in readings])

    def bound(p_rd: np.ndarray, at: np.ndarray, arrays: _RowArrays,
              lettered: np.ndarray) -> np.ndarray:
        q_best = np.zeros((len(p_rd), width))
        listed = np.repeat(init_credit[p_rd][:, None], arrays.vocab.shape[1], axis=1)
        counts, starts, (slot_of, term_of) = runs["tok"]
        if len(slot_of):
            pair, ent = _expand(counts, starts, p_rd)
            rows, terms = at[pair], term_of[ent]
            s_tok = table.credit(terms, arrays.vocab[rows])
            s_glu = table.credit(terms, arrays.glued[rows])
            q_best[pair, slot_of[ent]] = np.maximum(s_tok.max(axis=1), s_glu.max(axis=1))
            s_tok = np.maximum(s_tok, s_glu)
            s_tok[:, 1:] = np.maximum(s_tok[:, 1:], s_glu[:, :-1])
            np.maximum.at(listed, pair, s_tok)
        counts, starts, (slot_of, term_of) = runs["glu"]
        if len(slot_of):
            pair, ent = _expand(counts, starts, p_rd)
            s_pair = table.credit(term_of[ent], arrays.vocab[at[pair]])
            best = s_pair.max(axis=1)
            slot = slot_of[ent]
            # a glued pair covers both of its words (at most one pair starts at a word)
            q_best[pair, slot] = np.maximum(q_best[pair, slot], best)
            q_best[pair, slot + 1] = np.maximum(q_best[pair, slot + 1], best)
            np.maximum.at(listed, pair, s_pair)
        counts, starts, (slot_of, letter_of, strict_of, credit_of_) = runs["let"]
        if len(slot_of) and lettered.any():
            # One-letter listed tokens, as `_bound_filter` bounds them: a query word
            # takes one with its first letter (an initial's, unless the word is one).
            where = np.flatnonzero(lettered)
            pair, ent = _expand(counts, starts, p_rd[where])
            pair = where[pair]
            rows, slot = at[pair], slot_of[ent]
            hit = arrays.letter[rows] == letter_of[ent][:, None]
            hit &= arrays.letter_initial[rows] | ~strict_of[ent][:, None]
            s_let = np.where(hit, credit_of_[ent][:, None], 0.0)
            q_best[pair, slot] = np.maximum(q_best[pair, slot], s_let.max(axis=1))
            np.maximum.at(listed, pair, s_let)
        qcov = np.minimum(1.0, ((weights[p_rd] * q_best).sum(axis=1) + fixed[p_rd])
                          / w_min[p_rd])
        denom = np.maximum(arrays.w_min_sum[at], 1e-9)
        ncov = np.minimum(1.0, (arrays.w[at] * listed).sum(axis=1) / denom)
        return 100.0 * (QUERY_SHARE * qcov + (1.0 - QUERY_SHARE) * ncov)

    narrow, wide, position = _row_arrays(matcher)
    long_ = index.row_long[p_row]
    lettered = index.row_initial[p_row]
    keep = np.zeros(len(p_rd), dtype=bool)
    for part, arrays, at in ((~long_, narrow, p_row), (long_, wide, position[p_row])):
        if part.any():
            b = bound(p_rd[part], at[part], arrays, lettered[part])
            keep[part] = b >= floors[p_rd[part]] - BOUND_SLACK
    p_rd, p_row = p_rd[keep], p_row[keep]
    cut = np.searchsorted(p_rd, np.arange(len(readings) + 1))
    return [p_row[cut[k]:cut[k + 1]] for k in range(len(readings))]


def _name_floor(matcher: Matcher, query: dict) -> float:
    return matcher.name_floor(dob=query.get("dob"), country=query.get("country"),
                              identifiers=query.get("identifiers") or (),
                              lists=query.get("lists"), threshold=query.get("threshold"),
                              use=query.get("use", "onboarding"))


def search_many(matcher: Matcher, queries: Sequence[dict],
                normalized: Sequence[NormalizedName] | None = None) -> list[list[Match]]:
    """`matcher.search(**query)` for each query, in order (see the module docstring).
    `normalized`, when given, holds each query's `normalize_name(query["name"])`."""
    with gc_paused():  # the matcher's caches: see gc_paused
        return _search_many(matcher, queries, normalized)


def _search_many(matcher: Matcher, queries: Sequence[dict],
                 normalized: Sequence[NormalizedName] | None) -> list[list[Match]]:
    tokens = matcher._batch_tokens
    pairs = matcher._batch_pairs
    out: list[list[Match]] = [[] for _ in queries]
    readings: list[_Reading] = []
    floors: list[float] = []
    nns: list[NormalizedName] = []
    for qi, query in enumerate(queries):
        nn = (normalized[qi] if normalized is not None
              else query.get("normalized") or normalize_name(query["name"]))
        nns.append(nn)
        name_floor = _name_floor(matcher, query)
        floors.append(name_floor)
        min_qcov = min_query_coverage(name_floor)
        for form in matcher._with_split_forms(nn.forms):
            readings.append(_reading(matcher, qi, form, min_qcov, tokens, pairs))
    # Bounds, a step of readings at a time; each reading keeps its candidate rows.
    rows_of: list[np.ndarray | None] = [None] * len(readings)  # None: open reading
    empty = np.zeros(0, dtype=np.int64)
    floor_of = np.asarray(floors)
    for lo in range(0, len(readings), READINGS_PER_STEP):
        step = []
        for k in range(lo, min(lo + READINGS_PER_STEP, len(readings))):
            r = readings[k]
            if r.settled:
                rows_of[k] = empty
            elif not r.open:
                step.append(k)
        found = _query_side_rows(matcher, [readings[k] for k in step])
        live = [k for k, rows in zip(step, found, strict=True) if len(rows)]
        for k in step:
            rows_of[k] = empty
        if live:
            found = [f for f in found if len(f)]
            found = _listed_side_rows(matcher, [readings[k] for k in live], found,
                                      floor_of[[readings[k].query for k in live]])
            for k, rows in zip(live, found, strict=True):
                rows_of[k] = rows
    # A query whose readings all lost every row matches nothing; the others are aligned
    # on their candidate rows (an open reading: the full search).
    by_query: dict[int, list[int]] = {}
    for k, r in enumerate(readings):
        by_query.setdefault(r.query, []).append(k)
    index = matcher.index
    for qi, ks in by_query.items():
        if all(rows_of[k] is not None and not len(rows_of[k]) for k in ks):
            continue
        query = queries[qi]
        kwargs = {key: v for key, v in query.items() if key != "normalized"}
        if any(rows_of[k] is None for k in ks):
            out[qi] = matcher.search(**kwargs, normalized=nns[qi])
            continue
        candidates = [(QueryForm.prepare(index, readings[k].form), rows_of[k].tolist())
                      for k in ks]
        out[qi] = matcher.search(**kwargs, normalized=nns[qi], candidates=candidates)
    return out
