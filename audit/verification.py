"""Verification of the whole audit trail: chain, digests (database vs. archive) and
reconciliation. Used by `verify_audit`, the API, the portal button and the Celery task."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.archive import ArchivedDigest, archive_read
from audit.chain import (
    GENESIS_PREV_HASH,
    ROW_FIELDS,
    ChainReport,
    ChainVerifier,
    Damage,
    DigestAnchor,
    Problem,
    canonical_bytes,
)
from audit.context import audit_context, effective_context
from audit.keys import signing_key
from audit.models import (
    Digest,
    LedgerEntry,
    VerificationMode,
    VerificationRun,
    VerificationStatus,
)
from audit.reconciliation import reconcile_all
from audit.signing import verify_signature
from audit.verify_parallel import compact_stream

PROGRESS_EVERY = 50_000
BATCH = 20_000


@dataclass
class VerificationResult:
    """Outcome of one verification: chain report plus digest and reconciliation findings."""

    mode: str
    start_seq: int
    chain: ChainReport
    digest_problems: list[Problem] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0                          # entries written but not chained yet
    pending_oldest_seconds: float | None = None

    @property
    def problems(self) -> list[Problem]:
        return sorted(self.digest_problems + self.chain.problems, key=lambda p: p.seq)

    @property
    def reconciliation_ok(self) -> bool:
        return all(r["ok"] for r in self.reconciliation)

    @property
    def ok(self) -> bool:
        return not self.problems and self.reconciliation_ok

    def summary(self) -> str:
        first = self.problems[0] if self.problems else None
        if first:
            return f"DAMAGED: first bad seq {first.seq}: {first.kind}: {first.detail}"
        if not self.reconciliation_ok:
            bad = [r for r in self.reconciliation if not r["ok"]]
            return "DAMAGED: reconciliation: " + "; ".join(
                ex for r in bad for ex in (r["examples"] or [r["model"]])[:2])
        waiting = (f"; {self.pending} pending entries not chained yet (oldest "
                   f"{self.pending_oldest_seconds:.1f} s)" if self.pending else "")
        if not self.chain.checked:
            return f"INTACT: no entries to check from seq {self.start_seq}{waiting}"
        return (f"INTACT: entries {self.chain.first_seq}..{self.chain.last_seq} "
                f"({self.chain.checked} checked, {self.chain.digests_checked} digests)"
                f"{waiting}")


# -- digests: database rows vs. the archive -----------------------------------------------

def _anchors_and_digest_problems() -> tuple[list[DigestAnchor], list[Problem]]:
    key = signing_key()
    archived, file_problems = archive_read(key.public_key_bytes)
    problems = [Problem(0, Damage.DIGEST_MISMATCH, p) for p in file_problems]
    by_name: dict[str, ArchivedDigest] = {a.name: a for a in archived}
    db_names = set()
    for digest in Digest.objects.order_by("last_seq"):
        db_names.add(digest.file_name)
        doc_bytes = bytes(digest.document)
        try:
            doc = json.loads(doc_bytes)
        except ValueError:
            doc = {}
        columns = {"kind": digest.kind, "first_seq": digest.first_seq,
                   "last_seq": digest.last_seq, "count": digest.count,
                   "head_hash": digest.head_hash, "merkle_root": digest.merkle_root,
                   "first_prev_hash": digest.first_prev_hash,
                   "prev_digest_sha256": digest.prev_digest_sha256}
        sig_ok = verify_signature(key.public_key_bytes, doc_bytes,
                                  bytes.fromhex(digest.signature)
                                  if len(digest.signature) == 128 else b"")
        if not sig_ok or any(doc.get(k) != v for k, v in columns.items()):
            problems.append(Problem(digest.first_seq, Damage.DIGEST_MISMATCH,
                                    f"stored digest {digest.file_name} was altered in the "
                                    "database (signature or columns)"))
        archived_copy = by_name.get(digest.file_name)
        if archived_copy is not None and archived_copy.document != doc:
            problems.append(Problem(digest.first_seq, Damage.DIGEST_MISMATCH,
                                    f"digest {digest.file_name} differs from its archived copy"))
    for name, copy in by_name.items():
        if name not in db_names:
            problems.append(Problem(copy.document["first_seq"], Damage.DIGEST_MISMATCH,
                                    f"archived digest {name} is missing from the database "
                                    "(database restored or digest deleted)"))
    # The archive is the trusted source; database rows only add what was not yet written.
    anchors = {}
    for copy in archived:
        d = copy.document
        if d["count"] > 0:
            anchors[copy.name] = DigestAnchor(d["first_seq"], d["last_seq"], d["head_hash"],
                                              d["merkle_root"], copy.name)
    problems.extend(_series_problems([a.document for a in archived]))
    return list(anchors.values()), problems


def _series_problems(documents: list[dict]) -> list[Problem]:
    """Each kind's digests must chain: contiguous ranges, each naming its predecessor."""
    problems = []
    for kind in {d["kind"] for d in documents}:
        series = sorted((d for d in documents if d["kind"] == kind), key=lambda d: d["first_seq"])
        prev = None
        for doc in series:
            if prev is None:
                expected_first, expected_hash = 1, "0" * 64
            else:
                expected_first = prev["last_seq"] + 1
                expected_hash = hashlib.sha256(_canonical(prev)).hexdigest()
            if doc["first_seq"] != expected_first or doc["prev_digest_sha256"] != expected_hash:
                problems.append(Problem(doc["first_seq"], Damage.DIGEST_MISMATCH,
                                        f"{kind} digest series broken before seq "
                                        f"{doc['first_seq']} (a digest is missing)"))
            prev = doc
    return problems


