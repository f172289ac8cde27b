"""Labelled synthetic transaction feed: realistic background plus known typology instances.

Background accounts behave like retail customers (card spending, a monthly salary, some
cash and transfers, a few foreign counterparties). Each injected instance gets its own
account (some with history long before the feed starts, e.g. dormancy) and a label naming
the typology and the account, so a test can check every instance raises its alert and
count what the background raises.

    python bench/generate_transactions.py --accounts 500 --days 60 > feed.jsonl
    python bench/generate_transactions.py --redis redis://127.0.0.1:6379/4 --stream transactions
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitoring.sharding import stream_for, validate_shards

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COUNTRIES = ["US"] * 40 + ["GB", "DE", "CA", "MX", "FR", "NL", "JP"]
MERCHANTS = [
    "Acme Grocery",
    "Blue Bottle Cafe",
    "City Transit",
    "Northside Pharmacy",
    "Metro Fuel",
    "Riverside Books",
    "Green Leaf Market",
    "Harbor Hardware",
    "Sunrise Bakery",
    "Peak Fitness",
    "Lakeside Dental",
    "Union Utilities",
    "Evergreen Telecom",
    "Maple Insurance",
    "Orbit Cinema",
]
PEOPLE = [
    "Maria Gonzalez",
    "James Smith",
    "Wei Chen",
    "Fatima Khan",
    "Olivia Brown",
    "Lucas Martin",
    "Sofia Rossi",
    "Noah Wilson",
    "Aisha Bello",
    "Ethan Clark",
    "Hannah Muller",
    "Liam Murphy",
    "Yuki Tanaka",
    "Emma Dubois",
    "Mateo Silva",
    "Chloe Evans",
    "Arjun Patel",
    "Zoe Taylor",
]
EMPLOYERS = ["Globex Payroll", "Initech Payroll", "Umbrella Health", "Stark Logistics"]
SANCTIONED_NAME = "BANCO NACIONAL DE CUBA"  # on OFAC's SDN list since 1960s (CUBA program)

TYPOLOGY_KEYS = (
    "structuring",
    "funnel",
    "pass_through",
    "velocity",
    "velocity_spike",
    "high_risk_jurisdiction",
    "round_amounts",
    "dormant_reactivation",
    "ctr",
    "similar_amounts",
    "counterparty_sanctions",
)


@dataclass
class Label:
    """One injected instance: the typology expected to fire on `account_id`."""

    typology: str
    account_id: str
    customer_id: str
    transaction_ids: list[str] = field(default_factory=list)
    kind: str = "alert"  # alert | report (CTR)


@dataclass
class Feed:
    events: list[dict[str, Any]]
    labels: list[Label]
    background_accounts: set[str]


class _Builder:
    def __init__(self, rng: random.Random, source: str):
        self.rng = rng
        self.source = source
        self.events: list[dict[str, Any]] = []
        self.counter = 0
        self.id_prefix = ""

    def tx(
        self,
        *,
        account: str,
        customer: str,
        ts: dt.datetime,
        amount: Decimal | str,
        direction: str,
        channel: str,
        cp_name: str,
        cp_account: str = "",
        cp_country: str = "US",
        origin: str = "US",
        **extra: Any,
    ) -> dict[str, Any]:
        self.counter += 1
        event = {
            "id": f"{self.id_prefix}T{self.counter:09d}",
            "source": self.source,
            "timestamp": ts.isoformat().replace("+00:00", "Z"),
            "account_id": account,
            "customer_id": customer,
            "amount": str(Decimal(amount).quantize(Decimal("0.01"))),
            "currency": "USD",
            "direction": direction,
            "channel": channel,
            "counterparty_name": cp_name,
            "counterparty_account": cp_account or f"X-{zlib.crc32(cp_name.encode()):010d}",
            "counterparty_country": cp_country,
            "origin_country": origin,
        }
        event.update(extra)
        self.events.append(event)
        return event

    def money(self, low: float, high: float) -> Decimal:
        # Cents always present: background amounts are never accidentally round.
        value = Decimal(str(round(self.rng.uniform(low, high), 2)))
        if value % 1 == 0:
            value += Decimal("0.37")
        return value


def _background(b: _Builder, account: str, customer: str, start: dt.datetime, days: int):
    rng = b.rng
    rate = rng.uniform(1.0, 2.5)  # transactions per day
    salary = b.money(2200, 5200)
    pay_day = rng.randint(1, 27)
    for day in range(days):
        base = start + dt.timedelta(days=day)
        if base.day == pay_day:
            b.tx(
                account=account,
                customer=customer,
                ts=base + dt.timedelta(hours=6),
                amount=salary,
                direction="in",
                channel="ach",
                cp_name=rng.choice(EMPLOYERS),
            )
        n = _poisson(rng, rate)
        for _ in range(n):
            ts = base + dt.timedelta(seconds=rng.randint(7 * 3600, 23 * 3600))
            kind = rng.random()
            if kind < 0.75:
                b.tx(
                    account=account,
                    customer=customer,
                    ts=ts,
                    amount=b.money(4, 180),
                    direction="out",
                    channel="card",
                    cp_name=rng.choice(MERCHANTS),
                )
            elif kind < 0.85:
                b.tx(
                    account=account,
                    customer=customer,
                    ts=ts,
                    amount=b.money(20, 600),
                    direction=rng.choice(["in", "out"]),
                    channel="cash",
                    cp_name="",
                )
            else:
                country = rng.choice(COUNTRIES)
                b.tx(
                    account=account,
                    customer=customer,
                    ts=ts,
                    amount=b.money(50, 1500),
                    direction=rng.choice(["in", "out"]),
                    channel="wire" if country != "US" else "ach",
                    cp_name=rng.choice(PEOPLE),
                    cp_country=country,
                )


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; lam is small.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _inject(
    b: _Builder,
    typology: str,
    n: int,
    start: dt.datetime,
    days: int,
    prefix: str = "",
    ids: tuple[str, str] | None = None,
) -> Label:
    rng = b.rng
    account, customer = ids or (
        f"{prefix}INJ-{typology[:10].upper()}-{n:03d}",
        f"{prefix}CINJ-{typology[:10]}-{n:03d}",
    )
    label = Label(typology, account, customer)
    # Leave the first days for warm-up history where a rule needs it.
    first_day = max(1, days // 2)
    t0 = start + dt.timedelta(
        days=rng.randint(first_day, max(first_day, days - 8)), hours=rng.randint(8, 12)
    )
    ids = label.transaction_ids

    def add(**kw: Any) -> None:
        ids.append(b.tx(account=account, customer=customer, **kw)["id"])

    if typology == "structuring":
        for i, amount in enumerate([9400, 9650, 9100]):
            add(
                ts=t0 + dt.timedelta(days=i * 2, minutes=rng.randint(0, 300)),
                amount=b.money(amount, amount + 250),
                direction="in",
                channel="cash",
                cp_name="",
            )
    elif typology == "funnel":
        for i in range(6):
            add(
                ts=t0 + dt.timedelta(hours=10 * i),
                amount=b.money(1900, 2900),
                direction="in",
                channel="ach",
                cp_name=PEOPLE[i],
                cp_account=f"ORIG-{n}-{i}",
            )
    elif typology == "pass_through":
        amount = b.money(15000, 40000)
        add(ts=t0, amount=amount, direction="in", channel="wire", cp_name="Delta Trading Ltd")
        add(
            ts=t0 + dt.timedelta(hours=rng.randint(2, 20)),
            amount=amount * Decimal("0.95"),
            direction="out",
            channel="wire",
            cp_name="Omega Holdings",
            cp_country="AE",
        )
    elif typology == "velocity":
        for i in range(12):
            add(
                ts=t0 + dt.timedelta(minutes=25 * i),
                amount=b.money(20, 300),
                direction="out",
                channel="card",
                cp_name=rng.choice(MERCHANTS),
            )
    elif typology == "velocity_spike":
        # Quiet baseline from 100 days before: ~one card payment every 4 days.
        for d in range(0, 100, 4):
            add(
                ts=t0 - dt.timedelta(days=100 - d),
                amount=b.money(20, 120),
                direction="out",
                channel="card",
                cp_name=rng.choice(MERCHANTS),
            )
        for i in range(8):
            add(
                ts=t0 + dt.timedelta(hours=5 * i),
                amount=b.money(1500, 2500),
                direction="out",
                channel="card",
                cp_name=rng.choice(MERCHANTS),
            )
    elif typology == "high_risk_jurisdiction":
        add(
            ts=t0,
            amount=b.money(2000, 9000),
            direction="out",
            channel="wire",
            cp_name="Kish Trading Co",
            cp_country="IR",
        )
    elif typology == "round_amounts":
        for i, amount in enumerate([7000, 12000, 5000]):
            add(
                ts=t0 + dt.timedelta(days=5 * i),
                amount=Decimal(amount),
                direction="out",
                channel="wire",
                cp_name="Atlas Consulting",
                cp_country="GB",
            )
    elif typology == "dormant_reactivation":
        add(
            ts=t0 - dt.timedelta(days=300),
            amount=b.money(100, 400),
            direction="in",
            channel="ach",
            cp_name=rng.choice(EMPLOYERS),
        )
        add(
            ts=t0,
            amount=b.money(7000, 12000),
            direction="in",
            channel="wire",
            cp_name="Unknown Remitter",
            cp_country="US",
        )
    elif typology == "ctr":
        label.kind = "report"
        add(ts=t0, amount=b.money(5000, 6500), direction="in", channel="cash", cp_name="")
        add(
            ts=t0 + dt.timedelta(hours=3),
            amount=b.money(5200, 6800),
            direction="in",
            channel="cash",
            cp_name="",
        )
    elif typology == "similar_amounts":
        base = rng.uniform(2500, 6000)
        for i in range(3):
            add(
                ts=t0 + dt.timedelta(days=2 * i),
                amount=b.money(base * 0.97, base * 1.03),
                direction="out",
                channel="wire",
                cp_name=PEOPLE[i],
            )
    elif typology == "counterparty_sanctions":
        add(
            ts=t0,
            amount=b.money(800, 5000),
            direction="out",
            channel="wire",
            cp_name=SANCTIONED_NAME,
            cp_country="CU",
        )
    else:
        raise ValueError(f"unknown typology {typology}")
    return label


def generate(
    *,
    seed: int = 7,
    accounts: int = 200,
    days: int = 60,
    start: dt.datetime = START,
    instances: int = 2,
    typologies: tuple[str, ...] = TYPOLOGY_KEYS,
    late_fraction: float = 0.0,
    source: str = "synthetic",
    account_prefix: str = "",
    opaque_ids: bool = False,
) -> Feed:
    """Build the feed: events sorted by transaction time except `late_fraction` of them,
    which are moved later in the list (arrive late, out of order).

    Injected instances are named after their typology (INJ-FUNNEL-000), which a test
    reads at a glance; `opaque_ids` numbers them like the background accounts instead
    (ACC-000083, CUST-000083, in shuffled order), as the demo does, so that an id does
    not give away what an alert is about. The labels name the accounts either way."""
    rng = random.Random(seed)
    b = _Builder(rng, source)
    background = set()
    for i in range(accounts):
        account = f"{account_prefix}ACC-{i:06d}"
        background.add(account)
        _background(b, account, f"{account_prefix}CUST-{i:06d}", start, days)
    plan = [(typology, n) for typology in typologies for n in range(instances)]
    ids: list[tuple[str, str] | None] = [None] * len(plan)
    if opaque_ids:
        numbers = list(range(accounts, accounts + len(plan)))
        random.Random(seed + 1).shuffle(numbers)  # the feed's own draws stay as they are
        ids = [(f"{account_prefix}ACC-{k:06d}", f"{account_prefix}CUST-{k:06d}")
               for k in numbers]
    labels = [
        _inject(b, typology, n, start, days, account_prefix, ids[i])
        for i, (typology, n) in enumerate(plan)
    ]
    events = sorted(b.events, key=lambda e: (e["timestamp"], e["id"]))
    if late_fraction > 0:
        late = [e for e in events if rng.random() < late_fraction]
        late_ids = {e["id"] for e in late}
        events = [e for e in events if e["id"] not in late_ids]
        for event in late:
            events.insert(
                rng.randint(min(len(events), events_index(events, event) + 1), len(events)), event
            )
    return Feed(events=events, labels=labels, background_accounts=background)


def events_index(events: list[dict[str, Any]], event: dict[str, Any]) -> int:
    """Position where `event` would sit in time order."""
    lo, hi = 0, len(events)
    key = (event["timestamp"], event["id"])
    while lo < hi:
        mid = (lo + hi) // 2
        if (events[mid]["timestamp"], events[mid]["id"]) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--late-fraction", type=float, default=0.0)
    parser.add_argument("--redis", help="XADD to this Redis URL instead of printing JSONL")
    parser.add_argument("--stream", default="transactions")
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="write each event to STREAM:<CRC-32(account_id) mod N> (as the consumers' "
        "--shards N expect); 1 = the single stream STREAM",
    )
    parser.add_argument("--labels", help="write the labels as JSON to this file")
    args = parser.parse_args(argv)
    try:
        validate_shards(args.shards)
    except ValueError as exc:
        parser.error(f"--shards: {exc}")
    feed = generate(
        seed=args.seed,
        accounts=args.accounts,
        days=args.days,
        instances=args.instances,
        late_fraction=args.late_fraction,
    )
    if args.labels:
        with open(args.labels, "w", encoding="utf-8") as handle:
            json.dump([label.__dict__ for label in feed.labels], handle, indent=1)
    if args.redis:
        import redis

        client = redis.Redis.from_url(args.redis)
        pipe = client.pipeline(transaction=False)
        for i, event in enumerate(feed.events, 1):
            stream = stream_for(args.stream, event["account_id"], args.shards)
            pipe.xadd(stream, {"data": json.dumps(event)})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        where = args.stream if args.shards == 1 else f"{args.shards} shards of {args.stream}"
        print(f"{len(feed.events)} events added to {where}", file=sys.stderr)
    else:
        for event in feed.events:
            sys.stdout.write(json.dumps(event) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
