"""Transaction monitoring benchmark (Redis Streams + PostgreSQL on this machine).

Prints, each next to a baseline measured in the same run:
  1. throughput through the stream with all shipped rules, 1 consumer and 2 consumers,
     against bare XREADGROUP+XACK of the same entries (no processing);
  2. end-to-end latency (XADD to commit of the batch holding the entry and its alerts)
     with a producer pacing 500 tx/s;
  3. alert lookup by id (GET /api/v1/alerts/{id}, full Django stack in process) with
     --alerts alerts stored, against a bare primary-key SELECT;
  4. backtest speed of one rule over the stored transactions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_monitoring \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/monitoring.py

It works in a scratch database `<DATABASE_URL name>_bench` (dropped and re-created).
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


def _consume(stream: str, group: str, names: list[str], url: str, redis_url: str) -> list[str]:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "ERROR"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "consume_transactions",
                "--stream",
                stream,
                "--group",
                group,
                "--consumer",
                name,
                "--batch-size",
                "500",
                "--block-ms",
                "200",
                "--stop-when-idle",
                "3",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    return [p.communicate()[0] for p in procs]


def _stat(out: str, name: str) -> str:
    return out.split(f"{name}=")[1].split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description="Vigil monitoring benchmark")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()

    url = _scratch_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4")
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection

    from audit.context import Actor
    from monitoring.services import monitoring_seed_defaults
    from monitoring.synthetic import generate

    call_command("migrate", verbosity=0)
    monitoring_seed_defaults(actor=Actor.system("bench"))
    client = redis.Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:6]
    streams = []

    def feed(tag: str, n: int, accounts: int):
        # Each phase gets its own accounts so histories never mix between phases.
        events = generate(
            seed=zlib.crc32(tag.encode()) % 1000,
            accounts=accounts,
            days=60,
            instances=3,
            source=f"bench-{run}-{tag}",
            account_prefix=f"{tag}-",
        ).events
        return events[:n]

    def load(stream: str, events):
        streams.append(stream)
        pipe = client.pipeline(transaction=False)
        for i, event in enumerate(events, 1):
            pipe.xadd(stream, {"data": json.dumps(event)})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()

    print(
        f"scratch database {url.rsplit('/', 1)[1]}; redis {redis_url}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
    )
    try:
        # --- baseline: bare XREADGROUP + XACK --------------------------------------------
        events = feed("base", args.events, args.accounts)
        base_stream = f"bench-{run}-base"
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

        # --- throughput, 1 and 2 consumers ------------------------------------------------
        rates = {}
        for consumers in (1, 2):
            tag = f"tp{consumers}"
            stream = f"bench-{run}-{tag}"
            load(stream, feed(tag, args.events, args.accounts))
            outs = _consume(stream, "g", [f"c{i}" for i in range(consumers)], url, redis_url)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) "
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
            # received_at is stamped per batch: add one mean batch time for the last batch.
            span = float(span or 0) + float(span or 0) / max(1, count / 500)
            rates[consumers] = count / span if span else float("nan")
            print(
                f"throughput {consumers} consumer(s), all {11} rules: {count} tx in {span:.1f}s"
                f" = {rates[consumers]:,.0f} tx/s ({rates[consumers] / baseline:.3f} x "
                f"baseline); alerts {alerts}; entries per consumer "
                f"{[int(_stat(o, 'entries')) for o in outs]}"
            )
        print(f"scale-out 1 -> 2 consumers: x{rates[2] / rates[1]:.2f}")

        # --- latency at 500 tx/s ------------------------------------------------------------
        stream = f"bench-{run}-lat"
        streams.append(stream)
        events = feed("lat", int(500 * args.latency_seconds), 2000)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "ERROR"}
        client.xgroup_create(stream, "g", id="$", mkstream=True)
        proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "consume_transactions",
                "--stream",
                stream,
                "--group",
                "g",
                "--consumer",
                "l1",
                "--batch-size",
                "500",
                "--block-ms",
                "100",
                "--stop-when-idle",
                "3",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc.stderr.readline()  # "consumer l1 reading ...": started, before the clock runs
        time.sleep(0.5)

        def produce():
            start = time.perf_counter()
            for i, event in enumerate(events):
                target = start + i / 500
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.xadd(stream, {"data": json.dumps(event)})

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join()
        out = proc.communicate()[0]
        print(
            f"latency   XADD->commit at 500 tx/s ({len(events)} tx): "
            f"p50 {_stat(out, 'latency_p50_ms')} ms, p99 {_stat(out, 'latency_p99_ms')} ms "
            f"(targets 10 / 50 ms)"
        )

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
        from monitoring.models import Backtest
        from monitoring.services import backtest_execute

        for code in ("T1", "T4b"):
            version = Rule.objects.get(code=code).active_version
            run_row = Backtest.objects.create(rule_version=version)
            t0 = time.perf_counter()
            done = backtest_execute(backtest_id=run_row.pk)
            elapsed = time.perf_counter() - t0
            rate = done.transactions_scanned / elapsed
            print(
                f"backtest  {code} over {done.transactions_scanned:,} stored tx: "
                f"{elapsed:.1f}s = {rate:,.0f} tx/s -> 1,000,000 tx in "
                f"~{1_000_000 / rate / 60:.1f} min (target 5 min); "
                f"{done.alert_count} alerts"
            )
    finally:
        for stream in streams:
            client.delete(stream, f"{stream}:dead")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
