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
from screening.matching.index import MatcherIndex
from screening.matching.normalize import (
    INITIAL,
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
    MIDDLE_FACTOR,
    QUERY_SHARE,
    Alignment,
    QueryForm,
    align,
    explain,
    qualifier_effects,
)
from screening.matching.tables import PARTICLES

ALGORITHM_VERSION = "vigil-match/1.1"
DEFAULT_THRESHOLD = 85.0
VECTOR_BOUND_MIN_ROWS = 48
WEAK_ALIAS_PENALTY = -10.0  # below this many candidates, aligning directly is cheaper


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


def _split_token(token: str, vocab: dict[str, int]) -> tuple[str, str] | None:
    """Best split of a glued token into two known (folded) tokens of 3+ letters (or a
    particle such as AL)."""
    best: tuple[str, str] | None = None
    for k in range(2, len(token) - 1):
        ra, rb = token[:k], token[k:]
        if (len(ra) < 3 and ra not in PARTICLES) or (len(rb) < 3 and rb not in PARTICLES):
            continue
        a, b = fold_token(ra), fold_token(rb)
        if a in vocab and b in vocab:
            if best is None or abs(len(a) - len(b)) < abs(len(best[0]) - len(best[1])):
                best = (a, b)
    return best


class Matcher:
    """An index plus a configuration; safe to share between threads for reading."""

    def __init__(self, entities: Iterable[ListedEntity],
                 config: MatcherConfig | None = None) -> None:
        self.index = MatcherIndex(entities)
        self.config = config or MatcherConfig()
        self.list_codes: set[str] = {e.list_code for e in self.index.entities}
        # +1: the padding id of short rows always reads similarity 0.
        self._sim_buffer = np.zeros(len(self.index.tokens) + 1, dtype=np.float32)

    # ------------------------------------------------------------------ retrieval

    def candidates(self, forms: list[QueryForm], min_query_coverage: float) -> set[int]:
        """Rows that can still reach `min_query_coverage` (prefix filtering: a row must
        match at least one of the heaviest query tokens whose weight the others cannot
        make up for)."""
        index = self.index
        rows: set[int] = set()
        for q in forms:
            order = sorted(range(len(q.weights)), key=lambda i: -q.weights[i])
            potential = [
                q.weights[i] * (max(q.matches[i].values()) if q.matches[i] else
                                (0.8 if q.form.roles[i] == "i" else 0.0))
                for i in range(len(q.weights))
            ]
            w_min = sum(w * (MIDDLE_FACTOR if 0 < i < len(q.weights) - 1 else 1.0)
                        for i, w in enumerate(q.weights))
            need = min_query_coverage * w_min
            rest = sum(potential)
            for i in order:
                if rest < need - 1e-9:
                    break
                for v in q.matches[i]:
                    rows.update(index.postings[v])
                rest -= potential[i]
            for gm in q.glued:
                for v in gm:
                    rows.update(index.postings[v])
        return rows

    def _with_split_forms(self, forms: tuple[NameForm, ...]) -> list[NameForm]:
        """Add a reading where an unknown long token is split into two listed tokens
        (MOHAMMEDBENHAMMEDI -> MUHAMAD BENHAMEDI): names glued in customer records."""
        out = list(forms)
        vocab = self.index.vocab
        for form in forms:
            for i, tok in enumerate(form.tokens):
                if len(tok) < 7 or tok in vocab or form.abjad[i] or not tok.isalpha():
                    continue
                split = _split_token(tok, vocab)
                if split is None:
                    continue
                a, b = split
                ra, rb = ("p" if a in PARTICLES else "n"), ("p" if b in PARTICLES else "n")
                out.append(NameForm(
                    tokens=(*form.tokens[:i], a, b, *form.tokens[i + 1:]),
                    roles=(*form.roles[:i], ra, rb, *form.roles[i + 1:]),
                    abjad=(*form.abjad[:i], False, False, *form.abjad[i + 1:]),
                    reading=f"{form.reading}+split"))
                break
        return out

    @staticmethod
    def _query_bound(q: QueryForm, row) -> float:
        """Upper bound of the query coverage of one row (each query token takes its best
        partner; unmatched middle tokens the smaller weight)."""
        return Matcher._query_bounds(q, [row])[0]

    @staticmethod
    def _query_bounds(q: QueryForm, rows) -> list[float]:
        """`_query_bound` of several rows; query-side constants computed once and the
        per-token best partner taken with C-level max/map."""
        n = len(q.weights)
        w_min = sum(w * (MIDDLE_FACTOR if 0 < i < n - 1 else 1.0)
                    for i, w in enumerate(q.weights))
        if not w_min:
            return [0.0] * len(rows)
        fixed = 0.0  # initials: 0.8 whatever the row
        tok: list[tuple[int, float, dict]] = []
        for i, mi in enumerate(q.matches):
            if q.form.roles[i] == "i":
                fixed += q.weights[i] * 0.8
            elif mi:
                tok.append((i, q.weights[i], mi))
        pairs = [(i, gm) for i, gm in enumerate(q.glued) if gm]
        zero = repeat(0.0)
        out: list[float] = []
        for row in rows:
            if INITIAL in row.form.roles:
                # a listed initial may take any query word (0.8): not bounded here
                out.append(1.0)
                continue
            ids = row.vocab + row.glued
            if not pairs:
                got = fixed
                for _, w, mi in tok:
                    got += w * max(map(mi.get, ids, zero))
                out.append(got / w_min)
                continue
            best = [0.0] * n
            for i, _, mi in tok:
                best[i] = max(map(mi.get, ids, zero))
            for i, gm in pairs:
                x = max(map(gm.get, row.vocab, zero))
                if x > best[i]:
                    best[i] = x
                if x > best[i + 1]:
                    best[i + 1] = x
            got = fixed + sum(q.weights[i] * best[i] for i, _, _ in tok)
            # an initial or a token without matches gains from a glued pair only
            got += sum(q.weights[i] * best[i] for i in range(n)
                       if q.form.roles[i] != "i" and not q.matches[i] and best[i])
            for i in range(n):
                if q.form.roles[i] == "i" and best[i] > 0.8:
                    got += q.weights[i] * (best[i] - 0.8)
            out.append(got / w_min)
        return out

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

        for i, m in enumerate(q.matches):
            if q.form.roles[i] == "i":
                q_max[i] = 0.8
                listed_max = np.maximum(listed_max, 0.8)
                continue
            s_tok = sims(m, rv)
            s_glu = sims(m, rg)
            q_max[i] = np.maximum(s_tok.max(axis=1), s_glu.max(axis=1))
            listed_max = np.maximum(listed_max, s_tok)
            listed_max = np.maximum(listed_max, s_glu)
            listed_max[:, 1:] = np.maximum(listed_max[:, 1:], s_glu[:, :-1])
        for i, gm in enumerate(q.glued):
            if not gm:
                continue
            s_pair = sims(gm, rv)
            best_pair = s_pair.max(axis=1)
            q_max[i] = np.maximum(q_max[i], best_pair)
            q_max[i + 1] = np.maximum(q_max[i + 1], best_pair)
            listed_max = np.maximum(listed_max, s_pair)
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
        # A listed initial may take any query word (0.8): such rows are not bounded.
        bound = np.where(index.row_initial[cand], 100.0, bound)
        return cand[bound >= name_floor - 1e-6].tolist()

    # ------------------------------------------------------------------ search

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
    ) -> list[Match]:
        """Ranked matches at or above the applicable threshold, with explanations."""
        cfg = self.config
        index = self.index
        nn = normalized or normalize_name(name)
        list_set = set(lists) if lists else None
        if threshold is not None:
            floor = threshold
        else:
            codes = list_set or self.list_codes or {""}
            floor = min(cfg.threshold_for(c, use) for c in codes)
        # Only qualifiers actually supplied can lift a weak name match over the threshold.
        bonus = ((DOB_EXACT if dob else 0.0) + (COUNTRY_MATCH if country else 0.0)
                 + (IDENTIFIER_MATCH if identifiers else 0.0))
        name_floor = floor - bonus
        min_qcov = max(0.0, (name_floor / 100.0 - (1.0 - QUERY_SHARE)) / QUERY_SHARE)
        forms = [QueryForm.prepare(index, f) for f in self._with_split_forms(nn.forms)]
        best: dict[int, Alignment] = {}
        for q in forms:
            rows = self.candidates([q], min_qcov)
            if list_set is not None:
                rows = {r for r in rows
                        if index.entities[index.rows[r].entity].list_code in list_set}
            if len(rows) >= VECTOR_BOUND_MIN_ROWS:
                rows = self._bound_filter(q, rows, name_floor)
            else:
                rows = list(rows)
                bounds = self._query_bounds(q, [index.rows[r] for r in rows])
                rows = [r for r, b in zip(rows, bounds, strict=True) if b >= min_qcov]
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


def _search_chunk(queries: list[dict]) -> list[list[Match]]:
    assert _FORK_MATCHER is not None
    return [_FORK_MATCHER.search(**q) for q in queries]


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

    def search_many(self, queries: list[dict]) -> list[list[Match]]:
        """`Matcher.search(**query)` for each query, in order."""
        if self._pool is None or len(queries) < 2 * self.chunk_size:
            return [self.matcher.search(**q) for q in queries]
        chunks = [queries[i:i + self.chunk_size]
                  for i in range(0, len(queries), self.chunk_size)]
        return [r for part in self._pool.map(_search_chunk, chunks) for r in part]
