"""How a screening match is shown to an analyst: the same card on the screening page, a
logged query's page and a case's evidence. Pure functions over the stored JSON (a match's
`as_dict()` and its format-1 explanation, docs/screening.md), no database access.

An analyst deciding on a hit needs, side by side: which of their words met which listed
words and how closely, which name of the entity matched (primary or which alias), what
the list says about the party (dates of birth, nationalities, programs, identifiers) next
to what the customer record says, and what moved the score. Everything here is read
from what was logged, so the card of an old query shows what that query saw.

One thing is recovered rather than read: the words as written behind the compared
(folded) tokens of an explanation (BANCO for BANKO, JSC for JSK), by normalising the
logged name again, which is deterministic. When today's normaliser no longer gives the
reading the explanation logged, the card shows the compared tokens, as logged.
"""

from __future__ import annotations

from typing import Any

import jellyfish
from anyascii import anyascii

from screening.matching.normalize import normalize_name

NAME_KINDS = {
    "primary": "primary name",
    "aka": "alias (a.k.a.)",
    "fka": "former name (f.k.a.)",
    "nka": "new name (n.k.a.)",
    "weak": "weak alias",
}
QUALIFIER_LABELS = {
    "dob": "Date of birth",
    "country": "Country",
    "entity_type": "Entity type",
    "identifier": "Identifier",
    "weak_alias": "Weak alias",
}
HOW_LABELS = {
    "equal": "equal",
    "similar": "similar spelling",
    "initial": "initial",
    "glued": "joined or split words",
    "consonant_skeleton": "same consonants (Arabic-script spelling)",
}
# Score bands on the card: at or above HIGH a near-certain name match, at or above MEDIUM
# a strong one; below it, a match only because it reached the threshold in force.
HIGH, MEDIUM = 95.0, 90.0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value if v not in (None, ""))
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def logged_dicts(items: Any) -> list[dict]:
    """The dict entries of a logged list (anything else in it is skipped, not shown)."""
    return [x for x in items or () if isinstance(x, dict)]


def _signed(effect: float) -> str:
    if effect > 0:
        return f"+{effect:g}"
    if effect < 0:
        return f"\u2212{-effect:g}"  # a real minus sign
    return "\u00b10"


def _words(name: str) -> list[str]:
    return [t for t in str(name or "").replace(",", " ").split() if t]


def _norm(token: str) -> str:
    return "".join(ch for ch in anyascii(token).lower() if ch.isalnum())


def _name_status(token: str, others: list[str]) -> str:
    norm = _norm(token)
    if not norm:
        return "diff"
    best = 0.0
    for other in others:
        if norm == other:
            return "same"
        if other:
            best = max(best, jellyfish.jaro_winkler_similarity(norm, other))
    return "similar" if best >= 0.85 else "diff"


def compare_names(query_name: str, matched_name: str) -> dict[str, list[tuple[str, str]]]:
    """Each token of both names tagged same / similar / diff against the other name, so an
    analyst sees at a glance which parts of the names agree."""
    left, right = _words(query_name), _words(matched_name)
    left_norm, right_norm = [_norm(t) for t in left], [_norm(t) for t in right]
    return {
        "left": [(t, _name_status(t, right_norm), "") for t in left],
        "right": [(t, _name_status(t, left_norm), "") for t in right],
    }


def _status(similarity: float, how: str) -> str:
    if how == "equal" or similarity >= 0.999:
        return "same"
    return "similar"


def _written(name: str, form_text: str) -> list[str]:
    """The words as written (uppercase ASCII, before folding) of the reading `form_text`
    of `name`, one per compared token and in its order: the reading is found by
    normalising the name again. Empty when no reading of the name gives that text (an
    older normaliser's log)."""
    if not name or not form_text:
        return []
    try:
        forms = normalize_name(name).forms
    except Exception:  # noqa: BLE001 - a card must render whatever was logged
        return []
    for form in forms:
        if form.text == form_text and len(form.raw) == len(form.tokens):
            return list(form.raw)
    return []


def _by_token(text: str, written: list[str]) -> dict[str, str]:
    """Compared token -> word as written (the first, where two words fold alike)."""
    out: dict[str, str] = {}
    for token, word in zip(text.split(), written, strict=False):
        out.setdefault(token, word)
    return out