def _canonical(doc: dict) -> bytes:
    return canonical_bytes(doc)


# -- streaming the ledger -----------------------------------------------------------------

@contextmanager
def _pg_stream(start_seq: int):
    # A named (server-side) psycopg cursor in the compact form: Django's ORM costs more per
    # row than the verifier itself, and 1M rows must stream in seconds without holding them
    # in memory.
    with transaction.atomic():
        connection.ensure_connection()
        with compact_stream(connection.connection, "seq >= %s", [start_seq]) as stream:
            yield stream


def _orm_rows(start_seq: int) -> Iterator[list[tuple]]:
    start = start_seq
    while True:
        batch = list(LedgerEntry.objects.filter(seq__gte=start).order_by("seq")
                     .values_list(*ROW_FIELDS)[:BATCH])
        if not batch:
            return
        yield batch
        start = batch[-1][0] + 1


def ledger_row_batches(start_seq: int = 1) -> Iterator[list[tuple]]:
    """Ledger rows in seq order: COMPACT_FIELDS form on PostgreSQL, ROW_FIELDS elsewhere."""
    if connection.vendor == "postgresql":
        with _pg_stream(start_seq) as (batches, _resolve):
            yield from batches
        return
    yield from _orm_rows(start_seq)


PARALLEL_MIN_ENTRIES = 100_000


def _conninfo() -> dict[str, Any]:
    db = connection.settings_dict
    info = {"dbname": db["NAME"], "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None, "host": db.get("HOST") or None,
            "port": db.get("PORT") or None}
    return {k: v for k, v in info.items() if v}


