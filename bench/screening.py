"""Speed benchmark of the screening matcher against the plain approach, same process.

Usage: .venv/bin/python bench/screening.py [--queries N] [--plain-queries N]
       .venv/bin/python bench/screening.py --cli 100000 [--keep-customers] [--database-url URL]
       .venv/bin/python bench/screening.py --api 2000 [--api-clients K] [--database-url URL]
       .venv/bin/python bench/screening.py --celery 20000 [--celery-workers K] [--redis-url URL]
       .venv/bin/python bench/screening.py --memory 100000
       .venv/bin/python bench/screening.py --rescreen 10000
       .venv/bin/python bench/screening.py --batch-only [--queries N]
       .venv/bin/python bench/screening.py --stages 6000

`--cli N`: end to end through `manage.py screen` on a scratch PostgreSQL database (default
postgres://postgres@127.0.0.1:5432/vigil_screening_bench, created and migrated; the SDN
list imported once): N customers in a CSV (mostly realistic non-listed names, some altered
listed ones), the report written, every query logged; prints the wall time against the
2-minute target, with the matcher alone over the same names as the baseline.

`--api N`: N single queries through `POST /api/v1/screening/search` over real HTTP, to
gunicorn (one process, two threads) on the same scratch database, from one client (or
`--api-clients K` at once), every query logged: the latency percentiles the clients see
(target p95 < 50 ms), after 200 warm-up queries, the first of which builds the matcher.

`--batch-only`: the batch path alone in this process, per CPU second (the figure least
disturbed by other load on a shared machine): 40 % of the queries through it first (the
caches as a running worker has them), then the next 30 %, names it has not seen.

`--celery N`: a batch of N customers queued as the portal queues it, screened by a real
Celery worker (prefork, `--celery-workers` processes, default one per core) on the scratch
database, every query logged: as one task (how batches ran before slices) and as slices
on every process (SCREENING_BATCH_SLICE_ROWS, the default), each after a warm-up batch.

`--rescreen N`: one process over N customer names, then the same names again (every cache
warm: the best case of this design), per CPU second, against plain cdist on one core.

`--stages N`: one process, N new names after N warm-up names: CPU per name of normalising
and of the rest of the batch path, at first sight and with every cache warm (names with
and without an alert), against plain cdist on one core: the per-name budget of 10x plain.

`--memory N`: a long-lived process screening N distinct customer names (1 % altered listed
ones) through the batch path, 1,000 at a time as a batch run does: its RSS and names per
CPU second every N/5 names (the caches must stay bounded, target < 500 MB).

Plain approach: rapidfuzz `process.cdist` with `token_sort_ratio` over every listed name
(all cores). Ours: `Matcher.search` per query (index retrieval + alignment +
explanations) and the batch path `Matcher.search_many` (same results, bounds computed for
the whole batch), in one process and on every core (`MatcherPool`), the latter on the
same names as the plain approach. Queries are real-looking customer names
(negatives_*.csv) mixed with altered listed names. Prints index build time, matcher
memory, names/s of each and the ratio, and the single-query latency percentiles.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rapidfuzz import fuzz, process  # noqa: E402
from screening_quality import BENCH, DATA, SDN_DIR, alter, load_entities  # noqa: E402

OFAC = DATA / "sanctions" / "ofac"
LISTS = {
    "2021-07": "SDN 2021-07 with aliases",
    "newest-size": "SDN 2024-05-03 names with the 2026-06 aliases of those entities",
}


def bench_entities(which: str) -> tuple[list, str]:
    """The listed entities the main and steady benches load, and how to say which.

    `2021-07` is the newest complete SDN set in ../shared/data (names, aliases and
    addresses of one publication). `newest-size` is as large as today's SDN: the newest
    sdn.csv available (2024-05-03) with the alt.csv and add.csv of a 2026 publication
    (the aliases of the entities in both are kept: the parser drops the rest)."""
    if which == "2021-07":
        entities = load_entities()
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "sdn.csv").write_bytes(
                (OFAC / "sdn-csv-history" / "sdn_2024-05-03.csv").read_bytes())
            for name in ("alt.csv", "add.csv"):
                (folder / name).write_bytes((OFAC / "alt-add-csv-2026-06" / name).read_bytes())
            entities = load_entities(folder)
    names = sum(len(e.names) for e in entities)
    return entities, f"{LISTS[which]} ({len(entities):,} entities, {names:,} names)"

from screening.matching.engine import Matcher, MatcherPool  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _children_minor_faults() -> int:
    """Minor page faults of the children that have been waited for: in forked workers,
    mostly copy-on-write copies of the parent's pages."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (every process: workers, PostgreSQL)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def plain_rates(names: list[str], listed_names: list[str]) -> tuple[float, float]:
    """Names/s of the plain approach: rapidfuzz `process.cdist` with `token_sort_ratio`
    of every name against every listed name, on every core; as the issue words it (full
    score matrix) and with `score_cutoff=85` (which lets rapidfuzz skip hopeless pairs)."""
    out = []
    for kwargs in ({}, {"score_cutoff": 85, "dtype": "uint8"}):
        t = time.perf_counter()
        process.cdist(names, listed_names, scorer=fuzz.token_sort_ratio, workers=-1,
                      **kwargs)
        out.append(len(names) / (time.perf_counter() - t))
    return out[0], out[1]


