"""Celery tasks of enrichment: load by id, call one service."""

from __future__ import annotations

from celery import shared_task

from enrichment.services import enrichment_run_execute, enrichment_runs_resume_stale


# The run row is the result (status, timings, error): nothing reads a Celery result, so
# none is stored.
@shared_task(name="enrichment.run", acks_late=True, reject_on_worker_lost=True, bind=True,
             ignore_result=True)
def enrichment_run_task(self, run_id: int, reclaim_after: float | None = None) -> str:
    """Run or resume one enrichment run; a run already finished (or gone) is a no-op, so a
    redelivered message never repeats work."""
    run = enrichment_run_execute(run_id=run_id, task_id=self.request.id or "",
                                 reclaim_after=reclaim_after)
    return run.status if run is not None else "missing"


@shared_task(name="enrichment.resume_stale")
def enrichment_resume_stale_task() -> list[int]:
    """Periodic sweep: re-queue runs whose worker died mid-run."""
    return enrichment_runs_resume_stale()