def _tokens(explanation: dict, written_query: list[str], written_listed: list[str]
            ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The query's and the listed name's words, each tagged same / similar / diff by the
    alignment the score was computed from (not re-guessed here): (word as written,
    status, the compared form when folding changed it)."""
    query_status: dict[str, str] = {}
    listed_status: dict[str, str] = {}
    rank = {"diff": 0, "similar": 1, "same": 2}
    for pair in logged_dicts(explanation.get("aligned")):
        st = _status(_number(pair.get("similarity")) or 0.0, str(pair.get("how", "")))
        for side, table in (("query", query_status), ("listed", listed_status)):
            for tok in str(pair.get(side, "")).split():
                if rank[st] > rank[table.get(tok, "diff")]:
                    table[tok] = st
    query_text, listed_text = _form_texts(explanation)
    return (_chips(query_text, query_status, written_query),
            _chips(listed_text, listed_status, written_listed))


def _chips(text: str, status: dict[str, str], written: list[str]
           ) -> list[tuple[str, str, str]]:
    tokens = text.split()
    words = written if len(written) == len(tokens) else tokens
    return [(word, status.get(token, "diff"), token if word != token else "")
            for token, word in zip(tokens, words, strict=True)]


def _form_texts(explanation: dict) -> tuple[str, str]:
    query_form = explanation.get("query_form") or {}
    query_text = query_form.get("text", "") if isinstance(query_form, dict) else ""
    return str(query_text), str(explanation.get("listed_form") or "")


def _words_shown(text: str, written: dict[str, str]) -> tuple[str, str]:
    """Tokens joined as written, and as compared when folding changed any of them."""
    tokens = text.split()
    shown = " ".join(written.get(t, t) for t in tokens)
    return shown, text if shown != text else ""


def _aligned_rows(explanation: dict, written_query: list[str] | None = None,
                  written_listed: list[str] | None = None) -> list[dict]:
    """The word-by-word table: each side as written, with the compared form beside it
    where folding changed it (BANCO, compared as BANKO)."""
    query_text, listed_text = _form_texts(explanation)
    wq = _by_token(query_text, written_query or [])
    wl = _by_token(listed_text, written_listed or [])
    rows = []
    for pair in logged_dicts(explanation.get("aligned")):
        sim = _number(pair.get("similarity")) or 0.0
        how = str(pair.get("how", ""))
        query, query_compared = _words_shown(_text(pair.get("query")), wq)
        listed, listed_compared = _words_shown(_text(pair.get("listed")), wl)
        rows.append({"query": query, "query_compared": query_compared, "listed": listed,
                     "listed_compared": listed_compared,
                     "similarity": round(sim * 100), "how": HOW_LABELS.get(how, how),
                     "status": _status(sim, how), "weight": pair.get("weight")})
    for side, key, written in (("query", "unmatched_query", wq),
                               ("listed", "unmatched_listed", wl)):
        for item in logged_dicts(explanation.get(key)):
            tok, compared = _words_shown(_text(item.get("token")), written)
            rows.append({"query": tok if side == "query" else "",
                         "query_compared": compared if side == "query" else "",
                         "listed": tok if side == "listed" else "",
                         "listed_compared": compared if side == "listed" else "",
                         "similarity": 0, "how": "no counterpart", "status": "diff",
                         "weight": item.get("weight")})
    return rows


def _qualifiers(explanation: dict) -> list[dict]:
    out = []
    for q in logged_dicts(explanation.get("qualifiers")):
        effect = _number(q.get("effect")) or 0.0
        kind = str(q.get("kind", ""))
        out.append({"kind": kind, "label": QUALIFIER_LABELS.get(kind, kind.replace("_", " ")),
                    "effect": effect, "effect_text": _signed(effect),
                    "direction": "up" if effect > 0 else "down" if effect < 0 else "none",
                    "detail": _text(q.get("detail"))})
    return out


def _verdict(qualifiers: list[dict], kind: str) -> str:
    """agrees / differs / close, from the qualifier the score applied (empty: none)."""
    for q in qualifiers:
        if q["kind"] == kind:
            if q["effect"] > 0:
                return "agrees"
            return "differs" if q["effect"] < 0 else "close"
    return ""


def _facts(query: dict, content: dict, entity_type: str, qualifiers: list[dict]
           ) -> list[dict]:
    """What the customer record says next to what the list says, with the score's verdict
    where a qualifier compared them. Rows where neither side says anything are left out."""
    countries = [*(content.get("nationalities") or ()), *(content.get("countries") or ())]
    for address in content.get("addresses") or ():
        if isinstance(address, dict) and address.get("country"):
            countries.append(address["country"])
    identifiers = [f"{i[0]}: {i[1]}" for i in content.get("identifiers") or ()
                   if isinstance(i, (list, tuple)) and len(i) >= 2]
    rows = [
        ("Date of birth", query.get("dob"), content.get("dates_of_birth"), "dob"),
        ("Place of birth", None, content.get("places_of_birth"), ""),
        ("Country / nationality", query.get("country"), list(dict.fromkeys(countries)),
         "country"),
        ("Entity type", query.get("entity_type"), entity_type, "entity_type"),
        ("Identifiers", None, identifiers, "identifier"),
    ]
    out = []
    for label, mine, listed, kind in rows:
        mine_text, listed_text = _text(mine), _text(listed)
        if not mine_text and not listed_text:
            continue
        out.append({"label": label, "query": mine_text, "listed": listed_text,
                    "verdict": _verdict(qualifiers, kind) if kind else ""})
    return out


def _summary(tokens: list[tuple[str, str, str]], qualifiers: list[dict]) -> str:
    """One sentence: how many of the query's words met a listed word, then each qualifier."""
    if not tokens:
        return ""
    same = sum(1 for _, st, _ in tokens if st == "same")
    similar = sum(1 for _, st, _ in tokens if st == "similar")
    parts = [f"{same} of {len(tokens)} words equal"]
    if similar:
        parts.append(f"{similar} similar")
    missing = len(tokens) - same - similar
    if missing:
        parts.append(f"{missing} without a counterpart")
    text = ", ".join(parts)
    for q in qualifiers:
        text += f"; {q['label'].lower()} {q['effect_text']}"
    return text


def _legacy_reasons(explanation: Any) -> list[tuple[str, str]]:
    """An explanation in another shape (older records, demo data): its scalar entries as
    label/value pairs, never a raw dump of nested structures."""
    if isinstance(explanation, dict):
        return [(str(k).replace("_", " "), _text(v)) for k, v in explanation.items()
                if isinstance(v, (str, int, float)) or (
                    isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v))]
    if explanation:
        return [("reason", _text(explanation))]
    return []