def plain_one_core(names: list[str], listed_names: list[str]) -> float:
    """Names per CPU second of the plain approach on one core (`score_cutoff=85`), over
    the first 3,000 of `names`: the per-core baseline of --rescreen and --stages."""
    sample = names[:3000]
    cpu = time.process_time()
    process.cdist(sample, listed_names, scorer=fuzz.token_sort_ratio, workers=1,
                  score_cutoff=85, dtype="uint8")
    return len(sample) / (time.process_time() - cpu)


def plain_rate(names: list[str], listed_names: list[str]) -> float:
    """The faster of the two plain figures (the stricter baseline), printing both."""
    full, cutoff = plain_rates(names, listed_names)
    print(f"       plain cdist: {full:,.0f} names/s full matrix, {cutoff:,.0f} with "
          f"score_cutoff=85; the ratio below is to the faster")
    return max(full, cutoff)


def percentile(ordered: list[float], q: float) -> float:
    """The value at quantile `q` of an ascending list (nearest rank, as the other figures)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queries(entities, n: int, rng: random.Random, listed_share: float = 0.1) -> list[str]:
    names: list[str] = []
    for fname in ("negatives_us.csv", "negatives_global.csv"):
        with open(BENCH / fname, encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= n:
                    break
                names.append(row["full_name"])
    rng.shuffle(names)
    out = names[: int(n * (1.0 - listed_share))]
    if len(out) < int(n * (1.0 - listed_share)):
        print(f"note: only {len(out):,} non-listed names available; {n - len(out):,} of "
              f"{n:,} queries ({(n - len(out)) / n:.1%}) are altered listed names",
              file=sys.stderr)
    kinds = ("typo", "reorder", "alias", "transliteration", "exact")
    while len(out) < n:
        q = alter(rng.choice(kinds), rng.choice(entities), rng)
        if q:
            out.append(q)
    rng.shuffle(out)
    return out


def _scratch_django(database_url: str) -> None:
    """Django on a scratch PostgreSQL database (created and migrated) holding the SDN."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VIGIL_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["REDIS_URL"] = ""
    import psycopg

    base, _, db_name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{db_name}"')
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from audit.context import Actor
    from screening.lists.models import ListVersion
    from screening.lists.services import list_import

    settings.SCREENING_DELTA_ON_ACTIVATION = False
    call_command("migrate", verbosity=0)
    if not ListVersion.objects.filter(source__code="ofac-sdn", is_active=True).exists():
        list_import(source="ofac-sdn", path=SDN_DIR, actor=Actor.system("bench"))


