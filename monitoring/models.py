"""Transaction monitoring data: ingested transactions, versioned rules, alerts, CTR
report rows, dead letters, FATF reference lists and backtests.

Transactions and alerts are high-volume and immutable: they are plain insert-only tables
whose batches are sealed into the ledger with one `audit_record` each (docs/contracts.md).
Everything people change (rules, versions, dead-letter replays, CTR rows, backtests,
reference lists) is an `AuditedModel` with full history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AuditedModel
from monitoring.choices import (
    BacktestStatus,
    CtrStatus,
    DeadLetterStatus,
    RuleVersionStatus,
    Severity,
)


class InsertOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")

    update.queryset_only = True

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")

    delete.queryset_only = True


class Transaction(models.Model):
    """One ingested transaction, unique by (source, external_id): the idempotency key that
    makes a redelivered or replayed event change nothing. Never updated or deleted."""

    source = models.CharField(max_length=128)
    external_id = models.CharField(max_length=128)
    timestamp = models.DateTimeField(help_text="Transaction time (UTC), not arrival time")
    account_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128, db_index=True)
    amount = models.DecimalField(max_digits=20, decimal_places=4)
    currency = models.CharField(max_length=3)
    direction = models.CharField(max_length=3)
    channel = models.CharField(max_length=20)
    counterparty_name = models.CharField(max_length=300, blank=True)
    counterparty_account = models.CharField(max_length=128, blank=True)
    counterparty_country = models.CharField(max_length=2, blank=True)
    origin_country = models.CharField(max_length=2, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    stream_entry_id = models.CharField(max_length=40, blank=True)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="monitoring_tx_source_id_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["account_id", "timestamp"], name="monitoring_tx_account_ts")
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Transactions are insert-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Transactions are insert-only")


class Rule(AuditedModel):
    """A monitoring rule: a typology with parameters. Its parameters live in versions;
    only the version an approver activated is evaluated."""

    code = models.CharField(max_length=32, unique=True)
    typology = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    active_version = models.ForeignKey(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class RuleVersion(AuditedModel):
    """One set of parameters for a rule. Editing creates a draft; it takes effect only
    when an approver other than its author approves it (four eyes)."""

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    params = models.JSONField()
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(
        max_length=12, choices=RuleVersionStatus.choices, default=RuleVersionStatus.DRAFT
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rule__code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="monitoring_rv_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} v{self.version} ({self.status})"


class Alert(models.Model):
    """A rule version that fired at a transaction. Unique by (rule version, transaction)
    so reprocessing never duplicates it; the trace explains the decision. Insert-only
    except for the one-time link to its case."""

    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="alerts")
    rule_code = models.CharField(max_length=32, db_index=True)
    typology = models.CharField(max_length=40)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="alerts")
    account_id = models.CharField(max_length=128, db_index=True)
    customer_id = models.CharField(max_length=128, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    priority = models.PositiveSmallIntegerField()
    transaction_time = models.DateTimeField()
    trace = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_version", "transaction"], name="monitoring_alert_rv_tx_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk} {self.rule_code} {self.account_id}"


class CtrReport(AuditedModel):
    """The CTR queue: cash of one account on one business day above $10,000 (a report to
    file, not an alert). Totals are recomputed from stored transactions on every cash
    transaction of that day, so late events keep them exact."""

    account_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128, db_index=True)
    business_day = models.DateField()
    cash_in = models.DecimalField(max_digits=20, decimal_places=4)
    cash_out = models.DecimalField(max_digits=20, decimal_places=4)
    transaction_count = models.PositiveIntegerField()
    transaction_refs = models.JSONField(default=list)
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=CtrStatus.choices, default=CtrStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-business_day", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "business_day"], name="monitoring_ctr_account_day_uniq"
            ),
        ]


class DeadLetter(AuditedModel):
    """A stream entry that could not be processed, with the reason. Visible in the
    portal and replayable (re-added to the stream) once the cause is fixed."""

    stream = models.CharField(max_length=100)
    entry_id = models.CharField(max_length=40)
    payload = models.TextField()
    reason = models.CharField(max_length=500)
    errors = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10,
        choices=DeadLetterStatus.choices,
        default=DeadLetterStatus.OPEN,
        db_index=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_entry_id = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "entry_id"], name="monitoring_deadletter_entry_uniq"
            ),
        ]


class JurisdictionList(AuditedModel):
    """One publication of the FATF lists (call for action / increased monitoring), in
    force from `effective_from`. Versioned reference data used by the T5 rule."""

    version = models.CharField(max_length=40, unique=True)
    effective_from = models.DateField()
    call_for_action = models.JSONField(default=list)
    increased_monitoring = models.JSONField(default=list)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-effective_from"]


class Backtest(AuditedModel):
    """A run of one rule version (draft or active) over stored history: how many alerts
    it would have raised and for whom, before anyone approves it."""

    rule_version = models.ForeignKey(
        RuleVersion, on_delete=models.PROTECT, related_name="backtests"
    )
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    transactions_scanned = models.PositiveBigIntegerField(default=0)
    accounts_scanned = models.PositiveIntegerField(default=0)
    alert_count = models.PositiveIntegerField(default=0)
    report_count = models.PositiveIntegerField(default=0)
    by_customer = models.JSONField(default=list)
    sample_alerts = models.JSONField(default=list)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
