"""The database-backed step store: each finished step commits with its call records and
their ledger entries, so an interrupted run resumes from the last saved step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import ledger_append_many
from config.rows import insert_rows
from enrichment.choices import StepStatus
from enrichment.models import EnrichmentRun, ProviderCall, ProviderStep
from enrichment.providers.errors import ProviderError, UnknownOutcome
from enrichment.providers.http import CallRecord

#: response bodies kept verbatim on ProviderCall up to this many characters
BODY_LIMIT = 65_536
#: excerpt kept inside the ledger entry (the ledger holds the full body's SHA-256)
LEDGER_EXCERPT = 512

RUN_OBJECT_TYPE = "enrichment.enrichmentrun"  # the run model's label


def call_ledger_item(run: EnrichmentRun, step: str, record: CallRecord
                     ) -> tuple[str, str, str, dict]:
    """The ledger entry for one external call (compact: the body stays on ProviderCall)."""
    return ("enrichment.provider_call", RUN_OBJECT_TYPE, str(run.pk), {
        "application": run.application_id, "step": step, "call_id": record.call_id,
        "provider": record.provider, "operation": record.operation, "method": record.method,
        "url": record.url, "attempt": record.attempt, "status": record.status,
        "outcome": record.outcome, "error": record.error[:300],
        "latency_ms": round(record.latency_ms, 1), "started_at": record.started_at.isoformat(),
        "request_sha256": record.request_sha256, "response_sha256": record.response_sha256,
        "response_size": record.response_size,
        "excerpt": record.response_excerpt[:LEDGER_EXCERPT],
    })


def save_calls(run: EnrichmentRun, calls: list[tuple[str, CallRecord]]) -> None:
    """Store and audit (step, call record) pairs (inside the caller's transaction)."""
    ledger_append_many(save_call_rows(run, calls))


_CALL_COLUMNS = ("run_id", "step", "call_id", "provider", "operation", "method", "url",
                 "attempt", "status", "outcome", "error", "latency_ms", "started_at",
                 "request_sha256", "response_sha256", "response_size", "response_body",
                 "content_type", "retry_after")


def save_call_rows(run: EnrichmentRun, calls: list[tuple[str, CallRecord]]
                   ) -> list[tuple[str, str, str, dict]]:
    """Store call rows; return their ledger items for the caller to append last (the
    ledger's chain lock is held from the first append until commit)."""
    if not calls:
        return []
    insert_rows(ProviderCall, _CALL_COLUMNS, [
        (run.pk, step, r.call_id, r.provider, r.operation, r.method, r.url[:1000],
         r.attempt, r.status, r.outcome, r.error[:500], r.latency_ms, r.started_at,
         r.request_sha256, r.response_sha256, r.response_size,
         r.response_excerpt[:BODY_LIMIT], r.content_type[:100], r.retry_after)
        for step, r in calls
    ])
    return [call_ledger_item(run, step, r) for step, r in calls]


class DatabaseStepStore:
    """:class:`enrichment.pipeline.StepStore` on ProviderStep/ProviderCall rows.

    Finished read-only steps are buffered and written together (with their calls and
    ledger entries) in the next ledger-writing transaction the run makes anyway: the
    outcome of the billable pull, a failure, or the final transaction. Commits (and the
    ledger's global chain lock) dominate the cost of a run; a worker killed before a flush
    only repeats idempotent reads on resume. The billable step is never buffered: its
    intent commits before the request is sent."""

    def __init__(self, run: EnrichmentRun, *, reuse_days: float,
                 first_run: bool = False) -> None:
        self.run = run
        self.reuse_days = reuse_days
        self._pending: list[tuple[str, str, dict[str, Any], list[CallRecord]]] = []
        self._buffered: dict[str, dict[str, Any]] = {}
        self._sent: set[str] = set()
        # A first attempt has nothing saved yet (steps are written only while the run is
        # claimed, and this claim is its first): skip the per-step lookups.
        self._fresh = run.attempts <= 1 or not ProviderStep.objects.filter(run=run).exists()
        # The first attempt of the application's first run (``first_run``: the caller
        # checked that no other run of it exists): step fingerprints name the application,
        # so no other run's step can match one; the lookups for them are skipped.
        self._alone = first_run and run.attempts <= 1

    def load(self, key: str, *, fingerprint: str, shared: bool) -> dict[str, Any] | None:
        if key in self._buffered:
            return self._buffered[key]
        step = None if self._fresh else ProviderStep.objects.filter(
            run=self.run, key=key, status=StepStatus.SUCCEEDED).first()
        if step is not None:
            return step.result
        if not shared or self.reuse_days <= 0 or self._alone:
            return None
        # A billable report pulled for this application by an earlier run, recently
        # enough: reuse it rather than record a second inquiry on the business's file.
        earlier = (ProviderStep.objects
                   .filter(fingerprint=fingerprint, status=StepStatus.SUCCEEDED,
                           finished_at__gte=timezone.now() - timedelta(days=self.reuse_days))
                   .order_by("-finished_at").first())
        if earlier is None:
            return None
        with transaction.atomic():
            self.flush()
            self._write_step(key, fingerprint, StepStatus.SUCCEEDED, earlier.result)
            ledger_append_many([("enrichment.step_reused", RUN_OBJECT_TYPE, str(self.run.pk),
                                 {"step": key, "fingerprint": fingerprint,
                                  "from_run": earlier.run_id})])
        return earlier.result

    def _write_step(self, key: str, fingerprint: str, status: str,
                    result: dict[str, Any] | None) -> None:
        self._write_steps([(key, fingerprint, status, result)])

    def _write_steps(self, steps: list[tuple[str, str, str, dict[str, Any] | None]]) -> None:
        """Insert or update (run, key) step rows in one statement (INSERT ... ON CONFLICT):
        no lookup first, whether or not an earlier attempt left the row."""
        if not steps:
            return
        now = timezone.now()
        insert_rows(
            ProviderStep,
            ("run_id", "key", "fingerprint", "status", "result", "created_at", "finished_at"),
            [(self.run.pk, key, fingerprint, status, result, now,
              None if status == StepStatus.SENT else now)
             for key, fingerprint, status, result in steps],
            conflict=("run_id", "key"),
            update=("fingerprint", "status", "result", "finished_at"))

    def flush(self) -> None:
        """Write buffered steps, their calls and ledger entries (inside the caller's
        transaction)."""
        ledger_append_many(self.flush_rows())

    def flush_rows(self, *, finished: tuple[str, str, dict[str, Any], list[CallRecord]]
                   | None = None) -> list[tuple[str, str, str, dict]]:
        """Write buffered steps and calls, plus ``finished`` (key, fingerprint, result,
        records: a step that just ended) in the same statements; return the calls'
        ledger items."""
        if not self._pending and finished is None:
            return []
        pending, self._pending = self._pending, []
        if finished is not None:
            pending.append(finished)
        # Until the surrounding transaction commits, these may still be rolled back (a
        # failed final transaction): keep them so the failure path can write them again.
        self._unconfirmed = pending
        transaction.on_commit(self._confirm)
        self._write_steps([(key, fingerprint, StepStatus.SUCCEEDED, result)
                           for key, fingerprint, result, _records in pending])
        self._buffered.clear()
        return save_call_rows(self.run, [(key, r) for key, _fp, _res, records in pending
                                         for r in records])

    def _confirm(self) -> None:
        self._unconfirmed = []

    def restore_after_rollback(self) -> None:
        """Put back steps whose flush was rolled back, so their calls are still audited.
        Steps already in the database (their flush committed) are not written twice."""
        unconfirmed, self._unconfirmed = getattr(self, "_unconfirmed", []), []
        if not unconfirmed:
            return
        stored = set(ProviderCall.objects.filter(
            call_id__in=[r.call_id for _k, _f, _res, records in unconfirmed for r in records]
        ).values_list("call_id", flat=True))
        stored_ids = {str(c) for c in stored}
        lost = [item for item in unconfirmed
                if not any(r.call_id in stored_ids for r in item[3])]
        self._pending = lost + self._pending

    def begin(self, key: str, *, fingerprint: str) -> None:
        # Buffered read steps are not written here but with the pull's outcome: this
        # transaction then stays off the ledger (whose chain lock serialises all writers).
        if self._alone:
            # Nothing to check against: the intent commits on its own (autocommit).
            self._write_step(key, fingerprint, StepStatus.SENT, None)
            self._sent.add(key)
            return
        with transaction.atomic():
            pending = (ProviderStep.objects.select_for_update()
                       .filter(fingerprint=fingerprint,
                               status__in=[StepStatus.SENT, StepStatus.UNKNOWN]).first())
            if pending is not None:
                raise UnknownOutcome(
                    f"an earlier {key} request (run {pending.run_id}) has no recorded "
                    "outcome; it is not sent again until a human reconciles it with the "
                    "provider", provider=key.split(".")[0],
                )
            self._write_step(key, fingerprint, StepStatus.SENT, None)
        self._sent.add(key)

    def save(self, key: str, *, fingerprint: str, result: dict[str, Any],
             records: list[CallRecord]) -> None:
        if key in self._sent:
            # The outcome of a guarded (billable) step commits at once, with the buffered
            # steps: one statement for the step rows, one for the calls, one for the ledger.
            with transaction.atomic():
                ledger_append_many(self.flush_rows(
                    finished=(key, fingerprint, result, records)))
            return
        self._pending.append((key, fingerprint, result, records))
        self._buffered[key] = result

    def fail(self, key: str, *, fingerprint: str, error: ProviderError) -> None:
        status = StepStatus.UNKNOWN if isinstance(error, UnknownOutcome) else StepStatus.FAILED
        with transaction.atomic():
            ledger_items = self.flush_rows()
            # A step that failed before anything was sent leaves no row; an intent that
            # ended in an unknown outcome stays blocking (status unknown).
            if status == StepStatus.UNKNOWN or ProviderStep.objects.filter(
                    run=self.run, key=key).exists():
                self._write_step(key, fingerprint, status, {"error": error.as_dict()})
            ledger_items += save_call_rows(self.run, [(key, r) for r in error.records])
            ledger_append_many(ledger_items)
