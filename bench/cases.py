"""Case management under load: 100,000 cases with their history in PostgreSQL.

Measures server time (the full Django request: middleware, selectors, templates) of the
inbox, search and case pages and the case list API through the test client, p50/p95 over
repeated requests, next to a baseline measured in the same run (the trivial `/healthz`
view and a one-row query), and prints the ratio to that baseline and the targets
(inbox/search p95 < 150 ms, case page p95 < 200 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_cases_bench \\
        .venv/bin/python bench/cases.py [--cases 100000] [--repeat 30] [--reload]

The data: 20,000 customers; cases over 180 days in every queue, about a third of them open
(the rest closed history) and the assigned ones shared by 50 analysts, each with one
evidence row (screening match or alert), 3 history rows and 3 ledger rows inserted in bulk
with SQL (the bench database is throwaway: its ledger rows carry placeholder hashes); 200
cases worked through the real services so their case pages have a genuine timeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_cases_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("VIGIL_ENV", "test")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("REDIS_URL", "")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

SQL_LOAD = """
INSERT INTO cases_customer (external_id, name, dob, country, entity_type, data, created_at)
SELECT 'BC-' || lpad(g::text, 6, '0'),
       (ARRAY['Ivan','Maria','Ali','Chen','Olena','John','Fatima','Kim','Pedro','Anna'])[1 + g %% 10]
       || ' ' || (ARRAY['Petrov','Gonzalez','Hassan','Wei','Kovalenko','Smith','Al-Sayed',
                        'Jong','Silva','Novak','Okafor','Tanaka'])[1 + (g / 10) %% 12]
       || ' ' || g::text,
       '1970-01-01', 'GB', 'person', '{}'::jsonb, now()
FROM generate_series(1, %(customers)s) g;

INSERT INTO cases_case (reference, source, state, priority, title, summary, subject_type,
    subject_id, dedupe_key, customer_id, disposition, rationale, opened_at, updated_at,
    closed_at, version, escalated_at, detected_at, suspect_identified, due_at, search_text,
    assignee_id)
SELECT 'B-' || lpad(g::text, 7, '0'),
       (ARRAY['screening','monitoring','monitoring','enrichment'])[1 + g %% 4],
       (ARRAY['new','assigned','investigating','escalated','pending_approval','closed','closed',
              'closed','closed','closed','closed','closed','closed','closed','closed',
              'closed'])[1 + (g * 7) %% 16],
       (g * 37) %% 101,
       CASE WHEN g %% 4 = 0 THEN 'Possible ofac-sdn match: ' || c.name
            ELSE 'RULE-' || (g %% 12)::text || ' alert for ' || c.external_id END,
       '', 'customer', c.external_id, '', c.id,
       CASE WHEN (g * 7) %% 16 >= 5 THEN 'false_positive' ELSE '' END, '',
       now() - ((g %% 180) || ' days')::interval - ((g %% 1440) || ' minutes')::interval,
       now(),
       CASE WHEN (g * 7) %% 16 >= 5 THEN now() - ((g %% 30) || ' days')::interval END,
       3, NULL,
       now() - ((g %% 180) || ' days')::interval,
       true,
       now() - ((g %% 180) || ' days')::interval + interval '30 days',
       lower('B-' || lpad(g::text, 7, '0') || ' ' || c.name || ' ' || c.external_id || ' '
             || CASE WHEN g %% 4 = 0 THEN 'ofac-' || (g %% 5000)::text
                     ELSE 'rule-' || (g %% 12)::text END),
       CASE WHEN (g * 7) %% 16 BETWEEN 1 AND 4 THEN (%(assignees)s::bigint[])[1 + g %% 50] END
FROM generate_series(1, %(cases)s) g
JOIN cases_customer c ON c.external_id = 'BC-' || lpad((1 + g %% %(customers)s)::text, 6, '0');

INSERT INTO cases_caseevidence (case_id, kind, object_id, summary, added_at, resolution,
                                resolution_note)
