"""The database-backed step store: each finished step commits with its call records and
their ledger entries, so an interrupted run resumes from the last saved step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import ledger_append_many
from enrichment.choices import StepStatus
from enrichment.models import EnrichmentRun, ProviderCall, ProviderStep
from enrichment.providers.errors import ProviderError, UnknownOutcome
from enrichment.providers.http import CallRecord

#: response bodies kept verbatim on ProviderCall up to this many characters
BODY_LIMIT = 65_536
#: excerpt kept inside the ledger entry (the ledger holds the full body's SHA-256)
LEDGER_EXCERPT = 512

RUN_OBJECT_TYPE = "enrichment.run"


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


def save_calls(run: EnrichmentRun, step: str, records: list[CallRecord]) -> None:
    """Store and audit call records (inside the caller's transaction)."""
    if not records:
        return
    ProviderCall.objects.bulk_create([
        ProviderCall(
            run=run, step=step, call_id=r.call_id, provider=r.provider, operation=r.operation,
            method=r.method, url=r.url[:1000], attempt=r.attempt, status=r.status,
            outcome=r.outcome, error=r.error[:500], latency_ms=r.latency_ms,
            started_at=r.started_at, request_sha256=r.request_sha256,
            response_sha256=r.response_sha256, response_size=r.response_size,
            response_body=r.response_excerpt[:BODY_LIMIT], content_type=r.content_type[:100],
            retry_after=r.retry_after,
        )
        for r in records
    ])
    ledger_append_many([call_ledger_item(run, step, r) for r in records])


class DatabaseStepStore:
    """:class:`enrichment.pipeline.StepStore` on ProviderStep/ProviderCall rows."""

    def __init__(self, run: EnrichmentRun, *, reuse_days: float) -> None:
        self.run = run
        self.reuse_days = reuse_days

    def load(self, key: str, *, fingerprint: str, shared: bool) -> dict[str, Any] | None:
        step = ProviderStep.objects.filter(run=self.run, key=key,
                                           status=StepStatus.SUCCEEDED).first()
        if step is not None:
            return step.result
        if not shared or self.reuse_days <= 0:
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
            ProviderStep.objects.update_or_create(
                run=self.run, key=key,
                defaults={"fingerprint": fingerprint, "status": StepStatus.SUCCEEDED,
                          "result": earlier.result, "finished_at": timezone.now()},
            )
            ledger_append_many([("enrichment.step_reused", RUN_OBJECT_TYPE, str(self.run.pk),
                                 {"step": key, "fingerprint": fingerprint,
                                  "from_run": earlier.run_id})])
        return earlier.result

    def begin(self, key: str, *, fingerprint: str) -> None:
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
            try:
                with transaction.atomic():
                    ProviderStep.objects.update_or_create(
                        run=self.run, key=key,
                        defaults={"fingerprint": fingerprint, "status": StepStatus.SENT,
                                  "result": None, "finished_at": None},
                    )
            except IntegrityError as exc:  # pragma: no cover - concurrent claim of a run
                raise UnknownOutcome(f"concurrent {key} request for run {self.run.pk}") from exc

    def save(self, key: str, *, fingerprint: str, result: dict[str, Any],
             records: list[CallRecord]) -> None:
        with transaction.atomic():
            ProviderStep.objects.update_or_create(
                run=self.run, key=key,
                defaults={"fingerprint": fingerprint, "status": StepStatus.SUCCEEDED,
                          "result": result, "finished_at": timezone.now()},
            )
            save_calls(self.run, key, records)

    def fail(self, key: str, *, fingerprint: str, error: ProviderError) -> None:
        status = StepStatus.UNKNOWN if isinstance(error, UnknownOutcome) else StepStatus.FAILED
        with transaction.atomic():
            # A step that failed before anything was sent leaves no row; an intent that
            # ended in an unknown outcome stays blocking (status unknown).
            if status == StepStatus.UNKNOWN or ProviderStep.objects.filter(
                    run=self.run, key=key).exists():
                ProviderStep.objects.update_or_create(
                    run=self.run, key=key,
                    defaults={"fingerprint": fingerprint, "status": status,
                              "result": {"error": error.as_dict()},
                              "finished_at": timezone.now()},
                )
            save_calls(self.run, key, error.records)
