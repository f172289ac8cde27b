"""Alert traces: why an alert was raised, compact enough to store with every alert.

A trace names the triggering transaction, the rule code/version/parameters, each observed
aggregate next to the threshold it was compared with, the contributing transaction ids
(capped, with the full count), the account's state snapshot and the decision. It is plain
JSON (decimals as strings) and kept under `MAX_TRACE_BYTES` by shortening the id list.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from monitoring.rules.findings import Finding
from monitoring.rules.schema import TransactionEvent

TRACE_FORMAT = 1
MAX_TRACE_BYTES = 4096
MAX_CONTRIBUTING_IDS = 50


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def tx_ref(tx: TransactionEvent) -> str:
    """How traces name a transaction: `source:id`."""
    return f"{tx.source}:{tx.id}"


def _trigger(tx: TransactionEvent) -> dict[str, Any]:
    return {
        "ref": tx_ref(tx),
        "timestamp": tx.timestamp.isoformat(),
        "account_id": tx.account_id,
        "customer_id": tx.customer_id,
        "amount": str(tx.amount),
        "currency": tx.currency,
        "direction": tx.direction,
        "channel": tx.channel,
        "counterparty_name": tx.counterparty_name[:120],
        "counterparty_account": tx.counterparty_account,
        "counterparty_country": tx.counterparty_country,
        "origin_country": tx.origin_country,
    }


def build_trace(finding: Finding, *, max_ids: int = MAX_CONTRIBUTING_IDS) -> dict[str, Any]:
    """The explainable record stored with an alert (see module docstring)."""
    rule = finding.rule
    ids = [tx_ref(t) for t in finding.contributing]
    trace: dict[str, Any] = {
        "format": TRACE_FORMAT,
        "trigger": _trigger(finding.anchor),
        "rule": {
            "code": rule.code,
            "typology": rule.typology,
            "version": rule.version,
            "severity": finding.severity,
            "params": _jsonable(dict(rule.params)),
        },
        "window": {
            "start": finding.window_start.isoformat() if finding.window_start else None,
            "end": finding.window_end.isoformat(),
        },
        "comparisons": [
            {
                "measure": c.measure,
                "observed": _jsonable(c.observed),
                "operator": c.operator,
                "threshold": _jsonable(c.threshold),
                "met": c.met,
            }
            for c in finding.comparisons
        ],
        "contributing": {
            "count": len(ids),
            "total": str(finding.contributing_total),
            "ids": ids[:max_ids],
            "truncated": len(ids) > max_ids,
        },
        "state": _jsonable(finding.state),
        "decision": finding.decision,
        "priority": finding.priority,
    }
    # Shrink the id list until the trace fits: the count always stays exact.
    while len(json.dumps(trace, separators=(",", ":"))) > MAX_TRACE_BYTES:
        kept = trace["contributing"]["ids"]
        if not kept:
            trace["state"] = {"omitted": "state too large"}
            break
        trace["contributing"]["ids"] = kept[: len(kept) // 2]
        trace["contributing"]["truncated"] = True
    return trace
