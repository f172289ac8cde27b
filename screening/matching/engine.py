"""The matcher: candidate retrieval, scoring, qualifiers and explanations in one call.

Business rule: a query returns every listed entity whose best name scores at or above the
threshold that applies (per list and per use), best first, each with its explanation and
the OFAC-parity score; identical input against the same index and configuration always
gives the same result (so a logged query can be reproduced).
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import repeat

import numpy as np

from screening.lists.records import ListedEntity
from screening.matching.index import (
    LOOKUP_CACHE_LIMIT,
    MIN_TOKEN_SIMILARITY,
    MatcherIndex,
    cache_store,
    gc_paused,
)
from screening.matching.normalize import (
    INITIAL,
    ORG_FORM,
    NameForm,
    NormalizedName,
    fold_token,
    normalize_name,
)
from screening.matching.ofac import ofac_score
from screening.matching.scoring import (
    COUNTRY_MATCH,
    DOB_EXACT,
    IDENTIFIER_MATCH,
    INITIAL_CREDIT,
    MIDDLE_FACTOR,
    QUERY_SHARE,
    Alignment,
    QueryForm,
    align,
    credit_of,
    explain,
    min_query_coverage,
    qualifier_effects,
)
from screening.matching.similarity import INITIAL_SIMILARITY, token_similarity
from screening.matching.tables import HONORIFICS, ORG_FORMS, PARTICLES

ALGORITHM_VERSION = "vigil-match/1.4"
DEFAULT_THRESHOLD = 85.0
VECTOR_BOUND_MIN_ROWS = 48  # below this many candidates, a pure-Python bound is cheaper
BOUND_SLACK = 1e-3  # float32 rounding of the vectorised bound must never drop a row
WEAK_ALIAS_PENALTY = -10.0


@dataclass(frozen=True)
class MatcherConfig:
    """Thresholds and limits of the matcher; logged with every query."""

    threshold: float = DEFAULT_THRESHOLD
    # Per use: payments screening runs stricter (fewer alerts on a hot path).
    use_thresholds: dict[str, float] = field(
        default_factory=lambda: {"onboarding": DEFAULT_THRESHOLD, "payments": 88.0})
    # Per list overrides (list_code -> threshold), e.g. {"un": 83.0}.
    list_thresholds: dict[str, float] = field(default_factory=dict)
    max_results: int = 20

    def threshold_for(self, list_code: str, use: str = "onboarding") -> float:
        """List override first, then the use's threshold, then the default."""
        if list_code in self.list_thresholds:
            return self.list_thresholds[list_code]
        return self.use_thresholds.get(use, self.threshold)

    def as_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        raw = json.dumps({"algorithm": ALGORITHM_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Match:
    """One listed entity matched by a query."""

    entity: ListedEntity
    score: float
    name_score: float
    ofac_score: float
    matched_name: str
    matched_name_kind: str
    explanation: dict

    def as_dict(self) -> dict:
        e = self.entity
        return {
            "list": e.list_code,
            "entity_uid": e.uid,
            "entity_id": e.entity_id,
            "entity_type": e.entity_type,
            "primary_name": e.primary_name,
            "programs": list(e.programs),
            "score": round(self.score, 1),
            "name_score": round(self.name_score, 1),
            "ofac_score": round(self.ofac_score, 1),
            "matched_name": self.matched_name,
            "matched_name_kind": self.matched_name_kind,
            "content_hash": e.content_hash,
            "explanation": self.explanation,
        }


_LEGAL_WORDS = {"COMPANY": "CO", "LIMITED": "LTD", "CORPORATION": "CORP",
                "INCORPORATED": "INC", "ESTABLISHMENT": "EST"}


def _split_part(part: str, vocab: dict[str, int]) -> tuple[str, str] | None:
    """(folded token, role) of one half of a glued word, if the lists know it ("" with
    role "h" for an honorific, which is dropped as in normalisation)."""
    if part in HONORIFICS:
        return "", "h"
    if part in _LEGAL_WORDS:
        return _LEGAL_WORDS[part], ORG_FORM
    if part in ORG_FORMS and len(part) >= 2:
        return (part, ORG_FORM) if part in vocab else None
    if len(part) < 3 and part not in PARTICLES:
        return None
    folded = fold_token(part)
    if folded not in vocab:
        return None
    return folded, "p" if part in PARTICLES else "n"


def _split_token(raw: str, vocab: dict[str, int]) -> list[tuple[str, str]] | None:
    """Best split of a glued word (as written) into two parts the lists know: names of
    3+ letters, particles (AL), legal forms (SHIPPINGCOMPANY) or an honorific (dropped).
    The most balanced split wins."""
    best: list[tuple[str, str]] | None = None
    best_gap = 0
    for k in range(2, len(raw) - 1):
        a, b = _split_part(raw[:k], vocab), _split_part(raw[k:], vocab)
        if a is None or b is None or a[1] == b[1] == "h":
            continue
        gap = abs(k - (len(raw) - k))
        if best is None or gap < best_gap:
            best, best_gap = [p for p in (a, b) if p[1] != "h"], gap
    return best


class Matcher:
    """An index plus a configuration; safe to share between threads for reading."""

    def __init__(self, entities: Iterable[ListedEntity],
                 config: MatcherConfig | None = None, *,
                 index: MatcherIndex | None = None) -> None:
        """A matcher over `entities`, or over an index already built from them (`index`,
        e.g. loaded by screening.index_store: `entities` is then not read)."""
        if index is None:
            with gc_paused():
                index = MatcherIndex(entities)
        self.index = index
        self.config = config or MatcherConfig()
        self.list_codes: set[str] = {e.list_code for e in self.index.entities}
        self._split_cache: dict[str, list[tuple[str, str]] | None] = {}
        # per-token terms of the batch path's query-side bound (screening.matching.batch)
        self._batch_tokens: dict[tuple, tuple] = {}
        self._batch_pairs: dict[tuple, tuple | None] = {}
        self._batch_letter_masks: tuple[np.ndarray, np.ndarray] | None = None
        self._batch_row_arrays: tuple | None = None
        self._entity_positions: dict[int, int] | None = None
        # +1: the padding id of short rows always reads similarity 0.
        self._sim_buffer = np.zeros(len(self.index.tokens) + 1, dtype=np.float32)

    # ------------------------------------------------------------------ retrieval

    def _query_side(self, q: QueryForm, min_query_coverage: float) -> np.ndarray:
        """Rows that can still reach `min_query_coverage` for one reading.

        Prefix filtering first (a row must match one of the heaviest query tokens whose
        weight the others cannot make up for), then the exact upper bound of each row's
        query coverage (every query token takes the best credit the row offers it),
        computed for all rows at once from cached per-token row arrays."""
        index = self.index
        n = len(q.weights)
        weights = q.weights
        w_min = sum(w * (MIDDLE_FACTOR if 0 < i < n - 1 else 1.0)
                    for i, w in enumerate(weights))
        need = min_query_coverage * w_min
        toks = q.form.tokens
        fixed = 0.0
        potential = [0.0] * n
        arrays: list[tuple[int, np.ndarray, np.ndarray]] = []
        for i, ci in enumerate(q.credits):
            if q.form.roles[i] == INITIAL:
                fixed += weights[i] * INITIAL_CREDIT[q.form.abjad[i]]
                potential[i] = weights[i] * INITIAL_CREDIT[q.form.abjad[i]]
            elif ci:
                raw = q.form.raw[i] if q.form.raw else toks[i]
                key = (toks[i], q.form.abjad[i], raw)
                rows, cred = index.credit_rows(key, ci)
                arrays.append((i, rows, cred, key))
                potential[i] = weights[i] * max(ci.values())
        glued = []
        for i, pair_credits in enumerate(q.glued_credits):
            if pair_credits:
                key = (toks[i] + toks[i + 1], q.form.abjad[i], None)
                rows, cred = index.credit_rows(key, pair_credits)
                glued.append((i, rows, cred, key))
        # Prefix filtering, as in `candidates`: rows matching none of the heaviest tokens
        # cannot reach the need with the others.
        gather: list[np.ndarray] = [rows for _, rows, _, _ in glued]
        rest = sum(potential)
        by_token = {i: rows for i, rows, _, _ in arrays}
        lettered_rows = index.row_initial
        for i in sorted(range(n), key=lambda k: -weights[k]):
            rows = by_token.get(i)
            if rest >= need - 1e-9:
                if rows is not None:
                    gather.append(rows)
            elif rows is not None:
                # A one-letter listed token may credit a heavier query word (J for JAMES)
                # that `potential` counted on its matches only: such rows stay.
                gather.append(rows[lettered_rows[rows]])
            rest -= potential[i]
        gather = [g for g in gather if len(g)]
        if not gather:
            return np.zeros(0, dtype=np.int64)
        # a glued pair may cover both of its tokens (on top of what they match alone: an
        # over-estimate, as a bound may be)
        terms = [(weights[i], rows, cred, key) for i, rows, cred, key in arrays]
        terms += [(weights[i] + weights[i + 1], rows, cred, key)
                  for i, rows, cred, key in glued]
        cand = np.unique(np.concatenate(gather)) if len(gather) > 1 else gather[0]
        if not w_min:
            return cand.astype(np.int64)
        got = np.full(len(cand), fixed)
        for w, rows, cred, _ in terms:
            # each row's credit for this token (rows ascending): binary search
            at = np.searchsorted(rows, cand)
            at[at == len(rows)] = 0
            got += np.where(rows[at] == cand, w * cred[at], 0.0)
        lettered = index.row_initial[cand]
        if lettered.any():
            # One-letter listed tokens give credit to query words starting with that
            # letter (not in the token matches): added on top, as a bound may.
            letters = index.row_letter[cand[lettered]]
            as_initial = index.row_letter_initial[cand[lettered]]
            extra = np.zeros(len(letters))
            for i, t in enumerate(toks):
                if not ("A" <= t[:1] <= "Z"):
                    continue
                hit = letters == (ord(t[0]) - 65)
                if q.form.roles[i] != INITIAL:
                    hit &= as_initial
                credit = credit_of(1.0 if len(t) == 1 else INITIAL_SIMILARITY, q.form.abjad[i])
                extra += weights[i] * credit * hit.any(axis=1)
            got[lettered] += extra
            # wider rows keep letters past the arrays: never dropped here
            got[lettered & index.row_long[cand]] = np.inf
        return cand[got >= need - 1e-9].astype(np.int64)

    def _with_split_forms(self, forms: tuple[NameForm, ...]) -> list[NameForm]:
        """Add a reading where an unknown long word is split into parts the lists know
        (MOHAMMEDBENHAMMEDI -> MUHAMAD BENHAMEDI, SHIPPINGCOMPANY -> SHIPING CO): names
        glued in customer records. The word is split as written, then each part folded."""
        out = list(forms)
        vocab = self.index.vocab
        for form in forms:
            raw = form.raw or form.tokens
            for i, tok in enumerate(form.tokens):
                word = raw[i]
                if (len(word) < 7 or tok in vocab or form.abjad[i] or not word.isalpha()):
                    continue
                parts = self._split_cache.get(word, False)
                if parts is False:
                    parts = _split_token(word, vocab)
                    cache_store(self._split_cache, word, parts, LOOKUP_CACHE_LIMIT)
                if parts is None:
                    continue
                out.append(NameForm(
                    tokens=(*form.tokens[:i], *(t for t, _ in parts), *form.tokens[i + 1:]),
                    roles=(*form.roles[:i], *(r for _, r in parts), *form.roles[i + 1:]),
                    abjad=(*form.abjad[:i], *(False for _ in parts), *form.abjad[i + 1:]),
                    reading=f"{form.reading}+split",
                    raw=(*raw[:i], *(t for t, _ in parts), *raw[i + 1:])))
                break
        return out

    def _row_bounds(self, q: QueryForm, rids: list[int], floor: float = 100.0
                    ) -> list[float]:
        """Upper bound of the name score of each row (few rows; pure Python).

        Relaxes the one-to-one alignment: every query token and every listed token takes
        its best partner's credit, and unmatched middle tokens the smaller weight; so it
        never under-estimates. A bound under `floor` may be returned without its listed
        side (still an upper bound, only less tight)."""
        index = self.index
        n = len(q.weights)
        weights = q.weights
        w_min = sum(w * (MIDDLE_FACTOR if 0 < i < n - 1 else 1.0)
                    for i, w in enumerate(weights))
        if not w_min:
            return [100.0] * len(rids)
        init: list[tuple[int, float]] = []
        tok: list[tuple[int, dict]] = []
        for i, ci in enumerate(q.credits):
            if q.form.roles[i] == INITIAL:
                init.append((i, INITIAL_CREDIT[q.form.abjad[i]]))
            elif ci:
                tok.append((i, ci))
        init_credit = max((c for _, c in init), default=0.0)
        pairs = [(i, gc) for i, gc in enumerate(q.glued_credits) if gc]
        rows, row_w, row_w_min, lettered = (index.rows, index.row_weights,
                                            index.row_w_min_sum, index.row_initial)
        zero = repeat(0.0)
        # The listed side can add at most this much: rows whose query side cannot reach
        # the floor even with it are settled without looking at their listed tokens.
        listed_full = 100.0 * (1.0 - QUERY_SHARE)
        q_scale = 100.0 * QUERY_SHARE
        init_fixed = sum(weights[i] * c for i, c in init)
        out: list[float] = []
        for rid in rids:
            row = rows[rid]
            vocab, glued = row.vocab, row.glued
            if not lettered[rid] and not pairs:
                ids = vocab + glued
                got = init_fixed
                for i, ci in tok:
                    got += weights[i] * max(map(ci.get, ids, zero))
                quick = q_scale * min(1.0, got / w_min) + listed_full
                if quick < floor:
                    out.append(quick)
                    continue
            m = len(vocab)
            best = [0.0] * n
            if lettered[rid]:
                # One-letter listed tokens: compare pair by pair exactly as `align` does.
                listed = [0.0] * m
                self._lettered_pairs(q, row, best, listed)
            else:
                for i, c in init:
                    best[i] = c
                listed = [init_credit] * m
            for i, ci in tok:
                get = ci.get
                sims = list(map(get, vocab, zero))
                gl = list(map(get, glued, zero)) if glued else ()
                top = max(sims)
                if gl:
                    g = max(gl)
                    if g > top:
                        top = g
                    for j, x in enumerate(gl):
                        if x > listed[j]:
                            listed[j] = x
                        if x > listed[j + 1]:
                            listed[j + 1] = x
                if top > best[i]:
                    best[i] = top
                for j, x in enumerate(sims):
                    if x > listed[j]:
                        listed[j] = x
            for i, pair_credits in pairs:
                sims = list(map(pair_credits.get, vocab, zero))
                x = max(sims)
                if x > best[i]:
                    best[i] = x
                if x > best[i + 1]:
                    best[i + 1] = x
                for j, y in enumerate(sims):
                    if y > listed[j]:
                        listed[j] = y
            qcov = sum(w * b for w, b in zip(weights, best, strict=True)) / w_min
            denom = row_w_min[rid]
            rcov = (sum(w * b for w, b in zip(row_w[rid], listed, strict=True)) / denom
                    if denom > 0 else 1.0)
            out.append(q_scale * min(1.0, qcov) + listed_full * min(1.0, rcov))
        return out

    @staticmethod
    def _lettered_pairs(q: QueryForm, row, best: list[float], listed: list[float]) -> None:
        """Best credit of every query token and listed token of a row holding one-letter
        tokens, pair by pair with `align`'s rules (initials compared as written)."""
        qt, qroles, qabjad = q.form.tokens, q.form.roles, q.form.abjad
        rt, rroles = row.form.tokens, row.form.roles
        for i, ci in enumerate(q.credits):
            q_initial = qroles[i] == INITIAL
            for j, v in enumerate(row.vocab):
                if q_initial or rroles[j] == INITIAL:
                    sim = token_similarity(qt[i], rt[j])
                    c = credit_of(sim, qabjad[i]) if sim >= MIN_TOKEN_SIMILARITY else 0.0
                else:
                    c = ci.get(v, 0.0)
                if c > best[i]:
                    best[i] = c
                if c > listed[j]:
                    listed[j] = c

    def _bound_filter(self, q: QueryForm, rows: set[int], name_floor: float) -> list[int]:
        """Drop rows whose name-score upper bound is below the floor (vectorised).

        The bound relaxes the one-to-one alignment: every token takes its best partner,
        and unmatched middle tokens get the smaller weight; so it never under-estimates.
        """
        index = self.index
        cand = np.fromiter(rows, dtype=np.int64, count=len(rows))
        rv = index.row_vocab[cand]
        rg = index.row_glued[cand]
        n, k = rv.shape
        listed_max = np.zeros((n, k), dtype=np.float32)
        q_max = np.zeros((len(q.weights), n), dtype=np.float32)

        buf = self._sim_buffer

        def sims(matches: dict[int, float], ids: np.ndarray) -> np.ndarray:
            # Dense lookup table over the vocabulary, filled and cleared per token.
            if not matches:
                return np.zeros(ids.shape, dtype=np.float32)
            keys = np.fromiter(matches.keys(), dtype=np.int64, count=len(matches))
            buf[keys] = np.fromiter(matches.values(), dtype=np.float32, count=len(matches))
            out = buf[ids]
            buf[keys] = 0.0
            return out

        for i, m in enumerate(q.credits):
            if q.form.roles[i] == INITIAL:
                c = INITIAL_CREDIT[q.form.abjad[i]]
                q_max[i] = c
                listed_max = np.maximum(listed_max, c)
                continue
            s_tok = sims(m, rv)
            s_glu = sims(m, rg)
            q_max[i] = np.maximum(s_tok.max(axis=1), s_glu.max(axis=1))
            listed_max = np.maximum(listed_max, s_tok)
            listed_max = np.maximum(listed_max, s_glu)
            listed_max[:, 1:] = np.maximum(listed_max[:, 1:], s_glu[:, :-1])
        for i, gm in enumerate(q.glued_credits):
            if not gm:
                continue
            s_pair = sims(gm, rv)
            best_pair = s_pair.max(axis=1)
            q_max[i] = np.maximum(q_max[i], best_pair)
            q_max[i + 1] = np.maximum(q_max[i + 1], best_pair)
            listed_max = np.maximum(listed_max, s_pair)
        lettered = index.row_initial[cand]
        if lettered.any():
            # One-letter listed tokens are compared as initials: a query token takes one
            # starting with that letter (0.8), an equal letter takes it whole.
            letters = index.row_letter[cand]
            as_initial = index.row_letter_initial[cand]
            for i, t in enumerate(q.form.tokens):
                if not ("A" <= t[:1] <= "Z"):
                    continue
                credit = credit_of(1.0 if len(t) == 1 else INITIAL_SIMILARITY,
                                   q.form.abjad[i])
                hit = letters == (ord(t[0]) - 65)
                if q.form.roles[i] != INITIAL:
                    hit &= as_initial
                s_let = np.where(hit, np.float32(credit), np.float32(0.0))
                q_max[i] = np.maximum(q_max[i], s_let.max(axis=1))
                listed_max = np.maximum(listed_max, s_let)
        w = np.asarray(q.weights, dtype=np.float32)
        nq = len(w)
        w_min = w.copy()
        if nq > 2:
            w_min[1:-1] *= MIDDLE_FACTOR
        qcov = np.minimum(1.0, (w[:, None] * q_max).sum(axis=0) / max(float(w_min.sum()), 1e-9))
        rw = index.row_w[cand]
        denom = index.row_w_min[cand].sum(axis=1)
        ncov = np.minimum(1.0, (rw * listed_max).sum(axis=1) / np.maximum(denom, 1e-9))
        ncov = np.where(index.row_long[cand], 1.0, ncov)
        bound = 100.0 * (QUERY_SHARE * qcov + (1.0 - QUERY_SHARE) * ncov)
        # A listed one-letter token may take any query word (0.8): not bounded.
        keep = bound >= name_floor - BOUND_SLACK
        long_rows = index.row_long[cand]
        if long_rows.any():
            # Rows wider than the arrays (their tail is not in them): one by one.
            wide = cand[long_rows].tolist()
            keep[long_rows] = (np.asarray(self._row_bounds(q, wide, name_floor))
                               >= name_floor - BOUND_SLACK)
        return cand[keep].tolist()

    # ------------------------------------------------------------------ search

    def name_floor(self, *, dob: str | None = None, country: str | None = None,
                   identifiers: tuple[tuple[str, str], ...] = (),
                   lists: Iterable[str] | None = None, threshold: float | None = None,
                   use: str = "onboarding") -> float:
        """The lowest name score that can still end at or above the applicable threshold
        (the qualifiers supplied may add their bonus)."""
        if threshold is not None:
            floor = threshold
        else:
            codes = set(lists) if lists else (self.list_codes or {""})
            floor = min(self.config.threshold_for(c, use) for c in codes)
        # Only qualifiers actually supplied can lift a weak name match over the threshold.
        bonus = ((DOB_EXACT if dob else 0.0) + (COUNTRY_MATCH if country else 0.0)
                 + (IDENTIFIER_MATCH if identifiers else 0.0))
        return floor - bonus

    def search_many(self, queries: list[dict],
                    normalized: list[NormalizedName] | None = None) -> list[list[Match]]:
        """`search(**query)` for each query, in order, exactly; much cheaper per query
        for names that match nothing (see `screening.matching.batch`)."""
        from screening.matching.batch import search_many

        return search_many(self, queries, normalized)

    def search(
        self,
        name: str,
        *,
        dob: str | None = None,
        country: str | None = None,
        entity_type: str | None = None,
        identifiers: tuple[tuple[str, str], ...] = (),
        lists: Iterable[str] | None = None,
        threshold: float | None = None,
        use: str = "onboarding",
        limit: int | None = None,
        normalized: NormalizedName | None = None,
        candidates: list[tuple[QueryForm, list[int]]] | None = None,
    ) -> list[Match]:
        """Ranked matches at or above the applicable threshold, with explanations.

        `candidates` is for the batch path (`screening.matching.batch`), which has already
        gathered each reading's candidate rows (any superset of those `_query_side`
        keeps): only the rest of the search (bounds, alignment, qualifiers) runs."""
        cfg = self.config
        index = self.index
        nn = normalized or normalize_name(name)
        list_set = set(lists) if lists else None
        name_floor = self.name_floor(dob=dob, country=country, identifiers=identifiers,
                                     lists=list_set, threshold=threshold, use=use)
        if candidates is None:
            min_qcov = min_query_coverage(name_floor)
            candidates = [(q, self._query_side(q, min_qcov).tolist())
                          for q in (QueryForm.prepare(index, f)
                                    for f in self._with_split_forms(nn.forms))]
        best: dict[int, Alignment] = {}
        for q, rows in candidates:
            if list_set is not None:
                rows = [r for r in rows
                        if index.entities[index.rows[r].entity].list_code in list_set]
            if len(rows) >= VECTOR_BOUND_MIN_ROWS:
                rows = self._bound_filter(q, set(rows), name_floor)
            else:
                rows = list(rows)
                bounds = self._row_bounds(q, rows, name_floor)
                rows = [r for r, b in zip(rows, bounds, strict=True)
                        if b >= name_floor - BOUND_SLACK]
            for rid in rows:
                row = index.rows[rid]
                a = align(index, q, row)
                if a.name_score < name_floor:
                    continue
                cur = best.get(row.entity)
                # Ties go to the entity's first name (lowest row): independent of the
                # order in which candidates were gathered.
                if cur is None or a.name_score > cur.name_score or (
                        a.name_score == cur.name_score and rid < cur.row.rid):
                    best[row.entity] = a
        results: list[Match] = []
        for e, a in best.items():
            entity = index.entities[e]
            effects = qualifier_effects(entity, dob=dob, country=country,
                                        entity_type=entity_type, identifiers=identifiers)
            assert a.row is not None
            if entity.names[a.row.name_index].kind == "weak" and a.name_score < 100.0:
                # OFAC's "weak" aliases are low-quality; only an exact reading counts fully.
                effects.append({"kind": "weak_alias", "effect": WEAK_ALIAS_PENALTY,
                                "detail": "matched a weak (low-quality) alias, not exactly"})
            score = max(0.0, min(100.0, a.name_score + sum(x["effect"] for x in effects)))
            limit_score = threshold if threshold is not None else cfg.threshold_for(
                entity.list_code, use)
            if score < limit_score:
                continue
            assert a.row is not None
            listed = entity.names[a.row.name_index]
            results.append(Match(
                entity=entity,
                score=score,
                name_score=a.name_score,
                ofac_score=ofac_score(name, listed.name),
                matched_name=listed.name,
                matched_name_kind=listed.kind,
                explanation=explain(index, a, effects, score, nn.steps),
            ))
        results.sort(key=lambda m: (-m.score, m.entity.list_code, m.entity.uid))
        return results[: (limit or cfg.max_results)]

    def entity_positions(self) -> dict[int, int]:
        """`id(entity)` -> the entity's position in the index (built once)."""
        if self._entity_positions is None:
            self._entity_positions = {id(e): i for i, e in enumerate(self.index.entities)}
        return self._entity_positions

    def best_name_score(self, name: str, entity_position: int) -> float:
        """Best name score of one indexed entity for a query, without retrieval (used by
        the quality harness to measure the retrieval stage's recall)."""
        index = self.index
        forms = [QueryForm.prepare(index, f) for f in normalize_name(name).forms]
        best = 0.0
        for row in index.rows:
            if row.entity != entity_position:
                continue
            for q in forms:
                best = max(best, align(index, q, row).name_score)
        return best


# ---------------------------------------------------------------------------- batches

_FORK_MATCHER: Matcher | None = None

Screened = tuple[list[Match], str]  # matches, and the normalised form that was matched


def _query_key(query: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list | tuple) else v)
                        for k, v in query.items()))


