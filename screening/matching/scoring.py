"""Token alignment, name score and qualifier effects.

Business rule: the name score (0-100) says how much of the query and of the listed name
are accounted for by similar tokens, each token weighted by its rarity; word order does
not matter, a missing middle name costs little, an initial counts partly. Qualifiers (date
of birth, country, entity type, identifiers) then move the score by documented amounts and
are listed in the explanation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from screening.lists.records import ListedEntity
from screening.matching.countries import country_code
from screening.matching.index import (
    GLUED_LOOKUP_MIN,
    MIN_TOKEN_SIMILARITY,
    MatcherIndex,
    NameRow,
)
from screening.matching.normalize import INITIAL, ORG_FORM, PARTICLE, NameForm
from screening.matching.similarity import INITIAL_SIMILARITY, token_similarity

QUERY_SHARE = 0.6  # weight of query coverage in the name score; the rest is listed coverage
MIDDLE_FACTOR = 0.5  # an unmatched middle token counts half (patronymics, second names)
# Near matches count less than their raw similarity (0.8 -> 0.72): a different surname
# that merely looks alike must not carry a match the way a typo does.
SIMILARITY_POWER = 1.5
# Patronymic chains (X BIN Y) read in the reverse order name another person.
LINEAGE_WORDS = frozenset({"BIN", "IBN", "BINT", "BEN", "BN", "OGLU", "KIZI", "ULD"})
LINEAGE_REVERSAL_FACTOR = 0.85
# A distinctive token unmatched on both sides (a different surname, father or clan name,
# not an omission) weighs this many times its weight.
CONFLICT_FACTOR = 2.0
_WEAK_ROLES = frozenset({PARTICLE, ORG_FORM})
# Glued/split tokens must be near-identical: concatenations create chance resemblances.
GLUED_MIN_SIMILARITY = GLUED_LOOKUP_MIN

# Qualifier effects, in score points (documented in docs/screening.md).
DOB_EXACT = 5.0
DOB_SAME_YEAR = 3.0
DOB_MISMATCH = -12.0
COUNTRY_MATCH = 2.0
COUNTRY_MISMATCH = -3.0
TYPE_MISMATCH = -15.0
IDENTIFIER_MATCH = 15.0
IDENTIFIER_MISMATCH = -5.0
MAX_BONUS = DOB_EXACT + COUNTRY_MATCH + IDENTIFIER_MATCH


def min_query_coverage(name_floor: float) -> float:
    """The query coverage a name needs to reach ``name_floor`` (0-100) even with every
    listed token covered: the name score is QUERY_SHARE * qcov + the rest * ncov."""
    return max(0.0, (name_floor / 100.0 - (1.0 - QUERY_SHARE)) / QUERY_SHARE)


def credit_of(similarity: float, abjad: bool) -> float:
    """What a pair of this similarity adds to a coverage (see SIMILARITY_POWER)."""
    return similarity if abjad else similarity ** SIMILARITY_POWER


INITIAL_CREDIT = {True: credit_of(INITIAL_SIMILARITY, True),
                  False: credit_of(INITIAL_SIMILARITY, False)}


def _credits(index: MatcherIndex, key: tuple, sims: dict[int, float],
             abjad: bool) -> dict[int, float]:
    """`sims` with each similarity turned into its coverage credit (cached per token)."""
    if abjad or not sims:
        return sims
    cache = index.credit_cache
    found = cache.get(key)
    if found is None:
        power = SIMILARITY_POWER
        found = {v: s ** power for v, s in sims.items()}
        if len(cache) > 300_000:
            cache.clear()
        cache[key] = found
    return found


@dataclass(slots=True)
class QueryForm:
    """A query reading prepared for scoring: token matches and weights, and the coverage
    credit each match can bring (used by the score bounds)."""

    form: NameForm
    matches: list[dict[int, float]]
    weights: list[float]
    glued: list[dict[int, float]]  # per adjacent query pair, glued
    total_weight: float = 0.0
    credits: list[dict[int, float]] = field(default_factory=list)
    glued_credits: list[dict[int, float]] = field(default_factory=list)

    @classmethod
    def prepare(cls, index: MatcherIndex, form: NameForm) -> QueryForm:
        raw = form.raw or form.tokens
        matches = [
            {} if role == INITIAL else (index.lookup(tok, True) if ab else
                                        index.lookup_spelled(tok, w))
            for tok, role, ab, w in zip(form.tokens, form.roles, form.abjad, raw, strict=True)
        ]
        weights = [
            index.token_weight(tok, role, m)
            for tok, role, m in zip(form.tokens, form.roles, matches, strict=True)
        ]
        toks = form.tokens
        glued = [
            index.lookup_glued(toks[i] + toks[i + 1], form.abjad[i])
            if toks[i].isalpha() else {}
            for i in range(len(toks) - 1)
        ]
        credits = [_credits(index, (tok, ab, w), m, ab)
                   for tok, ab, m, w in zip(toks, form.abjad, matches, raw, strict=True)]
        glued_credits = [_credits(index, (toks[i] + toks[i + 1], form.abjad[i], None), g,
                                  form.abjad[i]) for i, g in enumerate(glued)]
        return cls(form, matches, weights, glued, sum(weights) or 1.0, credits,
                   glued_credits)


@dataclass(slots=True)
class Alignment:
    """Result of aligning one query reading with one listed name row."""

    name_score: float
    query_coverage: float
    listed_coverage: float
    pairs: list[tuple[tuple[int, ...], tuple[int, ...], float]] = field(default_factory=list)
    row: NameRow | None = None
    query: QueryForm | None = None


def align(index: MatcherIndex, q: QueryForm, row: NameRow) -> Alignment:
    """Greedy one-to-one alignment of query tokens with listed tokens, best pairs first."""
    qt = q.form.tokens
    rt = row.form.tokens
    options: list[tuple[float, int, tuple[int, ...], tuple[int, ...]]] = []
    for i, mi in enumerate(q.matches):
        initial = q.form.roles[i] == INITIAL
        for j, v in enumerate(row.vocab):
            if initial or row.form.roles[j] == INITIAL:
                s = token_similarity(qt[i], rt[j])
            else:
                s = mi.get(v, 0.0)
            if s >= MIN_TOKEN_SIMILARITY:
                options.append((s, 1, (i,), (j,)))
        for j, v in enumerate(row.glued):
            s = mi.get(v, 0.0)
            if s >= GLUED_MIN_SIMILARITY:
                options.append((s, 2, (i,), (j, j + 1)))
    for i, gm in enumerate(q.glued):
        if not gm:
            continue
        for j, v in enumerate(row.vocab):
            s = gm.get(v, 0.0)
            if s >= GLUED_MIN_SIMILARITY:
                options.append((s, 2, (i, i + 1), (j,)))
    options.sort(key=lambda o: (-o[0], -o[1]))
    q_sim = [0.0] * len(qt)
    r_sim = [0.0] * len(rt)
    q_used = [False] * len(qt)
    r_used = [False] * len(rt)
    pairs: list[tuple[tuple[int, ...], tuple[int, ...], float]] = []
    for s, _, qi, rj in options:
        if any(q_used[i] for i in qi) or any(r_used[j] for j in rj):
            continue
        # Cross-script similarities are already capped; only Latin look-alikes are damped.
        credit = s if q.form.abjad[qi[0]] else s ** SIMILARITY_POWER
        for i in qi:
            q_used[i] = True
            q_sim[i] = credit
        for j in rj:
            r_used[j] = True
            r_sim[j] = credit
        pairs.append((qi, rj, s))
    rw = index.row_weights[row.rid]
    # Organisations: an extra word (a country, "II") names another company, so only
    # personal names get the missing-middle-name discount.
    person_like = ORG_FORM not in q.form.roles and ORG_FORM not in row.form.roles
    q_roles, r_roles = q.form.roles, row.form.roles
    # A middle name missing on one side is normal; a different middle name on each side
    # (both keep a distinctive middle token unmatched) names another person.
    q_middle = _unmatched_strong(q_roles, q_used, middle_only=True)
    r_middle = _unmatched_strong(r_roles, r_used, middle_only=True)
    # A distinctive word left unmatched on *both* sides is a different word in the same
    # name (another clan, father, surname), not an omission: it counts CONFLICT_FACTOR
    # times its weight.
    conflict = (CONFLICT_FACTOR if _unmatched_strong(q_roles, q_used)
                and _unmatched_strong(r_roles, r_used) else 1.0)
    qcov = _coverage(q.weights, q_sim, q_used, person_like and not r_middle, q_roles,
                     conflict)
    rcov = _coverage(rw, r_sim, r_used, person_like and not q_middle, r_roles, conflict)
    score = 100.0 * (QUERY_SHARE * qcov + (1.0 - QUERY_SHARE) * rcov)
    if _lineage_reversed(qt, pairs):
        score *= LINEAGE_REVERSAL_FACTOR
    return Alignment(score, qcov, rcov, pairs, row, q)


def _unmatched_strong(roles: tuple[str, ...], used: list[bool],
                      middle_only: bool = False) -> bool:
    """Whether a name keeps a distinctive token (not a particle or legal form) unmatched,
    anywhere or (`middle_only`) between its first and last token."""
    n = len(roles)
    lo, hi = (1, n - 1) if middle_only else (0, n)
    return any(not used[k] and roles[k] not in _WEAK_ROLES for k in range(lo, hi))


def _lineage_reversed(qt: tuple[str, ...], pairs) -> bool:
    """'X BIN Y' aligned with 'Y BIN X': father and son swapped, a different person."""
    where = {qi[0]: rj[0] for qi, rj, _ in pairs if len(qi) == 1}
    for i in range(1, len(qt) - 1):
        if qt[i] in LINEAGE_WORDS and i - 1 in where and i + 1 in where:
            if where[i - 1] > where[i + 1]:
                return True
    return False


def _coverage(weights: list[float] | tuple[float, ...], sims: list[float],
              used: list[bool], discount_middle: bool = True,
              roles: tuple[str, ...] = (), conflict: float = 1.0) -> float:
    """Weighted share of tokens accounted for; unmatched middle tokens count half when
    at least two tokens matched (a dropped middle name is normal in customer data), and
    unmatched distinctive tokens `conflict` times when the other side has one too."""
    n = len(sims)
    matched = [k for k in range(n) if used[k]]
    if not matched:
        return 0.0
    total = 0.0
    got = 0.0
    for k in range(n):
        w = weights[k]
        if not used[k]:
            if discount_middle and len(matched) >= 2 and 0 < k < n - 1:
                w *= MIDDLE_FACTOR
            if conflict != 1.0 and roles[k] not in _WEAK_ROLES:
                w *= conflict
        total += w
        got += w * sims[k]
    return got / total if total else 0.0


# ---------------------------------------------------------------------------- qualifiers

_ALNUM = re.compile(r"[^0-9A-Z]")


def _norm_id(value: str) -> str:
    return _ALNUM.sub("", value.upper())


def qualifier_effects(
    entity: ListedEntity,
    *,
    dob: str | None = None,
    country: str | None = None,
    entity_type: str | None = None,
    identifiers: tuple[tuple[str, str], ...] = (),
) -> list[dict]:
    """Score effects of the optional qualifiers, each with the reason shown to analysts."""
    effects: list[dict] = []
    if dob and entity.dates_of_birth:
        qy = dob[:4]
        exact = any(d == dob for d in entity.dates_of_birth if len(d) == len(dob))
        years = {d[:4] for d in entity.dates_of_birth}
        if exact and len(dob) >= 10:
            effects.append({"kind": "dob", "effect": DOB_EXACT,
                            "detail": f"date of birth {dob} equals a listed date of birth"})
        elif qy in years:
            effects.append({"kind": "dob", "effect": DOB_SAME_YEAR,
                            "detail": f"year of birth {qy} equals a listed year"})
        elif qy.isdigit() and any(y.isdigit() and abs(int(y) - int(qy)) <= 1 for y in years):
            effects.append({"kind": "dob", "effect": 0.0,
                            "detail": f"year of birth {qy} within one year of a listed year"})
        elif qy.isdigit() and all(y.isdigit() for y in years):
            effects.append({"kind": "dob", "effect": DOB_MISMATCH,
                            "detail": f"date of birth {dob} differs from every listed date "
                                      f"({', '.join(sorted(entity.dates_of_birth)[:5])})"})
    if country:
        # the lists publish names in their own spellings ("Russia", "Korea, North"): both
        # sides are compared as ISO alpha-2 codes; a value naming no country is left out
        c = country.strip().upper()
        codes = {x: code for x in dict.fromkeys((*entity.nationalities, *entity.countries))
                 if x and (code := country_code(x))}
        published = list(codes)
        if published:
            if c in codes.values():
                effects.append({"kind": "country", "effect": COUNTRY_MATCH,
                                "detail": f"country {c} is linked to the listed entity "
                                          f"({', '.join(published[:6])})"})
            else:
                effects.append({"kind": "country", "effect": COUNTRY_MISMATCH,
                                "detail": f"country {c} is not among the entity's "
                                          f"countries ({', '.join(published[:6])})"})
    if entity_type and entity.entity_type not in ("", "unknown"):
        if entity_type != entity.entity_type:
            effects.append({"kind": "entity_type", "effect": TYPE_MISMATCH,
                            "detail": f"query is a {entity_type}, listed entity is a "
                                      f"{entity.entity_type}"})
    if identifiers and entity.identifiers:
        listed_ids = {(_norm_id(v)) for _, v in entity.identifiers}
        listed_kinds = {k.lower() for k, _ in entity.identifiers}
        for kind, value in identifiers:
            if _norm_id(value) in listed_ids:
                effects.append({"kind": "identifier", "effect": IDENTIFIER_MATCH,
                                "detail": f"{kind} {value} equals a listed identifier"})
                break
        else:
            if any(k.lower() in listed_kinds for k, _ in identifiers):
                effects.append({"kind": "identifier", "effect": IDENTIFIER_MISMATCH,
                                "detail": "identifiers of the same kind differ"})
    return effects


def explain(index: MatcherIndex, a: Alignment, effects: list[dict], score: float,
            steps: tuple[str, ...]) -> dict:
    """The stable explanation JSON of one match (format documented in docs/screening.md)."""
    assert a.row is not None and a.query is not None
    row, q = a.row, a.query
    entity = index.entities[row.entity]
    listed = entity.names[row.name_index]
    rw = index.row_weights[row.rid]
    aligned = []
    q_done: set[int] = set()
    r_done: set[int] = set()
    for qi, rj, s in sorted(a.pairs, key=lambda p: p[0][0]):
        q_done.update(qi)
        r_done.update(rj)
        qtxt = " ".join(q.form.tokens[i] for i in qi)
        rtxt = " ".join(row.form.tokens[j] for j in rj)
        if len(qi) + len(rj) > 2:
            how = "glued"
        elif s >= 1.0:
            how = "equal"
        elif q.form.abjad[qi[0]]:
            how = "consonant_skeleton"
        elif min(len(qtxt), len(rtxt)) == 1:
            how = "initial"
        else:
            how = "similar"
        aligned.append({"query": qtxt, "listed": rtxt, "similarity": round(s, 3),
                        "weight": round(sum(q.weights[i] for i in qi), 3), "how": how})
    return {
        "format": 1,
        "score": round(score, 1),
        "name_score": round(a.name_score, 1),
        "matched_name": {"name": listed.name, "kind": listed.kind, "index": row.name_index,
                         "reading": row.form.reading},
        "query_form": {"text": q.form.text, "reading": q.form.reading},
        "listed_form": row.form.text,
        "aligned": aligned,
        "unmatched_query": [
            {"token": t, "weight": round(q.weights[i], 3)}
            for i, t in enumerate(q.form.tokens) if i not in q_done
        ],
        "unmatched_listed": [
            {"token": t, "weight": round(rw[j], 3)}
            for j, t in enumerate(row.form.tokens) if j not in r_done
        ],
        "coverage": {"query": round(a.query_coverage, 3),
                     "listed": round(a.listed_coverage, 3)},
        "qualifiers": effects,
        "normalisation": list(steps),
    }
