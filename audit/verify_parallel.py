"""Parallel chain verification on PostgreSQL: the ledger is split into contiguous ranges,
each verified by a separate process (``python -m audit.verify_parallel``, psycopg only, no
Django), and the partial reports are joined exactly as one pass would have produced them.

Joining is sound because a worker starts from the *stored* hash of the last row before its
range (as the single pass re-synchronises on stored hashes) and that row is verified by the
previous worker. Digests lying inside one range are checked by its worker; a digest that
straddles ranges is checked here from the entry hashes the workers return for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audit.chain import (
    ROW_FIELDS,
    ChainReport,
    ChainVerifier,
    Damage,
    DigestAnchor,
    MerkleAccumulator,
    Problem,
    merkle_leaf_data,
)

BATCH = 5_000
REPO = Path(__file__).resolve().parents[1]
COLUMNS = ", ".join(ROW_FIELDS)
# COMPACT_FIELDS as SQL. The timestamp is rendered exactly as format_ts() renders it, and
# `||` yields NULL if any column is NULL (the row then leaves the fast path).
COMPACT_COLUMNS = (
    "seq, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    + " || E'\\x1f' || ".join(("actor_type", "actor_id", "actor_label", "action",
                                "object_type", "object_id", "correlation_id"))
    + ", header, body, prev_hash, hash"
)


# -- worker side (no Django) ------------------------------------------------------------------

def prefetched(cursor, size: int = BATCH):
    """Yield cursor.fetchmany(size) batches, fetching the next batch in a thread while the
    caller checks the current one: psycopg waits for the server without the GIL, so the
    database's work overlaps the verifier's instead of adding to it."""
    import queue
    import threading

    batches: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cursor.fetchmany(size)
                batches.put(rows)
                if not rows:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            batches.put(exc)

    thread = threading.Thread(target=fetch, name="vigil-verify-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                batches.get_nowait()
            except queue.Empty:
                thread.join(0.01)


@contextmanager
def compact_stream(conn, where: str, params: list[Any], size: int = BATCH):
    """Stream ledger rows in COMPACT_FIELDS form (seq order) through a server-side cursor
    on ``conn`` (psycopg, inside a transaction). Yields (batches, resolve): ``resolve(seq,
    hash)`` reads one full ROW_FIELDS row on the same connection for diagnosing a row the
    compact form cannot describe."""

    def resolve(seq: int, hash_col: str):
        with conn.cursor() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM audit_ledgerentry WHERE seq = %s "  # noqa: S608
                        "ORDER BY hash IS NOT DISTINCT FROM %s DESC LIMIT 1", [seq, hash_col])
            return cur.fetchone()

    with conn.cursor(name=f"vigil_verify_{id(conn)}") as cursor:
        # Binary format: bytea arrives without text decoding.
        cursor.execute(f"SELECT {COMPACT_COLUMNS} FROM audit_ledgerentry WHERE {where} "  # noqa: S608
                       "ORDER BY seq", params, binary=True)
        yield prefetched(cursor, size), resolve


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    import psycopg

    anchors = [DigestAnchor(*a) for a in job["anchors"]]
    collect = [tuple(r) for r in job["collect"]]
    collected: dict[str, list[str]] = {f"{a}-{b}": [] for a, b in collect}
    verifier = ChainVerifier(start_seq=job["start_seq"], prev_hash=job["prev_hash"],
                             anchors=anchors, max_problems=job["max_problems"])
    with psycopg.connect(**job["conninfo"]) as conn, conn.transaction(), compact_stream(
            conn, "seq >= %s AND seq <= %s", [job["first"], job["last"]]) as (batches, resolve):
        for rows in batches:
            verifier.feed_compact(rows, resolve)
            for a, b in collect:
                if rows[0][0] <= b and rows[-1][0] >= a:
                    collected[f"{a}-{b}"].extend(r[6] for r in rows if a <= r[0] <= b)
    report = verifier.finish()
    return {"report": report.as_dict(), "collected": collected,
            "expect_next": verifier._expect_seq}


def main() -> None:
    job = json.loads(sys.stdin.read())
    print(json.dumps(_worker(job)))


# -- coordinator side ---------------------------------------------------------------------------

def _split_points(cursor, start_seq: int, head: int, workers: int) -> list[int]:
    """First seq of each range (existing rows only), ascending."""
    points = [start_seq]
    step = max(1, (head - start_seq + 1) // workers)
    for k in range(1, workers):
        cursor.execute("SELECT seq FROM audit_ledgerentry WHERE seq >= %s ORDER BY seq LIMIT 1",
                       [start_seq + k * step])
        row = cursor.fetchone()
        if row and row[0] > points[-1]:
            points.append(row[0])
    return points


def verify_parallel(
    *, conninfo: dict[str, Any], start_seq: int, prev_hash: str,
    anchors: list[DigestAnchor], workers: int, max_problems: int = 20,
) -> ChainReport:
    """Same result as one ChainVerifier pass over seq >= start_seq, using ``workers``
    processes."""
    import psycopg

    with psycopg.connect(**conninfo) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM audit_ledgerentry")
        head = cursor.fetchone()[0]
        if head is None or head < start_seq:
            verifier = ChainVerifier(start_seq=start_seq, prev_hash=prev_hash, anchors=anchors)
            return verifier.finish()
        points = _split_points(cursor, start_seq, head, workers)
        jobs = []
        for k, first in enumerate(points):
            last = points[k + 1] - 1 if k + 1 < len(points) else head
            if k == 0:
                job_start, job_prev = start_seq, prev_hash
            else:
                cursor.execute("SELECT seq, hash FROM audit_ledgerentry WHERE seq < %s "
                               "ORDER BY seq DESC LIMIT 1", [first])
                before = cursor.fetchone()
                job_start, job_prev = before[0] + 1, before[1]
            inside = [a for a in anchors if a.first_seq >= first and a.last_seq <= last
                      and a.count > 0]
            straddling = [a for a in anchors if a not in inside and a.count > 0
                          and a.first_seq <= last and a.last_seq >= first]
            jobs.append({
                "conninfo": conninfo, "first": first, "last": last, "start_seq": job_start,
                "prev_hash": job_prev, "max_problems": max_problems,
                "anchors": [[a.first_seq, a.last_seq, a.head_hash, a.merkle_root, a.label]
                            for a in inside],
                "collect": [[max(a.first_seq, first), min(a.last_seq, last)]
                            for a in straddling],
            })
    procs = [subprocess.Popen([sys.executable, "-m", "audit.verify_parallel"], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in jobs]
    for proc, job in zip(procs, jobs, strict=True):
        proc.stdin.write(json.dumps(job, default=str))
        proc.stdin.close()
    outputs = []
    for proc in procs:
        out = proc.stdout.read()
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"verification worker failed: {err[-2000:]}")
        outputs.append(json.loads(out))
    return _join(outputs, jobs, anchors, max_problems)


def _join(outputs, jobs, anchors, max_problems) -> ChainReport:
    report = ChainReport()
    pieces: dict[tuple[int, int], list[str]] = {}
    for out in outputs:
        part = out["report"]
        report.checked += part["checked"]
        report.redacted += part["redacted"]
        report.digests_checked += part["digests_checked"]
        if report.first_seq is None and part["first_seq"] is not None:
            report.first_seq = part["first_seq"]
        if part["last_seq"] is not None:
            report.last_seq, report.head_hash = part["last_seq"], part["head_hash"]
        report.problems.extend(Problem(p["seq"], Damage(p["kind"]), p["detail"])
                               for p in part["problems"])
        report.truncated_problems |= part["more_problems"]
        for key, hashes in out["collected"].items():
            a, b = (int(x) for x in key.split("-"))
            pieces.setdefault((a, b), []).extend(hashes)
    last = outputs[-1]["expect_next"] - 1
    for anchor in anchors:
        if anchor.count <= 0:
            continue
        inside = any(anchor.first_seq >= j["first"] and anchor.last_seq <= j["last"]
                     for j in jobs)
        if inside:
            continue
        if anchor.last_seq > last:
            continue  # reported as truncation below
        hashes = [h for (a, b), hs in sorted(pieces.items())
                  if a >= anchor.first_seq and b <= anchor.last_seq for h in hs]
        report.digests_checked += 1
        if any(anchor.first_seq <= p.seq <= anchor.last_seq + 1 for p in report.problems):
            continue
        acc = MerkleAccumulator()
        for h in hashes:
            acc.add(merkle_leaf_data(h))
        name = anchor.label or f"{anchor.first_seq}..{anchor.last_seq}"
        if not hashes or hashes[-1] != anchor.head_hash:
            report.problems.append(Problem(anchor.last_seq, Damage.DIGEST_MISMATCH,
                                           f"digest {name}: head hash differs from the signed "
                                           "digest"))
        elif acc.count != anchor.count or acc.root().hex() != anchor.merkle_root:
            report.problems.append(Problem(
                anchor.first_seq, Damage.DIGEST_MISMATCH,
                f"digest {name}: entries {anchor.first_seq}..{anchor.last_seq} differ from the "
                "signed Merkle root"))
    beyond = [a for a in anchors if a.count > 0 and a.last_seq > last]
    if beyond:
        report.problems.append(Problem(
            last + 1, Damage.TRUNCATED,
            f"ledger ends at {last} but a signed digest covers entries up to "
            f"{max(a.last_seq for a in beyond)}"))
    report.problems.sort(key=lambda p: p.seq)
    if len(report.problems) > max_problems:
        report.problems = report.problems[:max_problems]
        report.truncated_problems = True
    return report


if __name__ == "__main__":
    main()
