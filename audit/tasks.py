"""Celery tasks of the audit trail: scheduled digests and verification runs."""

from __future__ import annotations

from celery import shared_task

from audit.context import Actor, audit_context
from audit.models import DigestKind


@shared_task(name="audit.digest_hourly")
def digest_hourly() -> int | None:
    """Seal the ledger up to now (beat: every hour). Idempotent: nothing new, no digest."""
    from audit.digests import digest_archive_sync, digest_create

    with audit_context(actor=Actor.system("audit.digest_hourly")):
        digest = digest_create(kind=DigestKind.HOURLY)
        digest_archive_sync()
    return digest.pk if digest else None


@shared_task(name="audit.digest_daily")
def digest_daily() -> int | None:
    """Seal the day's entries in the daily series (beat: every day at 00:05 UTC)."""
    from audit.digests import digest_archive_sync, digest_create

    with audit_context(actor=Actor.system("audit.digest_daily")):
        digest = digest_create(kind=DigestKind.DAILY)
        digest_archive_sync()
    return digest.pk if digest else None


@shared_task(name="audit.seal_pending")
def seal_pending() -> int:
    """Chain pending entries left by a process that died before its sealer ran (beat:
    every 15 s). A no-op with inline sealing."""
    from audit.services import ledger_seal_pending

    return ledger_seal_pending()


@shared_task(name="audit.verification_run_execute")
def verification_run_execute(run_id: int) -> str | None:
    """Execute one queued verification run (no-op if another worker already took it)."""
    from audit.verification import verification_run_execute as execute

    run = execute(run_id)
    return run.status if run else None
