"""Event validation: good events are typed; each kind of bad input names the problem."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from monitoring.rules.schema import EventValidationError, decode_event, validate_event

GOOD = {
    "id": "tx-1",
    "timestamp": "2026-03-02T10:15:00+01:00",
    "account_id": "ACC-1",
    "customer_id": "CUST-1",
    "amount": "125.50",
    "currency": "USD",
    "direction": "out",
    "channel": "wire",
    "counterparty_name": "Acme Ltd",
    "counterparty_account": "GB00X",
    "counterparty_country": "gb",
    "origin_country": "US",
}


def test_good_event_is_typed_and_normalised():
    event = validate_event({**GOOD, "branch": "42"})
    assert event.timestamp == dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)
    assert event.amount == Decimal("125.50")
    assert event.counterparty_country == "GB"
    assert event.extra == {"branch": "42"}
    assert event.key == ("default", "tx-1")
    assert validate_event(event.to_json()) == event


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"amount": 125.5}, "amount", "decimal string"),
        ({"amount": "-3"}, "amount", "greater than zero"),
        ({"amount": "12,50"}, "amount", "not a decimal"),
        ({"amount": "1.00001"}, "amount", "decimal places"),
        ({"amount": "NaN"}, "amount", "finite"),
        ({"timestamp": "2026-03-02T10:15:00"}, "timestamp", "time zone"),
        ({"timestamp": "yesterday"}, "timestamp", "ISO 8601"),
        ({"direction": "up"}, "direction", "'in' or 'out'"),
        ({"currency": "usd"}, "currency", "ISO 4217"),
        ({"counterparty_country": "USA"}, "counterparty_country", "longer"),
        ({"id": "bad id with spaces"}, "id", "letters, digits"),
        ({"counterparty_name": "evil\x00name"}, "counterparty_name", "control"),
        ({"extra": []}, "extra", "JSON object"),
    ],
)
def test_bad_fields_are_named(change, field, fragment):
    with pytest.raises(EventValidationError) as exc:
        validate_event({**GOOD, **change})
    assert field in exc.value.errors
    assert fragment in exc.value.errors[field]


def test_missing_fields_all_reported():
    data = dict(GOOD)
    del data["amount"], data["timestamp"]
    with pytest.raises(EventValidationError) as exc:
        validate_event(data)
    assert exc.value.errors == {"amount": "is required", "timestamp": "is required"}


def test_decode_rejects_bad_json_non_utf8_oversize_and_non_object():
    for raw, fragment in [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**GOOD, "pad": "x" * 20000}).encode(), "larger than"),
    ]:
        with pytest.raises(EventValidationError) as exc:
            decode_event(raw)
        assert fragment in str(exc.value)
    assert decode_event(json.dumps(GOOD).encode()).id == "tx-1"