def match_view(match: dict, *, query: dict | None = None, entity: dict | None = None,
               threshold: float | None = None) -> dict:
    """The card of one match.

    `match`: a logged match (`Match.as_dict()`; a case's evidence summary has the same
    keys in part). `query`: the screened input (name, dob, country, entity_type).
    `entity`: the listed entry as stored (id, content, entity_type, primary_name,
    list_name, version_id, is_active), when it could be found.
    """
    query = query or {}
    explanation = match.get("explanation")
    structured = isinstance(explanation, dict) and explanation.get("format") == 1
    exp = explanation if structured else {}
    content = (entity or {}).get("content") or {}
    if not content and match.get("matched_dob"):  # older evidence: the listed DOB it named
        content = {"dates_of_birth": [match["matched_dob"]]}
    entity_type = _text(match.get("entity_type") or (entity or {}).get("entity_type"))
    qualifiers = _qualifiers(exp)
    matched = exp.get("matched_name") if isinstance(exp.get("matched_name"), dict) else {}
    matched_name = _text(match.get("matched_name") or matched.get("name"))
    written_query: list[str] = []
    written_listed: list[str] = []
    if structured:
        query_text, listed_text = _form_texts(exp)
        written_query = _written(_text(query.get("name")), query_text)
        written_listed = _written(matched_name, listed_text)
        query_tokens, listed_tokens = _tokens(exp, written_query, written_listed)
    else:  # no alignment logged: compare the names as written
        guessed = compare_names(_text(query.get("name")), matched_name)
        query_tokens, listed_tokens = guessed["left"], guessed["right"]
    score = _number(match.get("score"))
    if score is None:
        score = _number(exp.get("score")) or 0.0
    kind = _text(match.get("matched_name_kind") or matched.get("kind"))
    return {
        "score": round(score, 1),
        "band": "high" if score >= HIGH else "medium" if score >= MEDIUM else "low",
        "threshold": threshold,
        "name_score": _number(match.get("name_score") if match.get("name_score") is not None
                              else exp.get("name_score")),
        "ofac_score": _number(match.get("ofac_score")),
        "list": _text(match.get("list")),
        "list_name": _text((entity or {}).get("list_name")) or _text(match.get("list")),
        "entity_uid": _text(match.get("entity_uid")),
        "entity_id": (entity or {}).get("id") or match.get("entity_id"),
        "entity_found": entity is not None,
        "entity_version": (entity or {}).get("version_id"),
        "entity_current": (entity or {}).get("is_active"),
        "primary_name": _text(match.get("primary_name") or (entity or {}).get("primary_name")),
        "entity_type": entity_type,
        "programs": list(match.get("programs") or content.get("programs") or ()),
        "matched_name": matched_name,
        "matched_name_kind": kind,
        "matched_name_label": NAME_KINDS.get(kind, kind),
        "query_name": _text(query.get("name")),
        "query_tokens": query_tokens,
        "listed_tokens": listed_tokens,
        "summary": _summary(query_tokens, qualifiers) if structured else "",
        "aligned": _aligned_rows(exp, written_query, written_listed),
        "qualifiers": qualifiers,
        "coverage": exp.get("coverage") if isinstance(exp.get("coverage"), dict) else {},
        "normalisation": [str(s).replace("_", " ") for s in exp.get("normalisation") or ()],
        "facts": _facts(query, content, entity_type, qualifiers),
        "remarks": _text(content.get("remarks")),
        "structured": structured,
        "legacy_reasons": [] if structured else _legacy_reasons(explanation),
        "content_hash": _text(match.get("content_hash")),
    }
