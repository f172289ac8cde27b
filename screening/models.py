"""Screening records: the append-only query log, batch runs and the whitelist."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from audit.models import AuditedModel
from screening.choices import BatchStatus, QueryOrigin, ScreeningUse


class BatchRun(AuditedModel):
    """One batch screening of an uploaded customer file: progress, status and error.

    Resumable: each chunk of rows is logged together with the `processed` counter (same
    transaction), and a row is logged at most once, so a resumed run screens only the rows
    not yet logged. Chunks may commit in any order (slices on several workers)."""

    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=BatchStatus.choices,
                              default=BatchStatus.PENDING)
    use = models.CharField(max_length=16, choices=ScreeningUse.choices,
                           default=ScreeningUse.ONBOARDING)
    threshold = models.FloatField(null=True, blank=True)
    lists = models.JSONField(default=list, blank=True)
    # Every row with an id is stored in the customer base (re-screened when a list
    # changes), not only the rows with hits.
    keep_customers = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    hit_rows = models.PositiveIntegerField(default=0)
    match_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Each dispatch to the workers (first run, redelivery, resume, stale sweep) counts up;
    # a task of an earlier dispatch that starts or commits later stops, so a batch
    # re-queued while its earlier tasks still wait in the queue is screened once.
    dispatches = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"batch #{self.pk} {self.file_name} ({self.status})"

    @property
    def progress_percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (BatchStatus.SUCCEEDED, BatchStatus.FAILED)


class BatchInput(models.Model):
    """The validated input rows of a batch (kept so a run can resume after a crash)."""

    batch = models.OneToOneField(BatchRun, on_delete=models.CASCADE, related_name="input")
    rows = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"input of batch #{self.batch_id}"


class ScreeningQuery(models.Model):
    """One screening query as it was run: who, what, against which list versions, with
    which algorithm and configuration, and what it returned. Append-only (a database
    trigger refuses updates and deletes), so any past result can be reproduced."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    origin = models.CharField(max_length=8, choices=QueryOrigin.choices,
                              default=QueryOrigin.SINGLE)
    use = models.CharField(max_length=16, choices=ScreeningUse.choices,
                           default=ScreeningUse.ONBOARDING)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    batch = models.ForeignKey(BatchRun, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="queries")
    row_number = models.PositiveIntegerField(null=True, blank=True)
    customer = models.ForeignKey("cases.Customer", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="screening_queries")
    input = models.JSONField()
    normalized = models.CharField(max_length=1000, blank=True)
    list_versions = models.JSONField(default=dict)
    algorithm_version = models.CharField(max_length=32)
    config = models.JSONField(default=dict)
    threshold = models.FloatField()
    results = models.JSONField(default=list)
    suppressed = models.JSONField(default=list, blank=True)
    hit_count = models.PositiveIntegerField(default=0)
    top_score = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # A batch row is logged once: chunks of one batch run on several workers at once,
        # and a second copy of a row (a redelivered or resumed slice) is refused here.
        constraints = [models.UniqueConstraint(
            fields=["batch", "row_number"], condition=models.Q(batch__isnull=False),
            name="screening_query_batch_row_once")]
        triggers = [
            pgtrigger.Protect(name="screening_query_append_only",
                              operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"query #{self.pk} {self.input.get('name', '')!r}"

    def hit_evidence_id(self, list_code: str, entity_uid: str) -> str:
        """The object id a case's evidence gives this query's hit on a listed entity."""
        return f"{self.pk}:{list_code}:{entity_uid}"


class Whitelist(AuditedModel):
    """A reviewed false positive: this customer is not this listed entity, as long as the
    entity's content stays the same (its content hash). A changed entity reopens it."""

    customer = models.ForeignKey("cases.Customer", on_delete=models.PROTECT,
                                 related_name="screening_whitelist")
    list_code = models.CharField(max_length=16)
    entity_uid = models.CharField(max_length=64)
    content_hash = models.CharField(max_length=64)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopened_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "list_code", "entity_uid",
                                            "content_hash"],
                                    condition=models.Q(active=True),
                                    name="screening_whitelist_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} not {self.list_code}:{self.entity_uid}"