def verify_ledger(
    *,
    mode: str = VerificationMode.FULL,
    reconcile: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> VerificationResult:
    """Recompute the chain (full, or from the last archived digest), check every digest
    against the archive, and reconcile current rows with their history."""
    anchors, digest_problems = _anchors_and_digest_problems()
    start_seq, prev_hash = 1, GENESIS_PREV_HASH
    if mode == VerificationMode.INCREMENTAL and anchors:
        last = max(anchors, key=lambda a: a.last_seq)
        start_seq, prev_hash = last.last_seq + 1, last.head_hash
        # The boundary entry itself must still be the one the digest sealed.
        boundary = LedgerEntry.objects.filter(seq=last.last_seq).values_list(
            "hash", flat=True).first()
        if boundary != last.head_hash:
            digest_problems.append(Problem(last.last_seq, Damage.DIGEST_MISMATCH,
                                           f"entry {last.last_seq} differs from the head of "
                                           f"digest {last.label}"))
    total = LedgerEntry.objects.filter(seq__gte=start_seq).count()
    if workers > 1 and connection.vendor == "postgresql" and total >= PARALLEL_MIN_ENTRIES:
        # Committed rows only: the workers use their own connections.
        from audit.verify_parallel import verify_parallel

        report = verify_parallel(conninfo=_conninfo(), start_seq=start_seq,
                                 prev_hash=prev_hash, anchors=anchors, workers=workers)
        if progress:
            progress(report.checked, max(total, report.checked))
    else:
        report = _verify_in_process(start_seq, prev_hash, anchors, total, progress)
    result = VerificationResult(mode=mode, start_seq=start_seq, chain=report,
                                digest_problems=digest_problems)
    if reconcile:
        result.reconciliation = [r.as_dict() for r in reconcile_all()]
    return _with_pending(result)


def _verify_in_process(start_seq: int, prev_hash: str, anchors: list[DigestAnchor],
                       total: int, progress: Callable[[int, int], None] | None) -> ChainReport:
    verifier = ChainVerifier(start_seq=start_seq, prev_hash=prev_hash, anchors=anchors)
    done = 0
    next_progress = PROGRESS_EVERY
    with ExitStack() as stack:
        if connection.vendor == "postgresql":
            batches, resolve = stack.enter_context(_pg_stream(start_seq))
            feed = partial(verifier.feed_compact, resolve=resolve)
        else:
            batches, feed = _orm_rows(start_seq), verifier.feed
        for batch in batches:
            feed(batch)
            done += len(batch)
            if progress and done >= next_progress:
                progress(done, total)
                next_progress = done + PROGRESS_EVERY
    report = verifier.finish()
    if progress:
        progress(done, max(total, done))
    return report


def _with_pending(result: VerificationResult) -> VerificationResult:
    """Background sealing: entries committed but not chained yet are reported; if the
    oldest waited longer than AUDIT_SEAL_MAX_LAG_SECONDS the sealer has stalled, and
    verification fails until they are chained (`manage.py audit_seal`)."""
    from audit.services import ledger_pending_stats

    result.pending, result.pending_oldest_seconds = ledger_pending_stats()
    limit = settings.AUDIT_SEAL_MAX_LAG_SECONDS
    if result.pending and result.pending_oldest_seconds > limit:
        result.digest_problems.append(Problem(
            (result.chain.last_seq or result.start_seq - 1) + 1, Damage.UNSEALED,
            f"{result.pending} entries written but not chained for up to "
            f"{result.pending_oldest_seconds:.0f} s (limit {limit} s): the sealer is not "
            "running; run `manage.py audit_seal`"))
    return result


# -- runs (Celery task, API, portal button) -------------------------------------------------

def verification_run_request(*, mode: str = VerificationMode.FULL) -> VerificationRun:
    """Queue a verification run (anyone with a read role may: it changes no business data)
    and start it after commit."""
    from audit.tasks import verification_run_execute

    ctx = effective_context()
    actor = ctx.resolve_actor()
    with transaction.atomic():
        run = VerificationRun.objects.create(
            mode=mode, requested_by=f"{actor.type}:{actor.label}"[:150],
            correlation_id=ctx.correlation_id[:64],
        )
        transaction.on_commit(lambda: verification_run_execute.delay(run.pk))
    return run


def verification_run_execute(run_id: int) -> VerificationRun | None:
    """Run a queued verification once (compare-and-set on the status), recording progress
    and the result, and sealing the outcome in the ledger."""
    claimed = VerificationRun.objects.filter(pk=run_id, status=VerificationStatus.QUEUED).update(
        status=VerificationStatus.RUNNING, started_at=timezone.now())
    if not claimed:
        return VerificationRun.objects.filter(pk=run_id).first()
    run = VerificationRun.objects.get(pk=run_id)

    side = None
    if connection.vendor == "postgresql":
        # The ledger streams inside a transaction (server-side cursor); progress goes over a
        # second, autocommit connection so the portal sees it while the run is going.
        side = connection.get_new_connection(connection.get_connection_params())
        side.autocommit = True

    def progress(done: int, total: int) -> None:
        if side is None:
            VerificationRun.objects.filter(pk=run_id).update(checked=done, total=total)
        else:
            side.execute("UPDATE audit_verificationrun SET checked = %s, total = %s "
                         "WHERE id = %s", [done, total, run_id])

    from django.conf import settings

    try:
        result = verify_ledger(mode=run.mode, progress=progress,
                               workers=getattr(settings, "AUDIT_VERIFY_WORKERS", 1))
    except Exception as exc:  # record any failure on the run row, then re-raise
        VerificationRun.objects.filter(pk=run_id).update(
            status=VerificationStatus.ERROR, error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now())
        raise
    finally:
        if side is not None:
            side.close()
    return _record_result(run_id, result)


def _record_result(run_id: int, result: VerificationResult) -> VerificationRun:
    first = result.problems[0] if result.problems else None
    fields = {
        "status": VerificationStatus.PASSED if result.ok else VerificationStatus.FAILED,
        "finished_at": timezone.now(),
        "checked": result.chain.checked,
        "total": result.chain.checked,
        "start_seq": result.start_seq,
        "head_seq": result.chain.last_seq,
        "head_hash": result.chain.head_hash or "",
        "first_bad_seq": first.seq if first else None,
        "damage_kind": str(first.kind) if first else (
            "" if result.reconciliation_ok else "reconciliation"),
        "problems": [p.as_dict() for p in result.problems],
        "reconciliation": {"models": result.reconciliation, "pending": result.pending},
        "digests_checked": result.chain.digests_checked,
    }
    from audit.services import audit_record

    with transaction.atomic(), audit_context(actor=effective_context().resolve_actor()):
        VerificationRun.objects.filter(pk=run_id).update(**fields)
        audit_record(
            action="audit.verify", object_type="audit.verificationrun", object_id=str(run_id),
            data={"status": fields["status"], "mode": result.mode,
                  "start_seq": result.start_seq, "head_seq": fields["head_seq"],
                  "head_hash": fields["head_hash"], "first_bad_seq": fields["first_bad_seq"],
                  "damage_kind": fields["damage_kind"], "checked": fields["checked"]},
        )
    return VerificationRun.objects.get(pk=run_id)

