"""How evidence is shown to an analyst: a side-by-side name comparison for screening
matches and a rule/parameter/observed table for alerts. Pure functions, no Django."""

from __future__ import annotations

from typing import Any

import jellyfish
from anyascii import anyascii


def _tokens(name: str) -> list[str]:
    return [t for t in str(name or "").replace(",", " ").split() if t]


def _norm(token: str) -> str:
    return "".join(ch for ch in anyascii(token).lower() if ch.isalnum())


def _status(token: str, others: list[str]) -> str:
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
    left, right = _tokens(query_name), _tokens(matched_name)
    left_norm, right_norm = [_norm(t) for t in left], [_norm(t) for t in right]
    return {
        "left": [(t, _status(t, right_norm)) for t in left],
        "right": [(t, _status(t, left_norm)) for t in right],
    }


def _rows(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), _text(v)) for k, v in value.items()]
    if value in (None, ""):
        return []
    return [("value", _text(value))]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def alert_trace(summary: dict[str, Any]) -> dict[str, Any]:
    """Rule, its parameters and what was observed, side by side where keys agree, and the
    contributing transactions."""
    parameters = dict(_rows(summary.get("parameters")))
    observed = dict(_rows(summary.get("observed")))
    keys = list(dict.fromkeys([*parameters, *observed]))
    contributing = summary.get("contributing_ids") or []
    if not isinstance(contributing, list):
        contributing = [contributing]
    return {
        "rule_code": str(summary.get("rule_code", "")),
        "rule_version": str(summary.get("rule_version", "")),
        "rule_name": str(summary.get("rule_name", summary.get("description", ""))),
        "rows": [(k, parameters.get(k, ""), observed.get(k, "")) for k in keys],
        "contributing_ids": [str(c) for c in contributing[:200]],
        "contributing_more": max(0, len(contributing) - 200),
    }
