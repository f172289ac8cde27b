"""How alert evidence is shown to an analyst: a rule/parameter/observed table. Pure
functions, no Django. (Screening matches: `screening.presentation`.)"""

from __future__ import annotations

from typing import Any


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
