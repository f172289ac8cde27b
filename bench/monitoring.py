"""Transaction monitoring benchmark (Redis Streams + PostgreSQL on this machine).

Prints, each next to a baseline measured in the same run:
  1. throughput through the stream with all shipped rules: 1 and 2 consumers on a feed
     sharded by account (--shards, each consumer leases its share of the shards), and 2
     consumers sharing one unsharded stream (the old layout), against bare
     XREADGROUP+XACK of the same entries (no processing);
  2. end-to-end latency (XADD to commit of the batch holding the entry and its alerts)
     with a producer pacing 500 tx/s, p50/p95/p99;
     (1 and 2 are repeated for every --seal-modes value: the audit ledger's inline chain
     lock or background sealing);
  3. alert lookup by id (GET /api/v1/alerts/{id}, full Django stack in process) with
     --alerts alerts stored, against a bare primary-key SELECT;
  4. backtest of T1 and T4b over the stored transactions, after storing one complete
     labelled 60-day feed (--backtest-accounts background accounts plus 3 injected
     instances of every typology): speed, and alerts found against the instances injected.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_monitoring \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/monitoring.py \\
    --seal-modes inline,background

Consumers are started first and the feed is written once they hold their shards, as in
production where consumers run before traffic arrives. It works in a scratch database
`<DATABASE_URL name>_bench` (dropped and re-created).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _scratch_database() -> str:
    import psycopg

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_monitoring")
    parsed = urlparse(url)
    name = parsed.path.lstrip("/") + "_bench"
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed._replace(path=f"/{name}").geturl()


def _start_consumers(
    stream: str, names: list[str], *, shards: int, block_ms: int, env: dict
) -> list[subprocess.Popen]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "consume_transactions",
                "--stream",
                stream,
                "--shards",
                str(shards),
                "--lease-ms",
                "3000",
                "--group",
                "g",
                "--consumer",
                name,
                "--batch-size",
                "500",
                "--block-ms",
                str(block_ms),
                "--stop-when-idle",
                "5",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for proc in procs:  # "consumer c0 reading ...": set up, about to read
        line = proc.stderr.readline()
        if "reading" not in line:
            raise SystemExit(f"consumer failed to start: {line}{proc.stderr.read()}")
    return procs


def _wait_for_shards(client, stream: str, names: list[str], shards: int) -> None:
    """Until every shard is leased and every consumer holds some."""
    from monitoring.sharding import ShardLeases

    if shards == 1:
        time.sleep(0.5)
        return
    observer = ShardLeases(client=client, stream=stream, group="g", consumer="-", shards=shards)
    deadline = time.time() + 60
    while time.time() < deadline:
        owners = observer.owners()
        if None not in owners.values() and set(owners.values()) == set(names):
            return
        time.sleep(0.05)
    raise SystemExit(f"consumers {names} never split the {shards} shards: {owners}")


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"consumer failed ({proc.returncode}): {err[-2000:]}")
        outs.append(out)
    return outs


def _stat(out: str, name: str) -> str:
    return out.split(f"{name}=")[1].split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description="Vigil monitoring benchmark")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument(
        "--seal-modes",
        default="inline,background",
        help="comma-separated AUDIT_SEAL_MODE values to measure throughput and latency with",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="throughput runs per configuration (median)"
    )
    parser.add_argument(
        "--backtest-accounts",
        type=int,
        default=1000,
        help="background accounts of the complete labelled feed stored for the backtest",
    )
    parser.add_argument("--skip-lookup", action="store_true", help="skip phases 3 and 4")
    args = parser.parse_args()
    modes = [m.strip() for m in args.seal_modes.split(",") if m.strip()]
    if not modes or set(modes) - {"inline", "background"}:
        parser.error("--seal-modes: a comma-separated list of inline and background")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.shards < 2:
        parser.error("--shards must be at least 2 (the unsharded layout is measured anyway)")

    url = _scratch_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4")
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from audit.context import Actor
    from monitoring.services import monitoring_seed_defaults
    from monitoring.sharding import shard_streams, stream_for
    from monitoring.synthetic import generate

    if "background" in modes and not hasattr(settings, "AUDIT_SEAL_MODE"):
        parser.error("this checkout has no AUDIT_SEAL_MODE setting: measure inline only")
    call_command("migrate", verbosity=0)
    monitoring_seed_defaults(actor=Actor.system("bench"))
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    streams = []

    def feed(tag: str, n: int, accounts: int):
        # Each phase gets its own accounts so histories never mix between phases. The first
        # n events in time order are background traffic of the first days: the injected
        # instances lie in the second half of the 60 days (the backtest stores its own feed).
        events = generate(
            seed=zlib.crc32(tag.encode()) % 1000,
            accounts=accounts,
            days=60,
            instances=3,
            source=f"bench-{run}-{tag}",
            account_prefix=f"{tag}-",
        ).events
        return events[:n]

    def prepare(stream: str, shards: int) -> None:
        for name in shard_streams(stream, shards):
            streams.append(name)
            client.xgroup_create(name, "g", id="0", mkstream=True)

    def load(stream: str, events, shards: int = 1):
        pipe = client.pipeline(transaction=False)
        for i, event in enumerate(events, 1):
            pipe.xadd(stream_for(stream, event["account_id"], shards), {"data": json.dumps(event)})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()

    print(
        f"scratch database {url.rsplit('/', 1)[1]}; redis {redis_url}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; "
        f"{args.events} events over {args.accounts} accounts per throughput phase"
    )
    try:
        # --- baseline: bare XREADGROUP + XACK --------------------------------------------
        events = feed("base", args.events, args.accounts)
        base_stream = f"bench-{run}-base"
        streams.append(base_stream)
        load(base_stream, events)
        client.xgroup_create(base_stream, "g", id="0")
        started = time.perf_counter()
        seen = 0
        while True:
            reply = client.xreadgroup("g", "b1", {base_stream: ">"}, count=500)
            if not reply or not reply[0][1]:
                break
            ids = [entry_id for entry_id, _ in reply[0][1]]
            for _, fields in reply[0][1]:
                json.loads(fields[b"data"])
            client.xack(base_stream, "g", *ids)
            seen += len(ids)
        baseline = seen / (time.perf_counter() - started)
        print(f"baseline  bare XREADGROUP+XACK (+json.loads): {baseline:,.0f} entries/s")

        for mode in modes:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "LOG_LEVEL": "ERROR",
                "AUDIT_SEAL_MODE": mode,
            }
            # --- throughput: 1 and 2 consumers, sharded; 2 on one stream -------------------
            # Repeated in turn (1, 2, 2 on one stream, 1, ...) so that a neighbour's load
            # hits every configuration alike; the medians are compared.
            rates: dict[tuple[int, int], list[float]] = {}
            for repeat in range(args.repeat):
                for consumers, shards in ((1, args.shards), (2, args.shards), (2, 1)):
                    tag = f"tp{consumers}s{shards}{mode[0]}{repeat}"
                    stream = f"bench-{run}-{tag}"
                    prepare(stream, shards)
                    events = feed(tag, args.events, args.accounts)  # before consumers' clock
                    names = [f"c{i}" for i in range(consumers)]
                    procs = _start_consumers(stream, names, shards=shards, block_ms=200, env=env)
                    _wait_for_shards(client, stream, names, shards)
                    load(stream, events, shards)
                    outs = _finish(procs)
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT count(*), "
                            "extract(epoch FROM max(received_at) - min(received_at)) "
                            "FROM monitoring_transaction WHERE source = %s",
                            [f"bench-{run}-{tag}"],
                        )
                        count, span = cursor.fetchone()
                        cursor.execute(
                            "SELECT count(*) FROM monitoring_alert a JOIN "
                            "monitoring_transaction t ON t.id = a.transaction_id "
                            "WHERE t.source = %s",
                            [f"bench-{run}-{tag}"],
                        )
                        alerts = cursor.fetchone()[0]
                    # received_at is stamped per batch: add one mean batch time for the last.
                    batches = sum(int(_stat(o, "batches")) for o in outs) / consumers
                    span = float(span or 0) * (1 + 1 / max(1.0, batches - 1))
                    rate = count / span if span else float("nan")
                    rates.setdefault((consumers, shards), []).append(rate)
                    cpu = sum(float(_stat(o, "cpu_s")) for o in outs)
                    layout = f"{shards} shards" if shards > 1 else "one stream"
                    print(
                        f"[{mode}] throughput {consumers} consumer(s), {layout}, all 11 rules: "
                        f"{count} tx in {span:.1f}s = {rate:,.0f} tx/s ({rate / baseline:.3f} x "
                        f"baseline); consumer CPU {cpu * 1000 / max(1, count):.2f} ms/tx; "
                        f"alerts {alerts}; entries per consumer "
                        f"{[int(_stat(o, 'entries')) for o in outs]}; load average "
                        f"{os.getloadavg()[0]:.1f}"
                    )
            median = {key: statistics.median(values) for key, values in rates.items()}
            one = median[(1, args.shards)]
            print(
                f"[{mode}] medians of {args.repeat}: 1 consumer {one:,.0f} tx/s, 2 consumers "
                f"{median[(2, args.shards)]:,.0f} tx/s on {args.shards} shards, "
                f"{median[(2, 1)]:,.0f} tx/s on one stream; scale-out 1 -> 2 consumers: "
                f"x{median[(2, args.shards)] / one:.2f} sharded, x{median[(2, 1)] / one:.2f} "
                f"on one stream"
            )

            # --- latency at 500 tx/s ------------------------------------------------------
            tag = f"lat{mode[0]}"
            stream = f"bench-{run}-{tag}"
            prepare(stream, args.shards)
            events = feed(tag, int(500 * args.latency_seconds), 2000)
            (proc,) = _start_consumers(stream, ["l1"], shards=args.shards, block_ms=100, env=env)
            _wait_for_shards(client, stream, ["l1"], args.shards)

            def produce(stream=stream, events=events):
                start = time.perf_counter()
                for i, event in enumerate(events):
                    target = start + i / 500
                    delay = target - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    client.xadd(
                        stream_for(stream, event["account_id"], args.shards),
                        {"data": json.dumps(event)},
                    )

            producer = threading.Thread(target=produce)
            producer.start()
            producer.join()
            (out,) = _finish([proc])
            entries, batches = int(_stat(out, "entries")), int(_stat(out, "batches"))
            print(
                f"[{mode}] latency XADD->commit at 500 tx/s ({len(events)} tx, "
                f"{args.shards} shards, 1 consumer): p50 {_stat(out, 'latency_p50_ms')} ms, "
                f"p95 {_stat(out, 'latency_p95_ms')} ms, p99 {_stat(out, 'latency_p99_ms')} ms "
                f"(targets 10 / 50 ms); {batches} batches, mean {entries / batches:.1f} entries"
            )
        if "background" in modes:
            from audit.services import ledger_seal_pending

            print(f"sealed {ledger_seal_pending()} ledger entries still pending at the end")
        if args.skip_lookup:
            return 0

        # --- alert lookup with many alerts ----------------------------------------------
        from django.test import Client

        from config.accounts.services import user_create_with_role
        from monitoring.models import Alert, Rule, RuleVersion, Transaction

        # Enough (rule version, transaction) pairs for --alerts unique synthetic alerts.
        filler = Rule.objects.create(
            code=f"BENCH-{run}", typology="velocity", title="bench filler", enabled=False
        )
        tx_count = max(1, Transaction.objects.count())
        for number in range(1, args.alerts // tx_count + 2):
            RuleVersion.objects.create(
                rule=filler, version=number, params={}, severity="low", status="superseded"
            )
        with connection.cursor() as cursor:
            existing = Alert.objects.count()
            missing = max(0, args.alerts - existing)
            # Synthetic alerts: every (rule version, transaction) pair is unique, the trace is
            # a real one copied (so rows have realistic width).
            cursor.execute("SELECT trace FROM monitoring_alert LIMIT 1")
            row = cursor.fetchone()
            trace = row[0] if row else "{}"
            cursor.execute(
                """
                INSERT INTO monitoring_alert (rule_version_id, rule_code, typology,
                    transaction_id, account_id, customer_id, severity, priority,
                    transaction_time, trace, created_at)
                SELECT v.id, 'BENCH', 'bench', t.id, t.account_id, t.customer_id, 'low', 10,
                       t.timestamp, %s::jsonb, now()
                FROM monitoring_ruleversion v CROSS JOIN monitoring_transaction t
                LIMIT %s ON CONFLICT DO NOTHING
            """,
                [trace if isinstance(trace, str) else json.dumps(trace), missing],
            )
            cursor.execute("ANALYZE monitoring_alert")
            total = Alert.objects.count()
            cursor.execute("SELECT min(id), max(id) FROM monitoring_alert")
            low, high = cursor.fetchone()
        user = user_create_with_role(
            username=f"bench-auditor-{run}", role="auditor", password=f"bench-{run}-Pa55word!x"
        )
        web = Client()
        web.force_login(user)
        ids = [random.randint(low, high) for _ in range(400)]
        api, bare = [], []
        for alert_id in ids:
            t0 = time.perf_counter()
            response = web.get(f"/api/v1/alerts/{alert_id}")
            api.append((time.perf_counter() - t0) * 1000)
            assert response.status_code in (200, 404)
            t0 = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM monitoring_alert WHERE id = %s", [alert_id])
                cursor.fetchall()
            bare.append((time.perf_counter() - t0) * 1000)

        def p95(values):
            return statistics.quantiles(values, n=20)[18]

        print(
            f"lookup    GET /api/v1/alerts/{{id}} with {total:,} alerts: p50 "
            f"{statistics.median(api):.1f} ms, p95 {p95(api):.1f} ms (target 50 ms); "
            f"bare SELECT by pk p95 {p95(bare):.2f} ms (x{p95(api) / p95(bare):.0f})"
        )

        # --- backtest -------------------------------------------------------------------
        from audit.context import audit_context
        from monitoring.models import Backtest
        from monitoring.rules.schema import validate_event
        from monitoring.services import backtest_execute, transactions_ingest

        # The feeds of phases 1-2 are cut to their first days, before any injected
        # instance: store one complete labelled feed so the backtest has something to find.
        # Stored without live rules (rules=[]): evaluating it is the backtest's job.
        labelled = generate(
            seed=zlib.crc32(b"backtest") % 1000,
            accounts=args.backtest_accounts,
            days=60,
            instances=3,
            source=f"bench-{run}-bt",
            account_prefix="bt-",
        )
        with audit_context(actor=Actor.system("bench"), reason="backtest feed"):
            for start in range(0, len(labelled.events), 5000):
                batch = labelled.events[start : start + 5000]
                transactions_ingest(events=[validate_event(e) for e in batch], rules=[])
        print(
            f"backtest  feed: {len(labelled.events):,} tx over {args.backtest_accounts} "
            f"background accounts and {len(labelled.labels)} injected instances stored "
            f"(60 days; {Transaction.objects.count():,} stored tx in all)"
        )
        for code in ("T1", "T4b"):
            rule = Rule.objects.get(code=code)
            run_row = Backtest.objects.create(rule_version=rule.active_version)
            t0 = time.perf_counter()
            done = backtest_execute(backtest_id=run_row.pk)
            elapsed = time.perf_counter() - t0
            rate = done.transactions_scanned / elapsed
            # by_customer holds the top 100 customers: complete when it holds fewer.
            alerted = {row["customer_id"]: row["alerts"] for row in done.by_customer}
            injected = [label for label in labelled.labels if label.typology == rule.typology]
            found = sum(1 for label in injected if label.customer_id in alerted)
            on_injected = sum(alerted.get(label.customer_id, 0) for label in injected)
            bound = "" if len(alerted) < 100 else " (top-100 customers only: lower bound)"
            print(
                f"backtest  {code} over {done.transactions_scanned:,} stored tx: "
                f"{elapsed:.1f}s = {rate:,.0f} tx/s -> 1,000,000 tx in "
                f"~{1_000_000 / rate / 60:.1f} min (target 5 min); "
                f"{done.alert_count} alerts: {found} of {len(injected)} injected "
                f"{rule.typology} instances found{bound} ({on_injected} alerts on them), "
                f"{done.alert_count - on_injected} on other accounts"
            )
    finally:
        for stream in streams:
            client.delete(stream, f"{stream}:dead")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