def screen_many(matcher: Matcher, queries: list[dict]) -> list[Screened]:
    """`Matcher.search(**query)` for each query, with the normalised form searched (for
    the query log); identical queries in the list are searched once."""
    slot: dict[tuple, int] = {}
    unique: list[dict] = []
    where: list[int] = []
    for q in queries:
        key = _query_key(q)
        at = slot.get(key)
        if at is None:
            at = slot[key] = len(unique)
            unique.append(q)
        where.append(at)
    nns = [normalize_name(q["name"]) for q in unique]
    found = matcher.search_many(unique, nns)
    texts = [" | ".join(f.text for f in nn.forms)[:1000] for nn in nns]
    return [(found[at], texts[at]) for at in where]


# A match as a worker process sends it back: its entity as the entity's position in the
# index (both processes hold the same index), then the other fields of `Match` in order.
_SentMatch = tuple[int, float, float, float, str, str, dict]


def _search_chunk(queries: list[dict]) -> list[tuple[list[_SentMatch], str]]:
    """`screen_many` in a worker process. Each match names its entity by position: a
    listed entity (every name, address and identifier) pickled back with each match cost
    more than the rest of the match, and the parent holds the same entities."""
    matcher = _FORK_MATCHER
    assert matcher is not None
    position = matcher.entity_positions()
    return [([(position[id(m.entity)], m.score, m.name_score, m.ofac_score, m.matched_name,
               m.matched_name_kind, m.explanation) for m in matches], text)
            for matches, text in screen_many(matcher, queries)]