SELECT id, CASE WHEN source = 'screening' THEN 'screening_match' ELSE 'alert' END,
       'b' || id::text,
       CASE WHEN source = 'screening' THEN jsonb_build_object(
                'matched_name', 'LISTED ' || id::text, 'score', 85, 'list', 'ofac-sdn',
                'entity_uid', 'OFAC-' || (id %% 5000)::text)
            ELSE jsonb_build_object('rule_code', 'RULE-' || (id %% 12)::text,
                'rule_version', 1, 'parameters', jsonb_build_object('threshold', 10000),
                'observed', jsonb_build_object('threshold', 9900),
                'contributing_ids', jsonb_build_array('TX-1', 'TX-2')) END,
       opened_at, '', ''
FROM cases_case WHERE reference LIKE 'B-%%';

INSERT INTO cases_historicalcase (id, reference, source, state, priority, title, summary,
    subject_type, subject_id, dedupe_key, customer_id, disposition, rationale, opened_at,
    updated_at, closed_at, version, escalated_at, detected_at, suspect_identified, due_at,
    search_text, assignee_id, history_date, history_change_reason, history_type)
SELECT c.id, reference, source, state, priority, title, summary, subject_type, subject_id,
       dedupe_key, customer_id, disposition, rationale, opened_at, updated_at, closed_at,
       v, escalated_at, detected_at, suspect_identified, due_at, search_text, assignee_id,
       opened_at + (v || ' hours')::interval, NULL, CASE WHEN v = 1 THEN '+' ELSE '~' END
FROM cases_case c CROSS JOIN generate_series(1, 3) v WHERE reference LIKE 'B-%%';
"""

SQL_LEDGER = """
INSERT INTO audit_ledgerentry (seq, ts, actor_type, actor_id, actor_label, action,
    object_type, object_id, correlation_id, header, body, prev_hash, hash)
SELECT base + n, now(), 'system', 'bench', 'bench',
       CASE WHEN n %% 3 = 0 THEN 'create' ELSE 'update' END, 'cases.case',
       (first_id + n / 3)::text, 'bench', '\\x00'::bytea, '{}'::bytea,
       md5('p' || (base + n)::text) || md5('q' || (base + n)::text),
       md5('h' || (base + n)::text) || md5('i' || (base + n)::text)
FROM (SELECT COALESCE(MAX(seq), 0) AS base FROM audit_ledgerentry) b,
     (SELECT MIN(id) AS first_id FROM cases_case WHERE reference LIKE 'B-%%') f,
     generate_series(1, %(rows)s) n;
