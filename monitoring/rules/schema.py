"""Transaction event schema and validation (pure, no Django).

An event is one payment as the bank's feed reports it. Validation never guesses: every
problem is reported with the field it concerns, so a dead-lettered event can be fixed and
replayed. Amounts are exact decimals (floats are refused: binary rounding would change
threshold decisions); timestamps must carry a zone because windows run on transaction time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_EVENT_BYTES = 16_384
MAX_AMOUNT = Decimal(10**12)
DEFAULT_SOURCE = "default"
DIRECTIONS = ("in", "out")
KNOWN_CHANNELS = ("cash", "wire", "ach", "card", "crypto", "check", "internal", "rtp", "sepa")

REQUIRED_FIELDS = (
    "id",
    "timestamp",
    "account_id",
    "customer_id",
    "amount",
    "currency",
    "direction",
    "channel",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "origin_country",
)
_CORE_FIELDS = frozenset(REQUIRED_FIELDS) | {"source", "extra"}
_IDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,127}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class EventValidationError(ValueError):
    """The event cannot be accepted; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())))


@dataclass(slots=True)
class TransactionEvent:
    """One validated transaction. `(source, id)` identifies it; `timestamp` is UTC.

    Not frozen (frozen dataclasses are markedly slower to build, and history loading
    builds thousands per batch); treat instances as immutable all the same."""

    id: str
    timestamp: dt.datetime
    account_id: str
    customer_id: str
    amount: Decimal
    currency: str
    direction: str
    channel: str
    counterparty_name: str
    counterparty_account: str
    counterparty_country: str
    origin_country: str
    source: str = DEFAULT_SOURCE
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)

    @property
    def sort_key(self) -> tuple[dt.datetime, str, str]:
        # Ties on timestamp are broken by identity so every run orders the same way.
        return (self.timestamp, self.source, self.id)

    def to_json(self) -> dict[str, Any]:
        """The event as JSON-compatible data (the inverse of `validate_event`)."""
        return {
            "source": self.source,
            "id": self.id,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "direction": self.direction,
            "channel": self.channel,
            "counterparty_name": self.counterparty_name,
            "counterparty_account": self.counterparty_account,
            "counterparty_country": self.counterparty_country,
            "origin_country": self.origin_country,
            "extra": self.extra,
        }


def parse_timestamp(value: Any) -> dt.datetime:
    """ISO 8601 with an explicit zone, returned in UTC; naive times are refused."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an ISO 8601 string with a time zone")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value[:40]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("has no time zone (transaction time must be unambiguous)")
    if not (1970 <= parsed.year <= 2200):
        raise ValueError("year out of range")
    return parsed.astimezone(dt.UTC)


def parse_amount(value: Any) -> Decimal:
    """A positive decimal string (or integer) with at most 4 decimal places."""
    if isinstance(value, bool | float):
        raise TypeError('must be a decimal string such as "125.50" (floats lose cents)')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError("must be a decimal string")
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value[:40]!r}") from None
    if not amount.is_finite():
        raise ValueError("must be finite")
    if amount <= 0:
        raise ValueError("must be greater than zero")
    if amount >= MAX_AMOUNT:
        raise ValueError("is implausibly large")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValueError("has more than 4 decimal places")
    return amount


def _text(errors: dict[str, str], data: dict, name: str, *, max_len: int = 200) -> str:
    value = data.get(name)
    if value is None:
        errors[name] = "is required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return ""
    if len(value) > max_len:
        errors[name] = f"is longer than {max_len} characters"
        return ""
    if _CONTROL_RE.search(value):
        errors[name] = "contains control characters"
        return ""
    return value.strip()


def validate_event(data: Any, *, default_source: str = DEFAULT_SOURCE) -> TransactionEvent:
    """Check one decoded event and return it typed, or raise `EventValidationError`.

    Unknown top-level fields are kept in `extra` (the feed may carry bank-specific data);
    they are never interpreted by the rules except where a rule documents it.
    """
    if not isinstance(data, dict):
        raise EventValidationError({"data": "event must be a JSON object"})
    errors: dict[str, str] = {}
    ident = {}
    for name in ("id", "account_id", "customer_id"):
        value = _text(errors, data, name, max_len=128)
        if name not in errors and not _IDENT_RE.match(value):
            errors[name] = "must be 1-128 characters: letters, digits and ._:/#@+-"
        ident[name] = value
    source = data.get("source", default_source)
    if not isinstance(source, str) or not _IDENT_RE.match(source or ""):
        errors["source"] = "must be 1-128 characters: letters, digits and ._:/#@+-"
        source = default_source
    timestamp = None
    if "timestamp" not in data:
        errors["timestamp"] = "is required"
    else:
        try:
            timestamp = parse_timestamp(data["timestamp"])
        except ValueError as exc:
            errors["timestamp"] = str(exc)
    amount = None
    if "amount" not in data:
        errors["amount"] = "is required"
    else:
        try:
            amount = parse_amount(data["amount"])
        except (ValueError, TypeError) as exc:
            errors["amount"] = str(exc)
    currency = _text(errors, data, "currency", max_len=3)
    if "currency" not in errors and not _CURRENCY_RE.match(currency):
        errors["currency"] = "must be an ISO 4217 code such as USD"
    direction = _text(errors, data, "direction", max_len=3)
    if "direction" not in errors and direction not in DIRECTIONS:
        errors["direction"] = "must be 'in' or 'out'"
    channel = _text(errors, data, "channel", max_len=20)
    if "channel" not in errors and not _CHANNEL_RE.match(channel):
        errors["channel"] = "must be a lower-case word such as cash, wire, ach, card, crypto"
    cp_name = _text(errors, data, "counterparty_name", max_len=300)
    cp_account = _text(errors, data, "counterparty_account", max_len=128)
    countries = {}
    for name in ("counterparty_country", "origin_country"):
        value = _text(errors, data, name, max_len=2).upper()
        if name not in errors and value and not _COUNTRY_RE.match(value):
            errors[name] = "must be an ISO 3166 alpha-2 code or empty"
        countries[name] = value
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        errors["extra"] = "must be a JSON object"
        extra = {}
    extra = dict(extra)
    for name, value in data.items():
        if name not in _CORE_FIELDS:
            extra[name] = value
    if extra:
        encoded = json.dumps(extra, default=str)
        if len(encoded) > MAX_EVENT_BYTES // 2:
            errors["extra"] = "extra fields are larger than 8 KB"
    if errors:
        raise EventValidationError(errors)
    assert timestamp is not None and amount is not None
    return TransactionEvent(
        id=ident["id"],
        timestamp=timestamp,
        account_id=ident["account_id"],
        customer_id=ident["customer_id"],
        amount=amount,
        currency=currency,
        direction=direction,
        channel=channel,
        counterparty_name=cp_name,
        counterparty_account=cp_account,
        counterparty_country=countries["counterparty_country"],
        origin_country=countries["origin_country"],
        source=source,
        extra=extra,
    )


def decode_event(raw: bytes | str, *, default_source: str = DEFAULT_SOURCE) -> TransactionEvent:
    """Decode the `data` field of a stream entry (JSON text) and validate it."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_EVENT_BYTES:
            raise EventValidationError({"data": f"event is larger than {MAX_EVENT_BYTES} bytes"})
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventValidationError({"data": f"not UTF-8 (byte {exc.start})"}) from None
    if len(raw) > MAX_EVENT_BYTES:
        raise EventValidationError({"data": f"event is larger than {MAX_EVENT_BYTES} bytes"})
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EventValidationError({"data": f"invalid JSON: {exc}"[:200]}) from None
    return validate_event(data, default_source=default_source)
