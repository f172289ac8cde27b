"""The labelled generator's injected instances are all detected; the background is quiet."""

from __future__ import annotations

import collections

from monitoring.rules.engine import evaluate_history
from monitoring.rules.findings import EvalContext
from monitoring.rules.schema import validate_event
from monitoring.rules.typologies import TYPOLOGIES
from monitoring.synthetic import SANCTIONED_NAME, TYPOLOGY_KEYS, generate
from tests.monitoring.rules_helpers import rule


def _screen(name, country):
    return (
        [{"score": 1, "list": "ofac-sdn", "uid": "306", "name": name}]
        if (name == SANCTIONED_NAME)
        else []
    )


def test_every_injected_instance_fires_and_background_is_quiet():
    feed = generate(seed=11, accounts=50, days=70, instances=1)
    events = [validate_event(e) for e in feed.events]
    result = evaluate_history(events, [rule(k) for k in TYPOLOGIES], EvalContext(screen=_screen))
    raised = {(f.rule.typology, f.anchor.account_id) for f in result.findings}
    raised |= {("ctr", r.account_id) for r in result.reports}
    missed = [
        (lb.typology, lb.account_id)
        for lb in feed.labels
        if (lb.typology, lb.account_id) not in raised
    ]
    assert missed == []
    assert {lb.typology for lb in feed.labels} == set(TYPOLOGY_KEYS)
    background = [f for f in result.findings if f.anchor.account_id in feed.background_accounts]
    background_txs = sum(1 for e in events if e.account_id in feed.background_accounts)
    assert background_txs > 3000
    # "Few": under 1 alert per 1,000 background transactions.
    assert len(background) * 1000 < background_txs, collections.Counter(
        f.rule.typology for f in background
    )


def test_generator_is_deterministic_and_late_events_are_out_of_order():
    a = generate(seed=3, accounts=5, days=10, instances=1, late_fraction=0.1)
    b = generate(seed=3, accounts=5, days=10, instances=1, late_fraction=0.1)
    assert a.events == b.events
    stamps = [e["timestamp"] for e in a.events]
    assert stamps != sorted(stamps)


def test_opaque_ids_rename_the_instances_and_nothing_else():
    """The demo's feed numbers its injected instances like the background accounts, so
    an alert's customer id (once CINJ-funnel-000) does not give away its typology; the
    transactions are the same, and the labels still name each instance's account."""
    plain = generate(seed=3, accounts=5, days=20, instances=1)
    opaque = generate(seed=3, accounts=5, days=20, instances=1, opaque_ids=True)
    rename = {}
    for a, b in zip(plain.labels, opaque.labels, strict=True):
        assert (a.typology, a.transaction_ids) == (b.typology, b.transaction_ids)
        assert b.account_id.startswith("ACC-") and b.customer_id.startswith("CUST-")
        rename[a.account_id], rename[a.customer_id] = b.account_id, b.customer_id
    assert len(set(rename.values())) == len(rename)
    assert not set(rename.values()) & plain.background_accounts
    renamed = [{**e, "account_id": rename.get(e["account_id"], e["account_id"]),
                "customer_id": rename.get(e["customer_id"], e["customer_id"])}
               for e in plain.events]
    assert renamed == opaque.events
    assert not any("INJ" in e["account_id"] + e["customer_id"] for e in opaque.events)
