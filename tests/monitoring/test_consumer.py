"""Stream consumer against real Redis and PostgreSQL: dead letters, SIGKILL mid-batch
with replay, two consumers sharing a group, and a Redis restart (on a private
redis-server; the shared one is never touched)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db.models import Count, Sum

from monitoring.models import Alert, CtrReport, DeadLetter, Transaction
from monitoring.rules.engine import evaluate_history
from monitoring.rules.schema import validate_event
from monitoring.sharding import ShardLeases, shard_streams, stream_for
from monitoring.synthetic import generate
from tests.monitoring.conftest import make_event

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stream(redis_client):
    name = f"test-tx-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(name, f"{name}:dead", *shard_streams(name, 8))
    for key in redis_client.scan_iter(f"{name}:lease:*"):
        redis_client.delete(key)


def _db_url() -> str:
    db = settings.DATABASES["default"]
    return (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )


def _consumer(
    stream: str,
    name: str,
    *,
    redis_url: str,
    idle: float = 3.0,
    batch: int = 50,
    claim_ms: int = 1000,
    log: Path | None = None,
    shards: int = 1,
    lease_ms: int = 10_000,
):
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(),
        "REDIS_URL": redis_url,
        "VIGIL_ENV": "test",
        "LOG_LEVEL": "ERROR",
    }
    out = log.open("a") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_transactions",
            "--stream",
            stream,
            "--group",
            "g",
            "--consumer",
            name,
            "--batch-size",
            str(batch),
            "--block-ms",
            "200",
            "--claim-idle-ms",
            str(claim_ms),
            "--stop-when-idle",
            str(idle),
            "--shards",
            str(shards),
            "--lease-ms",
            str(lease_ms),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
    )


def _produce(
    client: redis.Redis, stream: str, events: list[dict], *, pace: float = 0.0, shards: int = 1
):
    pipe = client.pipeline(transaction=False)
    for i, event in enumerate(events, 1):
        pipe.xadd(stream_for(stream, event["account_id"], shards), {"data": json.dumps(event)})
        if i % 100 == 0:
            pipe.execute()
            if pace:
                time.sleep(pace)
    pipe.execute()


def _aggregates() -> dict:
    txs = Transaction.objects.aggregate(n=Count("id"), total=Sum("amount"))
    ctr = {
        (r.account_id, r.business_day): (r.cash_in, r.cash_out, r.transaction_count)
        for r in CtrReport.objects.all()
    }
    return {"tx": (txs["n"], txs["total"]), "ctr": ctr}


def _alert_keys() -> list[tuple[str, str]]:
    return sorted(Alert.objects.values_list("rule_code", "transaction__external_id"))


@pytest.mark.django_db(transaction=True)
def test_consumer_ingests_and_dead_letters_malformed(redis_client, stream, seeded):
    from monitoring.consumer import StreamConsumer

    good = make_event(amount="9500", channel="cash")
    redis_client.xadd(stream, {"data": json.dumps(good)})
    redis_client.xadd(stream, {"data": "{not json"})
    redis_client.xadd(stream, {"data": json.dumps({**make_event(), "amount": 12.5})})
    redis_client.xadd(stream, {"other": "x"})
    consumer = StreamConsumer(
        client=redis_client, stream=stream, group="g", consumer="c1", block_ms=100
    )
    consumer.run(stop_when_idle=0.3)
    assert Transaction.objects.filter(external_id=good["id"]).exists()
    letters = {d.reason.split(":")[0] for d in DeadLetter.objects.filter(stream=stream)}
    assert DeadLetter.objects.filter(stream=stream).count() == 3
    assert letters == {"invalid event", "entry has no 'data' field"}
    float_letter = DeadLetter.objects.get(stream=stream, errors__has_key="amount")
    assert "decimal string" in float_letter.errors["amount"]
    assert redis_client.xlen(f"{stream}:dead") == 3
    assert redis_client.xpending(stream, "g")["pending"] == 0
    # A second pass over the same entries (new group) changes nothing.
    before = (Transaction.objects.count(), DeadLetter.objects.count())
    StreamConsumer(client=redis_client, stream=stream, group="g2", consumer="c1", block_ms=100).run(
        stop_when_idle=0.3
    )
    assert (Transaction.objects.count(), DeadLetter.objects.count()) == before


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_batch_then_replay_loses_and_duplicates_nothing(
    redis_client, stream, seeded, tmp_path
):
    feed = generate(seed=21, accounts=12, days=30, instances=1, source=stream)
    events = feed.events
    url = os.environ["REDIS_URL"]
    producer = threading.Thread(
        # Paced to outlast the three kill cycles whatever the machine speed.
        target=_produce,
        args=(redis_client, stream, events),
        kwargs={"pace": 1.0},
    )
    producer.start()
    kills = 0
    # Same consumer name each time (a restarted pod): it re-reads its own pending first.
    while kills < 3:
        proc = _consumer(stream, "c1", redis_url=url, batch=20, log=tmp_path / "c.log")
        time.sleep(1.3 + kills * 0.3)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    producer.join()
    assert Transaction.objects.count() < len(events)  # the kills really interrupted it
    final = _consumer(stream, "c1", redis_url=url, idle=2.0)
    final.communicate(timeout=180)
    assert redis_client.xpending(stream, "g")["pending"] == 0
    first_pass = (_alert_keys(), _aggregates())
    assert Transaction.objects.count() == len(events)

    # Replay the whole stream through a fresh group: nothing may change.
    replay = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "consume_transactions",
            "--stream",
            stream,
            "--group",
            "replay",
            "--consumer",
            "r1",
            "--batch-size",
            "200",
            "--block-ms",
            "200",
            "--stop-when-idle",
            "1.5",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "DATABASE_URL": _db_url(),
            "REDIS_URL": url,
            "VIGIL_ENV": "test",
            "LOG_LEVEL": "ERROR",
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert f"duplicates={len(events)}" in replay.stdout
    assert (_alert_keys(), _aggregates()) == first_pass

    # And it equals a clean run: brute force over the complete history, in memory.
    from monitoring.rules.findings import EvalContext
    from monitoring.services import active_rule_configs, default_screen, jurisdiction_lists

    parsed = [validate_event(e) for e in events]
    clean = evaluate_history(
        parsed,
        active_rule_configs(),
        EvalContext(screen=default_screen(), jurisdictions=jurisdiction_lists()),
    )
    assert first_pass[0] == sorted((f.rule.code, f.anchor.id) for f in clean.findings)
    assert {k: v[:2] for k, v in first_pass[1]["ctr"].items()} == {
        (r.account_id, r.business_day): (r.cash_in, r.cash_out) for r in clean.reports
    }
    assert first_pass[1]["tx"] == (len(events), sum(Decimal(e["amount"]) for e in events))
    assert len(first_pass[0]) >= 5


@pytest.mark.django_db(transaction=True)
def test_two_consumers_share_the_group_and_process_each_event_once(redis_client, stream, seeded):
    feed = generate(seed=4, accounts=10, days=10, instances=0, source=stream)
    url = os.environ["REDIS_URL"]
    procs = [
        _consumer(stream, name, redis_url=url, idle=3.0, batch=10, claim_ms=60_000)
        for name in ("c1", "c2")
    ]
    # Produce only once both are reading: a consumer that starts late would otherwise find
    # the feed already consumed by the other (a race of process start-up, not of sharing).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            names = {c["name"] for c in redis_client.xinfo_consumers(stream, "g")}
        except redis.ResponseError:
            names = set()
        if {"c1", "c2"} <= {n.decode() if isinstance(n, bytes) else n for n in names}:
            break
        time.sleep(0.05)
    _produce(redis_client, stream, feed.events)
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    counts = [int(out.split("entries=")[1].split()[0]) for out in outputs]
    inserted = [int(out.split("inserted=")[1].split()[0]) for out in outputs]
    assert all(c > 0 for c in counts), outputs
    assert sum(counts) == len(feed.events) and sum(inserted) == len(feed.events)
    assert Transaction.objects.count() == len(feed.events)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, data_dir: Path):
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("private redis-server did not start")


@pytest.mark.django_db(transaction=True)
def test_consumer_survives_redis_restart(stream, seeded, tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server binary not installed")
    port = _free_port()
    server = _start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis(port=port)
    feed = generate(seed=9, accounts=6, days=15, instances=0, source=stream)
    half = len(feed.events) // 2
    try:
        _produce(client, stream, feed.events[:half])
        proc = _consumer(stream, "c1", redis_url=url, idle=5.0)
        deadline = time.time() + 120
        while Transaction.objects.count() < half and time.time() < deadline:
            time.sleep(0.2)
        assert Transaction.objects.count() == half
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        time.sleep(1.0)  # the consumer sees connection errors meanwhile
        server = _start_redis(port, tmp_path)
        _produce(client, stream, feed.events[half:])
        out = proc.communicate(timeout=180)[0]
        assert Transaction.objects.count() == len(feed.events)
        assert int(out.split("reconnects=")[1].split()[0]) >= 1, out
    finally:
        server.kill()
        server.wait()


@pytest.mark.django_db
def test_screening_failure_keeps_batch_pending_not_dead_lettered(
    redis_client, stream, seeded, monkeypatch
):
    import monitoring.services as services
    from monitoring.consumer import StreamConsumer
    from monitoring.services import ScreeningUnavailable

    def broken(name, country):
        raise ConnectionError("screening index not loaded")

    monkeypatch.setattr(services, "_configured_screen", lambda: broken)
    redis_client.xadd(stream, {"data": json.dumps(make_event(cp_name="Acme"))})
    consumer = StreamConsumer(
        client=redis_client, stream=stream, group="g", consumer="c1", block_ms=100
    )
    consumer.ensure_group()
    entries = consumer._fetch() or consumer._fetch()
    with pytest.raises(ScreeningUnavailable):
        consumer.process(entries)
    assert not Transaction.objects.exists() and not DeadLetter.objects.exists()
    assert redis_client.xpending(stream, "g")["pending"] == 1


def _stream_counts(output: str) -> dict[str, int]:
    field = output.split("streams=")[1].split()[0]
    if field == "-":
        return {}
    return {name: int(n) for name, n in (item.rsplit(":", 1) for item in field.split(","))}


def _wait_for_split(client, stream: str, names: set[str], shards: int) -> dict[str, str]:
    """Until every shard is held and each consumer holds some (read-only: never joins)."""
    observer = ShardLeases(client=client, stream=stream, group="g", consumer="-", shards=shards)
    deadline = time.time() + 90
    while time.time() < deadline:
        owners = observer.owners()
        if None not in owners.values() and set(owners.values()) == names:
            return owners
        time.sleep(0.1)
    raise AssertionError(f"shards never split between {names}: {owners}")


@pytest.mark.django_db(transaction=True)
def test_sharded_consumers_split_the_shards_and_each_reads_only_its_own(
    redis_client, stream, seeded
):
    feed = generate(seed=5, accounts=24, days=10, instances=0, source=stream)
    url = os.environ["REDIS_URL"]
    procs = [
        _consumer(stream, name, redis_url=url, idle=4.0, batch=20, shards=4, lease_ms=2000)
        for name in ("c1", "c2")
    ]
    owners = _wait_for_split(redis_client, stream, {"c1", "c2"}, 4)
    _produce(redis_client, stream, feed.events, shards=4)
    outputs = dict(zip(("c1", "c2"), (p.communicate(timeout=180)[0] for p in procs), strict=True))
    read = {name: _stream_counts(out) for name, out in outputs.items()}
    # Each shard was read by its lease holder only: no account was shared.
    for name, counts in read.items():
        assert counts and set(counts) == {s for s, owner in owners.items() if owner == name}
    expected = {}
    for event in feed.events:
        shard = stream_for(stream, event["account_id"], 4)
        expected[shard] = expected.get(shard, 0) + 1
    assert {**read["c1"], **read["c2"]} == expected
    assert Transaction.objects.count() == len(feed.events)
    assert all(redis_client.xpending(s, "g")["pending"] == 0 for s in shard_streams(stream, 4))


@pytest.mark.django_db(transaction=True)
def test_sharded_consumer_killed_its_shards_and_pending_pass_to_the_survivor(
    redis_client, stream, seeded
):
    feed = generate(seed=21, accounts=16, days=30, instances=1, source=stream)
    url = os.environ["REDIS_URL"]
    procs = {
        name: _consumer(stream, name, redis_url=url, idle=6.0, batch=10, shards=4, lease_ms=1000)
        for name in ("c1", "c2")
    }
    owners = _wait_for_split(redis_client, stream, {"c1", "c2"}, 4)
    producer = threading.Thread(
        target=_produce,
        args=(redis_client, stream, feed.events),
        kwargs={"pace": 0.4, "shards": 4},  # still writing after the take-over
    )
    producer.start()
    time.sleep(1.0)
    assert procs["c2"].poll() is None  # still consuming when killed
    os.kill(procs["c2"].pid, signal.SIGKILL)
    procs["c2"].wait()
    producer.join()
    out = procs["c1"].communicate(timeout=180)[0]
    # The survivor took the dead consumer's shards over (and read from them).
    assert set(_stream_counts(out)) == set(owners), out
    assert all(redis_client.xpending(s, "g")["pending"] == 0 for s in shard_streams(stream, 4))
    assert Transaction.objects.count() == len(feed.events)

    from monitoring.rules.findings import EvalContext
    from monitoring.services import active_rule_configs, default_screen, jurisdiction_lists

    clean = evaluate_history(
        [validate_event(e) for e in feed.events],
        active_rule_configs(),
        EvalContext(screen=default_screen(), jurisdictions=jurisdiction_lists()),
    )
    assert _alert_keys() == sorted((f.rule.code, f.anchor.id) for f in clean.findings)
    assert len(clean.findings) >= 3


@pytest.mark.django_db
def test_screening_memo_survives_rule_refreshes_until_the_lists_change(
    redis_client, stream, seeded, monkeypatch
):
    import monitoring.consumer as consumer_module
    import monitoring.services as services
    from monitoring.consumer import StreamConsumer

    calls = []

    def screen(name, country):
        calls.append(name)
        return []

    monkeypatch.setattr(services, "_configured_screen", lambda: screen)
    lists = [(1, 2)]
    monkeypatch.setattr(consumer_module, "screening_lists_key", lambda: lists[0])
    consumer = StreamConsumer(
        client=redis_client, stream=stream, group="g", consumer="c1", config_ttl=-1
    )
    consumer._rules()[1].screen("Acme", "US")
    consumer._rules()[1].screen("Acme", "US")  # refreshed, same list versions: memo kept
    assert calls == ["Acme"]
    lists[0] = (1, 3)  # a new list version became active: screen again
    consumer._rules()[1].screen("Acme", "US")
    assert calls == ["Acme", "Acme"]


@pytest.mark.django_db
def test_screening_lists_key_follows_the_default_function_only(settings):
    from monitoring.services import screening_lists_key
    from screening.lists.selectors import active_versions

    assert screening_lists_key() == tuple(sorted(v.pk for v in active_versions()))
    settings.MONITORING_SCREEN_FUNCTION = "tests.monitoring.conftest.make_event"
    assert screening_lists_key() is None
