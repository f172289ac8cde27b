"""Fixtures of the monitoring tests: seeded rules and an event factory."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


@pytest.fixture
def seeded(db):
    from audit.context import Actor
    from monitoring.services import monitoring_seed_defaults

    monitoring_seed_defaults(actor=Actor.system("test"))


def make_event(
    *,
    at=dt.timedelta(),
    amount="100.00",
    direction="in",
    channel="wire",
    account="A1",
    customer=None,
    cp_name="Someone",
    cp_account="",
    cp_country="US",
    source="test",
    **extra,
) -> dict:
    n = next(_ids)
    ts = at if isinstance(at, dt.datetime) else T0 + at
    event = {
        "id": f"e{n}",
        "source": source,
        "timestamp": ts.isoformat(),
        "account_id": account,
        "customer_id": customer or f"C-{account}",
        "amount": str(amount),
        "currency": "USD",
        "direction": direction,
        "channel": channel,
        "counterparty_name": cp_name,
        "counterparty_account": cp_account or f"CP{n}",
        "counterparty_country": cp_country,
        "origin_country": "US",
    }
    event.update(extra)
    return event
