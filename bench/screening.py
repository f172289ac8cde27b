"""Speed benchmark of the screening matcher against the plain approach, same process.

Usage: .venv/bin/python bench/screening.py [--queries N] [--plain-queries N]

Plain approach: rapidfuzz `process.cdist` with `token_sort_ratio` over every listed name
(all cores). Ours: `Matcher.search` (index retrieval + alignment + explanations). Queries
are real-looking customer names (negatives_*.csv) mixed with altered listed names.
Prints index build time, matcher memory, batch names/s for both and the ratio, and the
single-query latency percentiles.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rapidfuzz import fuzz, process  # noqa: E402
from screening_quality import BENCH, alter, load_entities  # noqa: E402

from screening.matching.engine import Matcher, MatcherPool  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def queries(entities, n: int, rng: random.Random) -> list[str]:
    names: list[str] = []
    for fname in ("negatives_us.csv", "negatives_global.csv"):
        with open(BENCH / fname, encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= n:
                    break
                names.append(row["full_name"])
    rng.shuffle(names)
    out = names[: int(n * 0.9)]
    kinds = ("typo", "reorder", "alias", "transliteration", "exact")
    while len(out) < n:
        q = alter(rng.choice(kinds), rng.choice(entities), rng)
        if q:
            out.append(q)
    rng.shuffle(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--plain-queries", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    entities = load_entities()
    listed_names = [n.name for e in entities for n in e.names]
    print(f"list: {len(entities)} entities, {len(listed_names)} names (SDN 2021-07 + aliases)")

    gc.collect()
    rss0 = _rss()
    t = time.perf_counter()
    matcher = Matcher(entities)
    build = time.perf_counter() - t
    gc.collect()
    print(f"index build: {build:.2f} s (target < 5 s)   matcher memory (RSS growth): "
          f"{(_rss() - rss0) / 2**20:.0f} MB (target < 500 MB); process RSS "
          f"{_rss() / 2**20:.0f} MB")

    qs = queries(entities, args.queries, rng)
    single = qs[: min(2000, len(qs) // 4)]
    batch = qs[len(single):]

    # single query latency (cold: names not seen before by this process)
    lat = []
    for q in single:
        t = time.perf_counter()
        matcher.search(q)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p50 = statistics.median(lat)
    p95 = lat[int(len(lat) * 0.95)]
    p99 = lat[int(len(lat) * 0.99)]
    print(f"single query ({len(lat)}): p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms "
          f"(target p99 < 10 ms)")

    t = time.perf_counter()
    cpu = time.process_time()
    hits = 0
    half = batch[: len(batch) // 2]
    for q in half:
        hits += bool(matcher.search(q))
    ours = len(half) / (time.perf_counter() - t)
    # CPU time: less sensitive than wall time to other load on a shared machine
    ours_cpu = len(half) / max(time.process_time() - cpu, 1e-9)
    workers = os.cpu_count() or 1
    rest = batch[len(half):]
    t = time.perf_counter()
    with MatcherPool(matcher, workers=workers) as pool:
        hits += sum(bool(r) for r in pool.search_many([{"name": q} for q in rest]))
    ours_all = len(rest) / (time.perf_counter() - t)

    plain_q = batch[: args.plain_queries]
    t = time.perf_counter()
    process.cdist(plain_q, listed_names, scorer=fuzz.token_sort_ratio, workers=-1,
                  score_cutoff=85, dtype="uint8")
    plain = len(plain_q) / (time.perf_counter() - t)
    print(f"batch: ours 1 process {ours:,.0f} names/s ({ours_cpu:,.0f} per CPU second; "
          f"{len(half)} names), "
          f"{workers} processes {ours_all:,.0f} names/s ({len(rest)} names); {hits} names "
          f"with alerts\n       plain cdist token_sort_ratio (workers=-1) {plain:,.0f} names/s "
          f"({len(plain_q)} names)\n       ratio {ours / plain:.1f}x (1 process), "
          f"{ours_all / plain:.1f}x ({workers} processes) (target >= 10x, ~10,000 names/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
