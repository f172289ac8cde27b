"""Celery tasks of the screening engine: load by id, call one service."""

from __future__ import annotations

from celery import shared_task

from audit.context import Actor
from screening.matcher_cache import current_matcher
from screening.services import (
    screening_batch_dispatch,
    screening_batch_resume_stale,
    screening_batch_run,
    screening_customers_screen,
    screening_rescreen_delta,
)


@shared_task(name="screening.batch_run", acks_late=True, reject_on_worker_lost=True,
             bind=True)
def screening_batch_run_task(self, batch_id: int) -> str:
    """Run or resume a batch: as slices on every worker process
    (SCREENING_BATCH_SLICE_ROWS > 0, the default) or here, whole. A finished (or missing)
    batch is a no-op and rows already logged are never screened again, so a redelivered
    message repeats no work."""
    # the slices go to the queue this task came from (e.g. a dedicated screening queue)
    queue = (self.request.delivery_info or {}).get("routing_key")
    slices = screening_batch_dispatch(batch_id=batch_id, queue=queue)
    return f"{len(slices)} slices queued"


@shared_task(name="screening.batch_slice", acks_late=True, reject_on_worker_lost=True)
def screening_batch_slice_task(batch_id: int, lo: int, hi: int,
                               dispatch: int | None = None) -> str:
    """Screen the rows `lo`..`hi` of a batch that are not logged yet (see
    `screening_batch_dispatch`); the slice that logs the last row finishes the batch. A
    slice of an earlier `dispatch` than the batch's latest does nothing."""
    batch = screening_batch_run(batch_id=batch_id, lo=lo, hi=hi, dispatch=dispatch)
    return batch.status if batch is not None else "missing"


@shared_task(name="screening.delta_rescreen", acks_late=True)
def screening_delta_task(version_id: int) -> dict:
    """Re-screen the customer base against what a newly active list version changed."""
    return screening_rescreen_delta(version_id=version_id)


@shared_task(name="screening.customers_screen", acks_late=True)
def screening_customers_task(customer_ids: list[int]) -> dict:
    """Screen customers new to the base (or with changed details) against the active
    lists, as soon as an integration stores them."""
    return screening_customers_screen(customer_ids=customer_ids,
                                      actor=Actor.system("screening.customers_screen"))


@shared_task(name="screening.matcher_warm")
def screening_matcher_warm_task() -> str:
    """After a list version activates: build the active lists' matcher here, once, and
    keep its index (screening.index_store), so the portal's and the other workers'
    processes load it instead of each building it on their next query."""
    return f"matcher over list versions {list(current_matcher().key)}"


@shared_task(name="screening.batch_resume_stale")
def screening_batch_resume_stale_task() -> list[int]:
    """Periodic sweep (Celery beat): re-queue batches whose worker died mid-run."""
    return screening_batch_resume_stale()
