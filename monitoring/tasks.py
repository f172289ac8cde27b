"""Celery tasks of the monitoring app: load by id, call one service."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import backtest_execute


@shared_task(name="monitoring.backtest_run")
def backtest_run_task(backtest_id: int) -> int:
    """Run a queued backtest; a redelivered task finds it running/done and does nothing."""
    from monitoring.models import Backtest

    if not Backtest.objects.filter(pk=backtest_id).exists():
        return 0  # the row is gone: nothing to do
    return backtest_execute(backtest_id=backtest_id).alert_count