def api_bench(n: int, database_url: str, rng: random.Random, listed_share: float,
              clients: int = 1) -> int:
    """`POST /api/v1/screening/search` over real HTTP: gunicorn (one process, two threads,
    as `config.wsgi` runs in production) on the scratch database, ``clients`` integration
    clients each sending their share of N names one after the other, each query logged;
    latency as the clients see it."""
    import socket
    import subprocess

    import requests

    _scratch_django(database_url)
    from config.accounts.services import api_client_create

    _client, token = api_client_create(name=f"bench-{time.time_ns():x}")
    names = queries(load_entities(), n + 200, rng, listed_share)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "API_INTEGRATION_RATE": "100000000/min"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "2", "--log-level", "warning"],  # noqa: S603
        cwd=ROOT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/v1/screening/search"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    try:
        for _ in range(300):  # wait for the server
            try:
                session.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)
        statuses: dict[int, int] = {}
        # Warm-up: the first query builds the matcher in the server process (as after a
        # list activation), then 199 more.
        t = time.perf_counter()
        session.post(url, json={"name": names[0]}, timeout=60).raise_for_status()
        first = time.perf_counter() - t
        for name in names[1:200]:
            session.post(url, json={"name": name}, timeout=10)
        latencies: list[float] = []
        timed = names[200:]

        def send(part: list[str]) -> None:
            own = requests.Session()
            own.headers["Authorization"] = f"Bearer {token}"
            for name in part:
                t = time.perf_counter()
                response = own.post(url, json={"name": name}, timeout=10)
                latencies.append((time.perf_counter() - t) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, [timed[i::clients] for i in range(clients)]))
        rate = len(timed) / (time.perf_counter() - started)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    latencies.sort()
    print(
        f"api: {n:,} queries through POST /api/v1/screening/search (gunicorn, 1 process x "
        f"2 threads, {clients} client(s), each query logged): p50 {percentile(latencies, .5):.1f} ms, p95 "
        f"{percentile(latencies, .95):.1f} ms, p99 {percentile(latencies, .99):.1f} ms, max {latencies[-1]:.1f} ms "
        f"(target p95 < 50 ms); {rate:,.0f} queries/s; statuses {statuses}; first query "
        f"(matcher build) {first:.2f} s"
    )
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return 0 if ok == n else 1


def cli_bench(n: int, database_url: str, rng: random.Random, listed_share: float,
              workers: int = 0, keep_customers: bool = False) -> int:
    """`manage.py screen` on N customers, end to end, against a scratch database
    (`keep_customers`: every customer stored in the customer base too)."""
    import tempfile

    _scratch_django(database_url)
    from django.core.management import call_command

    from cases.models import Customer
    from screening.matcher_cache import current_matcher
    from screening.models import ScreeningQuery

    entities = load_entities()
    names = queries(entities, n, rng, listed_share)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "customers.csv"
        with open(src, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "name"])
            run = f"{time.time_ns():x}"
            for i, name in enumerate(names):
                w.writerow([f"B{run}-{i}", name])
        cm = current_matcher()  # build outside the timed part, as a running worker has it
        before, customers = ScreeningQuery.objects.count(), Customer.objects.count()
        out = Path(tmp) / "report.csv"
        t, busy = time.perf_counter(), _machine_busy()
        call_command("screen", str(src), "--output", str(out), "--workers", str(workers),
                     *(["--keep-customers"] if keep_customers else []), verbosity=0)
        wall = time.perf_counter() - t
        busy = _machine_busy() - busy
        logged = ScreeningQuery.objects.count() - before
        customers = Customer.objects.count() - customers
        # baseline afterwards (so the CLI does not profit from its warm caches)
        t = time.perf_counter()
        for name in names[:5000]:
            cm.matcher.search(name)
        base_rate = min(len(names), 5000) / (time.perf_counter() - t)
        with open(out, encoding="utf-8") as fh:
            report_rows = sum(1 for _ in fh) - 1
    print(
        f"cli: {n:,} customers end to end in {wall:.1f} s ({n / wall:,.0f} names/s; "
        f"target < 120 s); {listed_share:.0%} altered listed names; {logged:,} queries "
        f"logged, {report_rows:,} report rows, {customers:,} customers stored"
        f"{' (--keep-customers)' if keep_customers else ''}; the machine's cores {busy / wall:.2f} busy "
        f"({busy / n * 1e6:,.0f} us of CPU per name, PostgreSQL included)\n"
        f"     baseline: matcher alone in this process {base_rate:,.0f} names/s "
        f"(ratio {n / wall / base_rate:.2f})"
    )
    return 0


