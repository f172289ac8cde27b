"""How alert evidence is shown to an analyst: the rule and version that fired, each
measure observed against its threshold, the rule's parameters and the contributing
transactions. Pure functions, no Django. (Screening matches: `screening.presentation`.)

An alert raised by the rule engine is read from its stored trace (`monitoring.Alert.trace`,
the same record the alert page shows); evidence in another shape (older records) from
its own summary: parameters and observed values side by side where keys agree."""

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


def alert_trace(summary: dict[str, Any], trace: dict[str, Any] | None = None,
                alert_id: int | None = None) -> dict[str, Any]:
    """What the case page shows of one alert: from the alert's stored `trace` when there
    is one, else from the evidence `summary`."""
    if isinstance(trace, dict) and isinstance(trace.get("rule"), dict):
        return _from_trace(trace, alert_id, summary)
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


def _from_trace(trace: dict[str, Any], alert_id: int | None, summary: dict[str, Any]
                ) -> dict[str, Any]:
    rule = trace["rule"]
    contributing = trace.get("contributing") if isinstance(trace.get("contributing"), dict) else {}
    ids = contributing.get("ids") if isinstance(contributing.get("ids"), list) else []
    comparisons = [
        {"measure": _text(c.get("measure", "")), "observed": _text(c.get("observed", "")),
         "operator": _text(c.get("operator", "")), "threshold": _text(c.get("threshold", "")),
         "met": bool(c.get("met"))}
        for c in trace.get("comparisons") or () if isinstance(c, dict)
    ]
    count = contributing.get("count", len(ids))
    return {
        "alert_id": alert_id,
        "rule_code": _text(rule.get("code", "")),
        "rule_version": _text(rule.get("version", "")),
        "rule_name": _text(summary.get("rule_name", "")),
        "decision": _text(trace.get("decision", "")),
        "comparisons": comparisons,
        "rows": [(k, v, "") for k, v in _rows(rule.get("params"))],
        "contributing_ids": [str(c) for c in ids[:200]],
        "contributing_more": max(0, int(count) - min(len(ids), 200)) if str(count).isdigit() else 0,
        "contributing_total": _text(contributing.get("total", "")),
    }