"""


def _timed(client: Client, url: str, repeat: int) -> tuple[float, float, int]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]
    return statistics.median(timings), p95, len(response.content)


def _load(cases: int, analyst_id: int) -> None:
    from django.contrib.auth.models import User

    from cases.demo import demo_customers_load

    started = time.perf_counter()
    # A team of 50 analysts shares the assigned cases (the demo analyst is one of them).
    for n in range(49):
        User.objects.get_or_create(username=f"bench_analyst_{n}")
    assignees = [
        analyst_id,
        *User.objects.filter(username__startswith="bench_analyst_")
        .order_by("pk")
        .values_list("pk", flat=True),
    ]
    with connection.cursor() as cursor:
        cursor.execute(SQL_LOAD, {"customers": 20_000, "cases": cases, "assignees": assignees})
        cursor.execute(SQL_LEDGER, {"rows": cases * 3})
        for table in (
            "cases_case",
            "cases_caseevidence",
            "cases_historicalcase",
            "audit_ledgerentry",
            "cases_customer",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")  # visibility map: index-only scans
    print(
        f"loaded {cases:,} cases with evidence, history and ledger rows in "
        f"{time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    demo_customers_load()
    created = sum(_worked_cases(seed) for seed in range(9))  # ~130 through the services
    print(f"worked {created} cases through the services in {time.perf_counter() - started:.1f} s")


def _worked_cases(seed: int) -> int:
    """14 alert cases of the demo customers (bench data: the evidence names no stored
    alert) worked through the real services in the demo's pattern."""
    from audit.context import Actor
    from cases.demo import CUSTOMERS, demo_cases_work
    from cases.models import Customer
    from cases.services import case_open

    customers = {c.external_id: c for c in Customer.objects.filter(
        external_id__in=[row[0] for row in CUSTOMERS])}
    cases = []
    for index in range(14):
        ext = CUSTOMERS[index % len(CUSTOMERS)][0]
        cases.append(case_open(
            source="monitoring", title=f"T1: bench case {seed}-{index}", subject_type="customer",
            subject_id=ext, customer=customers[ext], priority=40 + index,
            dedupe_key=f"bench:{seed}:{index}",
            evidence={"kind": "alert", "object_id": f"bench-{seed}-{index}",
                      "summary": {"rule_code": "T1", "rule_version": 1,
                                  "parameters": {"threshold": 10000},
                                  "observed": {"threshold": 9500 + index}}}))
    return demo_cases_work(cases, actor=Actor.system("bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reload", action="store_true", help="drop and reload the data")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/cases.py needs PostgreSQL (set DATABASE_URL)")
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)

    from django.contrib.auth.models import User

    from cases.models import Case
    from config.accounts.services import demo_users_create

    demo_users_create()
    analyst = User.objects.get(username="analyst")
    bulk = Case.objects.filter(reference__startswith="B-").count()
    if args.reload or bulk != args.cases:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE cases_sardraft, cases_historicalsardraft, "
                "cases_casedecision, cases_historicalcasedecision, "
                "cases_casecomment, cases_historicalcasecomment, "
                "cases_caseattachment, cases_historicalcaseattachment, "
                "cases_caseevidence, cases_historicalcaseevidence, cases_case, "
                "cases_historicalcase, cases_customer, cases_historicalcustomer, "
                "audit_ledgerentry CASCADE"
            )
        _load(args.cases, analyst.pk)
    total = Case.objects.count()
    print(f"database: {total:,} cases, {Case.history.model.objects.count():,} history rows\n")

    client = Client()
    client.force_login(analyst)
    worked = list(Case.objects.filter(reference__startswith="C-").values_list("pk", flat=True)[:10])
    bulk_pk = Case.objects.filter(reference__startswith="B-").order_by("pk")[5000].pk
    sample = Case.objects.filter(reference__startswith="B-").order_by("pk")[12345]
    checks = [
        ("baseline", "healthz view", "/healthz", None),
        ("inbox", "inbox (open, priority order)", "/cases/", 150),
        ("inbox", "inbox page 40", "/cases/?page=40", 150),
        ("inbox", "my cases", "/cases/?assignee=me", 150),
        (
            "inbox",
            "queue: monitoring, oldest first",
            "/cases/?source=monitoring&ordering=opened",
            150,
        ),
        ("inbox", "overdue cases", "/cases/?overdue=true&ordering=due", 150),
        ("search", "search: customer name", "/cases/?q=kovalenko+1234", 150),
        ("search", "search: reference", f"/cases/?q={sample.reference}&status=all", 150),
        ("search", "search: list entity", "/cases/?entity=OFAC-77&status=all", 150),
        ("search", "search: rule + age", "/cases/?rule=RULE-5&age=8-30", 150),
        (
            "search",
            "search: customer id",
            f"/cases/?customer={sample.customer.external_id}&status=all",
            150,
        ),
        ("api", "API list, 50 per page", "/api/v1/cases/?page_size=50", 150),
        ("case", "case page (worked, real timeline)", f"/cases/{worked[0]}/", 200),
        ("case", "case page (worked, escalated)", f"/cases/{worked[4]}/", 200),
        ("case", "case page (bulk-loaded)", f"/cases/{bulk_pk}/", 200),
        ("dashboard", "dashboard", "/cases/dashboard/", None),
    ]
    for _kind, _label, url, _target in checks:  # warm caches and connections
        client.get(url)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        one_row = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            one_row.append((time.perf_counter() - t) * 1000)
    one_row.sort()
    print(f"baseline one-row query p95 {one_row[int(0.95 * len(one_row)) - 1]:.2f} ms")
    baseline_p95 = None
    failures = 0
    print(f"{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'x base':>8} {'target':>8}  result")
    for kind, label, url, target in checks:
        p50, p95, _size = _timed(client, url, args.repeat)
        if kind == "baseline":
            baseline_p95 = p95
        ratio = p95 / baseline_p95 if baseline_p95 else 1.0
        verdict = "" if target is None else ("ok" if p95 < target else "SLOW")
        failures += verdict == "SLOW"
        print(
            f"{label:42} {p50:8.1f} {p95:8.1f} {ratio:8.1f} "
            f"{(str(target) if target else '-'):>8}  {verdict}"
        )
    print(
        f"\n{len(checks)} pages x {args.repeat} requests in "
        f"{time.perf_counter() - started:.1f} s; {failures} over target"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
