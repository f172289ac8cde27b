"""Celery tasks of the screening engine: load by id, call one service."""

from __future__ import annotations

from celery import shared_task

from screening.services import (
    screening_batch_resume_stale,
    screening_batch_run,
    screening_rescreen_delta,
)


@shared_task(name="screening.batch_run", acks_late=True, reject_on_worker_lost=True)
def screening_batch_run_task(batch_id: int) -> str:
    """Run or resume a batch; a finished (or missing) batch is a no-op, so a redelivered
    message never repeats work (progress only moves forward, chunk by chunk)."""
    batch = screening_batch_run(batch_id=batch_id)
    return batch.status if batch is not None else "missing"


@shared_task(name="screening.delta_rescreen", acks_late=True)
def screening_delta_task(version_id: int) -> dict:
    """Re-screen the customer base against what a newly active list version changed."""
    return screening_rescreen_delta(version_id=version_id)


@shared_task(name="screening.batch_resume_stale")
def screening_batch_resume_stale_task() -> list[int]:
    """Periodic sweep (Celery beat): re-queue batches whose worker died mid-run."""
    return screening_batch_resume_stale()