def celery_bench(n: int, database_url: str, redis_url: str, rng: random.Random,
                 listed_share: float, workers: int) -> int:
    """A batch of N customers queued as the portal and the API queue it, screened by a real
    Celery worker (prefork, `workers` processes) on the scratch database, every query
    logged: first as one task (SCREENING_BATCH_SLICE_ROWS=0, how batches ran before), then
    as slices on every process (the default). Each worker screens a warm-up batch first,
    so every process has built its matcher, as a running worker has."""
    import subprocess

    _scratch_django(database_url)
    from audit.context import Actor
    from config.celery import app
    from screening.models import BatchRun
    from screening.services import screening_batch_start
    from screening.tasks import screening_batch_slice_task

    entities = load_entities()
    names = queries(entities, n + 4000, rng, listed_share)
    run = f"{time.time_ns():x}"

    def csv_of(part: list[str], tag: str) -> bytes:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["id", "name"])
        for i, name in enumerate(part):
            w.writerow([f"{tag}{run}-{i}", name])
        return out.getvalue().encode()

    def wait(batch: BatchRun, limit: float) -> BatchRun:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            if batch.is_finished:
                return batch
            time.sleep(0.05)
        raise SystemExit(f"batch #{batch.pk} did not finish in {limit:.0f} s")

    print(f"celery: {n:,} customers per batch, worker prefork x{workers}, "
          f"{listed_share:.0%} altered listed names, every query logged")
    for mode, slice_rows in (("one task", 0), ("slices", 2000)):
        queue = f"bench-{run}-{slice_rows}"
        env = {**os.environ, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,
               "CELERY_RESULT_BACKEND": redis_url, "CELERY_TASK_ALWAYS_EAGER": "0",
               "SCREENING_BATCH_SLICE_ROWS": str(slice_rows), "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
             f"--concurrency={workers}", "-Q", queue, "--loglevel=WARNING",
             "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        app.conf.update(broker_url=redis_url, result_backend=redis_url,
                        task_always_eager=False, task_default_queue=queue)
        try:
            # warm-up: 4,000 other names as slice tasks of 500 rows, so every process
            # builds its matcher (whatever the mode measured)
            actor = Actor.system("bench")
            warm = screening_batch_start(file_name="warm.csv", data=csv_of(names[n:], "W"),
                                         actor=actor, enqueue=False)
            for lo in range(0, warm.total, 500):
                screening_batch_slice_task.delay(warm.pk, lo, min(lo + 500, warm.total))
            wait(warm, 600)
            t, busy = time.perf_counter(), _machine_busy()
            batch = screening_batch_start(file_name="bench.csv", data=csv_of(names[:n], "B"),
                                          actor=actor)
            batch = wait(batch, 1800)
            wall = time.perf_counter() - t
            busy = _machine_busy() - busy
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        print(f"  {mode:9}: {batch.status}, {batch.processed:,} rows in {wall:.1f} s "
              f"({batch.processed / wall:,.0f} names/s end to end), {batch.hit_rows} with hits; "
              f"the machine's cores {busy / wall:.2f} busy")
    return 0