def _received(matcher: Matcher, sent: list[tuple[list[_SentMatch], str]]) -> list[Screened]:
    entities = matcher.index.entities
    return [([Match(entities[e], *rest) for e, *rest in matches], text)
            for matches, text in sent]


class PendingScreening:
    """Results of `MatcherPool.screen_async`: `get()` waits for them (in order)."""

    def __init__(self, pool: MatcherPool, queries: list[dict], async_result=None) -> None:
        self._pool = pool
        self._queries = queries
        self._async = async_result

    def get(self) -> list[Screened]:
        if self._async is None:
            return screen_many(self._pool.matcher, self._queries)
        matcher = self._pool.matcher
        return [r for part in self._async.get() for r in _received(matcher, part)]


class MatcherPool:
    """Screens many queries on several cores: worker processes are forked *after* the
    index is built, so they share it copy-on-write (no rebuild, no pickling of the index).
    With one worker (or where forking is not possible) it runs in process."""

    def __init__(self, matcher: Matcher, workers: int = 1, chunk_size: int = 200) -> None:
        self.matcher = matcher
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self._pool = None
        self._frozen = False

    def __enter__(self) -> MatcherPool:
        global _FORK_MATCHER
        if self.workers > 1:
            import multiprocessing

            try:
                _FORK_MATCHER = self.matcher
                self.matcher.entity_positions()  # built once here, shared by the workers
                # Keep the cyclic GC off the index's pages in the children (it would
                # touch every object and un-share them: copy-on-write faults).
                gc.freeze()
                self._frozen = True
                self._pool = multiprocessing.get_context("fork").Pool(self.workers)
            except (AssertionError, OSError, ValueError):
                # e.g. inside a daemonic Celery worker process: stay in process
                self._pool = None
                self._unfreeze()
        return self

    def _unfreeze(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        self._unfreeze()

    def screen_async(self, queries: list[dict]) -> PendingScreening:
        """Start screening `queries` on the worker processes and return at once (the
        caller can write the previous results meanwhile); in process, the work is done
        at `get()`."""
        if self._pool is None or len(queries) < 2 * self.chunk_size:
            return PendingScreening(self, queries)
        size = max(self.chunk_size, -(-len(queries) // (4 * self.workers)))
        chunks = [queries[i:i + size] for i in range(0, len(queries), size)]
        return PendingScreening(self, queries, self._pool.map_async(_search_chunk, chunks))

    def search_many(self, queries: list[dict]) -> list[list[Match]]:
        """`Matcher.search(**query)` for each query, in order."""
        return [matches for matches, _ in self.screen_async(queries).get()]
