"""Celery tasks of the lists app: the hourly refresh (one task per list)."""

from __future__ import annotations

from celery import shared_task
from celery.schedules import crontab

from screening.lists.choices import ListCode
from screening.lists.services import ListImportError, list_refresh, list_source_ensure

#: The hourly refresh; the schedule itself is CELERY_BEAT_SCHEDULE in config/settings.py.
BEAT_SCHEDULE = {
    "lists-refresh-hourly": {"task": "lists.refresh_all", "schedule": crontab(minute=7)},
}


@shared_task(name="lists.refresh_all", ignore_result=True)
def lists_refresh_all() -> list[str]:
    """Queue one refresh per enabled list (each retries its own download)."""
    codes = [c for c in ListCode.values if list_source_ensure(code=c).is_enabled]
    for code in codes:
        lists_refresh_source.delay(code)
    return codes


@shared_task(name="lists.refresh_source", acks_late=True)
def lists_refresh_source(code: str) -> dict:
    """Refresh one list. Download retries happen inside (backoff + jitter); a refused file
    is recorded on the source and raised as a case, so the task itself does not retry."""
    try:
        outcome = list_refresh(source=code)
    except ListImportError as exc:
        return {"source": code, "error": str(exc)}
    if outcome.not_modified:
        return {"source": code, "not_modified": True}
    version = outcome.imported.version
    return {
        "source": code,
        "version_id": version.pk,
        "created": outcome.imported.created,
        "status": version.status,
    }