def steady_bench(n: int, rng: random.Random, listed_share: float, which: str = "2021-07") -> int:
    """A batch as a long-running worker pool sees it: one pool of every core over N names
    (a customer base), throughput per fifth, so the first fifth shows the cold pool (its
    caches empty, every page of the matcher copied into each forked worker) and the
    others the steady state; then the plain approach on the last fifth's names."""
    entities, label = bench_entities(which)
    listed_names = [n.name for e in entities for n in e.names]
    matcher = Matcher(entities)
    qs = queries(entities, n, rng, listed_share)
    workers = os.cpu_count() or 1
    fifth = max(1, len(qs) // 5)
    parts = [qs[i : i + fifth] for i in range(0, len(qs), fifth)][:5]
    print(
        f"steady: {len(qs):,} names ({listed_share:.0%} altered listed names), one pool "
        f"of {workers} processes, {label}"
    )
    rates = []
    with MatcherPool(matcher, workers=workers) as pool:
        for k, part in enumerate(parts):
            t = time.perf_counter()
            hits = sum(bool(r) for r in pool.search_many([{"name": q} for q in part]))
            rates.append(len(part) / (time.perf_counter() - t))
            print(
                f"  part {k + 1} ({len(part):,} names): {rates[-1]:,.0f} names/s, "
                f"{hits} with alerts",
                flush=True,
            )
    plain = plain_rate(parts[-1], listed_names)
    steady = statistics.median(rates[1:]) if len(rates) > 1 else rates[0]
    print(
        f"  plain cdist token_sort_ratio (workers=-1) on the last part: {plain:,.0f} "
        f"names/s\n  steady state (median of parts 2-5): {steady:,.0f} names/s, "
        f"{steady / plain:.1f}x plain (target >= 10x, about 10,000 names/s); cold first "
        f"part {rates[0]:,.0f} names/s"
    )
    return 0


def rescreen_bench(n: int, rng: random.Random, listed_share: float,
                   which: str = "2021-07") -> int:
    """The best case of the batch path: one process screens N customer names, then the
    same N again (a periodic full re-screening of a customer base: every word, pair and
    bound cached), each per CPU second, against the plain approach on one core per CPU
    second over the same names. Ratios per core, so other load on the machine cancels."""
    entities, label = bench_entities(which)
    listed_names = [n.name for e in entities for n in e.names]
    matcher = Matcher(entities)
    qs = queries(entities, n, rng, listed_share)
    print(f"rescreen: {len(qs):,} names ({listed_share:.0%} altered listed names), one "
          f"process, {label}")

    def per_cpu_second() -> float:
        cpu = time.process_time()
        for i in range(0, len(qs), 1000):
            matcher.search_many([{"name": q} for q in qs[i : i + 1000]])
        return len(qs) / (time.process_time() - cpu)

    first, again = per_cpu_second(), per_cpu_second()
    plain = plain_one_core(qs, listed_names)
    print(
        f"  first pass: {first:,.0f} names per CPU second ({first / plain:.1f}x plain)\n"
        f"  the same names again: {again:,.0f} names per CPU second ({again / plain:.1f}x "
        f"plain; the bound of this design: every cache warm)\n"
        f"  plain cdist token_sort_ratio, one core, score_cutoff=85: {plain:,.0f} names per "
        f"CPU second ({min(len(qs), 3000):,} of the names)"
    )
    return 0


def stages_bench(n: int, rng: random.Random, listed_share: float,
                 which: str = "2021-07") -> int:
    """Where one name's CPU goes in the batch path, in one process, per name: normalising
    it, then the rest of `search_many` (retrieval, bounds, alignment, explanations), on
    names seen for the first time after N warm-up names, then on the same names again
    (every cache warm: what no cache can remove), split into names with and without an
    alert. Against the plain approach's CPU per name on one core, so 10x plain on the
    same cores is the per-name budget printed."""
    from screening.matching.normalize import normalize_name

    entities, label = bench_entities(which)
    listed_names = [n.name for e in entities for n in e.names]
    matcher = Matcher(entities)
    qs = queries(entities, 2 * n, rng, listed_share)
    warm, fresh = qs[:n], qs[n:]
    print(f"stages: {len(fresh):,} new names after {len(warm):,} ({listed_share:.0%} altered "
          f"listed names), one process, {label}")
    gc.disable()
    matcher.search_many([{"name": q} for q in warm])

    def cpu_us(work, count: int):
        """CPU microseconds per name of `work()`, and what it returned."""
        cpu = time.process_time()
        result = work()
        return (time.process_time() - cpu) / max(count, 1) * 1e6, result

    norm, forms = cpu_us(lambda: [normalize_name(q) for q in fresh], len(fresh))
    batch = [{"name": q, "normalized": f} for q, f in zip(fresh, forms, strict=True)]
    first, found = cpu_us(lambda: matcher.search_many(batch), len(batch))
    again, _ = cpu_us(lambda: matcher.search_many(batch), len(batch))
    parts = {"without an alert": [b for b, r in zip(batch, found, strict=True) if not r],
             "with an alert": [b for b, r in zip(batch, found, strict=True) if r]}
    split = {kind: (len(part), cpu_us(lambda p=part: matcher.search_many(p), len(part))[0])
             for kind, part in parts.items()}
    gc.enable()
    plain = 1e6 / plain_one_core(fresh, listed_names)
    print(f"  normalising a name: {norm:,.0f} us (per-word memos warm from the warm-up)\n"
          f"  the rest of search_many, first sight: {first:,.0f} us per name\n"
          f"  the rest, the same names again (every cache warm): {again:,.0f} us per name; "
          + "; ".join(f"{c:,} names {k}: {t:,.0f} us each" for k, (c, t) in split.items())
          + f"\n  plain cdist token_sort_ratio, one core: {plain:,.0f} us per name; 10x plain "
          f"leaves {plain / 10:,.0f} us per name for all of the above (first sight: "
          f"{norm + first:,.0f} us; every cache warm: {norm + again:,.0f} us, of which "
          f"normalising alone {norm:,.0f})")
    return 0


def memory_bench(n: int, rng: random.Random, listed_share: float,
                 which: str = "2021-07") -> int:
    """RSS of one process over N distinct names through `screen_many`, chunk by chunk."""
    from screening.matching.engine import screen_many

    entities, label = bench_entities(which)
    print(f"list: {label}")
    names = queries(entities, n, rng, listed_share)
    gc.collect()
    rss0 = _rss()
    matcher = Matcher(entities)
    gc.collect()
    print(f"memory: process RSS {rss0 / 2**20:.0f} MB, {_rss() / 2**20:.0f} MB with the matcher")
    cpu = time.process_time()
    step = max(1000, n // 5)
    for i in range(0, len(names), 1000):
        screen_many(matcher, [{"name": q} for q in names[i : i + 1000]])
        done = min(i + 1000, len(names))
        if done % step == 0 or done == len(names):
            gc.collect()
            print(
                f"  {done:>7,} names: RSS {_rss() / 2**20:.0f} MB (target < 500 MB), "
                f"{done / (time.process_time() - cpu):,.0f} names per CPU second"
            )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument(
        "--plain-queries",
        type=int,
        default=0,
        help="plain approach on the first N of the batch path's names (0: all)",
    )
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--list", choices=sorted(LISTS), default="2021-07",
                    help="listed names of the main, --steady and --memory benches: "
                         + "; ".join(f"{k}: {v}" for k, v in LISTS.items()))
    ap.add_argument(
        "--cli",
        type=int,
        default=0,
        metavar="N",
        help="run `manage.py screen` end to end on N customers instead",
    )
    ap.add_argument(
        "--api",
        type=int,
        default=0,
        metavar="N",
        help="N single queries through the API over real HTTP (gunicorn) instead",
    )
    ap.add_argument("--api-clients", type=int, default=1, help="concurrent clients with --api")
    ap.add_argument("--keep-customers", action="store_true",
                    help="--cli: screen with --keep-customers (every customer stored)")
    ap.add_argument("--cli-workers", type=int, default=0,
                    help="--workers of manage.py screen with --cli (default: one per core)")
    ap.add_argument("--celery", type=int, default=0, metavar="N",
                    help="a batch of N names through a real Celery worker, one task then "
                         "slices")
    ap.add_argument("--celery-workers", type=int, default=os.cpu_count() or 1,
                    help="worker processes with --celery")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                    help="Celery broker with --celery")
    ap.add_argument(
        "--batch-only",
        action="store_true",
        help="only the batch path in this process, per CPU second",
    )
    ap.add_argument(
        "--memory",
        type=int,
        default=0,
        metavar="N",
        help="RSS of one process over N distinct names instead",
    )
    ap.add_argument(
        "--rescreen",
        type=int,
        default=0,
        metavar="N",
        help="one process over N names, then the same N again, per CPU second, against "
        "plain cdist on one core",
    )
    ap.add_argument(
        "--stages",
        type=int,
        default=0,
        metavar="N",
        help="CPU per name of each stage of the batch path on N new names (after N warm-up "
        "names), first sight and every cache warm, against plain cdist on one core",
    )
    ap.add_argument(
        "--steady",
        type=int,
        default=0,
        metavar="N",
        help="one long-lived pool of every core over N names (at most 100,000), "
        "names/s per fifth, then plain cdist on the last fifth",
    )
    ap.add_argument(
        "--database-url",
        default=os.environ.get(
            "SCREENING_BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/vigil_screening_bench",
        ),
    )
    ap.add_argument(
        "--listed-share",
        type=float,
        default=None,
        help="share of altered listed names among the queries (default 0.1; "
        "0.01 with --cli: a customer base, where hits are rare)",
    )
    args = ap.parse_args()
    if args.listed_share is None:
        args.listed_share = (0.01 if args.cli or args.memory or args.celery or args.rescreen
                             else 0.1)
    rng = random.Random(args.seed)
    if args.cli:
        return cli_bench(args.cli, args.database_url, rng, args.listed_share,
                         args.cli_workers, args.keep_customers)
    if args.celery:
        return celery_bench(args.celery, args.database_url, args.redis_url, rng,
                            args.listed_share, args.celery_workers)
    if args.api:
        return api_bench(args.api, args.database_url, rng, args.listed_share,
                         args.api_clients)
    if args.stages:
        return stages_bench(args.stages, rng, args.listed_share, args.list)
    if args.memory:
        return memory_bench(args.memory, rng, args.listed_share, args.list)
    if args.rescreen:
        return rescreen_bench(args.rescreen, rng, args.listed_share, args.list)
    if args.steady:
        return steady_bench(min(args.steady, 100_000), rng, args.listed_share, args.list)
    entities, label = bench_entities(args.list)
    listed_names = [n.name for e in entities for n in e.names]
    print(f"list: {label}")

    gc.collect()
    rss0 = _rss()
    t = time.perf_counter()
    matcher = Matcher(entities)
    build = time.perf_counter() - t
    gc.collect()
    print(
        f"index build: {build:.2f} s (target < 5 s)   matcher memory (RSS growth): "
        f"{(_rss() - rss0) / 2**20:.0f} MB (target < 500 MB); process RSS "
        f"{_rss() / 2**20:.0f} MB"
    )

    timed_load = store_index(matcher.index)
    qs = queries(entities, args.queries, rng, args.listed_share)
    if args.batch_only:
        warm, fresh = qs[: len(qs) * 4 // 10], qs[len(qs) * 4 // 10 : len(qs) * 7 // 10]
        matcher.search_many([{"name": q} for q in warm])
        t, cpu = time.perf_counter(), time.process_time()
        hits = sum(bool(r) for r in matcher.search_many([{"name": q} for q in fresh]))
        print(
            f"batch path (search_many), 1 process: "
            f"{len(fresh) / (time.process_time() - cpu):,.0f} names per CPU second, "
            f"{len(fresh) / (time.perf_counter() - t):,.0f} names/s wall ({len(fresh)} new "
            f"names after {len(warm)}; {hits} with alerts)"
        )
        return 0
    single = qs[: min(2000, len(qs) // 4)]
    batch = qs[len(single) :]

    # single query latency (cold: names not seen before by this process)
    lat = []
    for q in single:
        t = time.perf_counter()
        matcher.search(q)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p50, p95, p99 = statistics.median(lat), percentile(lat, 0.95), percentile(lat, 0.99)
    print(
        f"single query ({len(lat)}): p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms "
        f"(target p99 < 10 ms)"
    )

    # Three equal parts of the batch queries, each seen for the first time by its run:
    # the per-query loop (the old way), the batch path in one process, and the batch
    # path on every core side by side with the plain approach on the same queries.
    third = len(batch) // 3
    loop_q, one_q, all_q = batch[:third], batch[third : 2 * third], batch[2 * third :]
    t, cpu = time.perf_counter(), time.process_time()
    hits = sum(bool(matcher.search(q)) for q in loop_q)
    loop = len(loop_q) / (time.perf_counter() - t)
    loop_cpu = len(loop_q) / max(time.process_time() - cpu, 1e-9)
    t, cpu = time.perf_counter(), time.process_time()
    hits += sum(bool(r) for r in matcher.search_many([{"name": q} for q in one_q]))
    one = len(one_q) / (time.perf_counter() - t)
    # CPU time: less sensitive than wall time to other load on a shared machine
    one_cpu = len(one_q) / max(time.process_time() - cpu, 1e-9)
    workers = os.cpu_count() or 1
    t, cpu, faults = time.perf_counter(), _cpu_with_children(), _children_minor_faults()
    with MatcherPool(matcher, workers=workers) as pool:
        started = time.perf_counter()
        hits += sum(bool(r) for r in pool.search_many([{"name": q} for q in all_q]))
        done = time.perf_counter()
    ours_all = len(all_q) / (time.perf_counter() - t)
    # CPU of this process and its (joined) workers: how much more work the same names
    # take on several processes than on one, whatever the other load on the machine
    all_cpu = len(all_q) / max(_cpu_with_children() - cpu, 1e-9)
    faults = (_children_minor_faults() - faults) / max(len(all_q), 1)
    pool_fixed = (started - t) + (time.perf_counter() - done)

    plain_q = all_q[: args.plain_queries] if args.plain_queries else all_q
    plain = plain_rate(plain_q, listed_names)
    print(
        f"batch: per-query search, 1 process {loop:,.0f} names/s ({loop_cpu:,.0f} per CPU "
        f"second; {len(loop_q)} names)\n"
        f"       batch path (search_many), 1 process {one:,.0f} names/s ({one_cpu:,.0f} per "
        f"CPU second; {len(one_q)} names)\n"
        f"       batch path, {workers} processes {ours_all:,.0f} names/s ({len(all_q)} "
        f"names; {all_cpu:,.0f} per CPU second of the parent and workers together, "
        f"{all_cpu / one_cpu:.2f}x the 1-process figure; {faults:.1f} page faults per "
        f"name in the workers; starting and stopping the workers "
        f"{pool_fixed * 1000:.0f} ms); {hits} names with alerts in all three\n"
        f"       plain cdist token_sort_ratio (workers=-1) {plain:,.0f} names/s "
        f"({len(plain_q)} of the same names)\n"
        f"       ratio {ours_all / plain:.1f}x ({workers} processes against plain, same "
        f"names; target >= 10x), {one / plain:.1f}x (1 process); batch path / per-query "
        f"loop, 1 process: {one_cpu / loop_cpu:.1f}x per CPU second"
    )
    gc.collect()
    print(f"process RSS after the batches (matcher and its caches): {_rss() / 2**20:.0f} MB")
    print(f"index load: {timed_load():.2f} s (target < 5 s; the index another "
          f"process built, from screening.index_store, against {build:.2f} s to build it)")
    return 0


def store_index(index):
    """Keep a freshly built index (before any query filled its caches) as a process does
    after a build (screening.index_store), in a scratch store; returns a function that
    times loading it as another process does (the signed file read, verified and
    unpickled). Django is set up and the index pickled in a forked child, so that the
    memory they take stays out of this process's RSS figures until the load."""
    import tempfile

    tmp = tempfile.TemporaryDirectory()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _index_store(tmp.name).save_index("bench", index) else 1)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit("the index could not be stored")

    def timed_load() -> float:
        index_store = _index_store(tmp.name)
        gc.collect()
        t = time.perf_counter()
        loaded = index_store.load_index("bench")
        elapsed = time.perf_counter() - t
        tmp.cleanup()
        if loaded is None:
            raise SystemExit("the stored index did not load")
        return elapsed

    return timed_load


def _index_store(folder: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VIGIL_ENV", "test")
    import django
    from django.conf import settings

    django.setup()
    from screening import index_store

    settings.SCREENING_INDEX_DIR = folder
    return index_store


if __name__ == "__main__":
    raise SystemExit(main())
