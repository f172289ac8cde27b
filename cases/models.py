"""Customers and the cases analysts work."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from audit.models import AuditedModel
from cases.choices import (
    OPEN_STATES,
    CaseSource,
    CaseState,
    DecisionKind,
    Disposition,
    EntityType,
    MatchResolution,
)


class Customer(AuditedModel):
    """A customer of the bank: screened against lists, monitored, subject of cases."""

    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300)
    dob = models.CharField(max_length=10, blank=True, help_text="ISO date, partial allowed")
    country = models.CharField(max_length=2, blank=True)
    entity_type = models.CharField(
        max_length=16, choices=EntityType.choices, default=EntityType.PERSON
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Offboarded: the bank no longer serves this customer. Their records stay (retention);
    # list changes no longer re-screen them. Reinstating clears both fields.
    offboarded_at = models.DateTimeField(null=True, blank=True)
    offboarding_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    @property
    def is_offboarded(self) -> bool:
        return self.offboarded_at is not None

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class Case(AuditedModel):
    """One matter for an analyst: opened from a hit, an alert or a failure, worked through
    the workflow and closed with a disposition (four-eyes where the rules require)."""

    reference = models.CharField(max_length=20, unique=True, editable=False)
    source = models.CharField(max_length=16, choices=CaseSource.choices)
    state = models.CharField(
        max_length=20, choices=CaseState.choices, default=CaseState.NEW, db_index=True
    )
    priority = models.PositiveSmallIntegerField(default=50, db_index=True)
    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    subject_type = models.CharField(max_length=50)
    subject_id = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_cases",
    )
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    rationale = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Who worked the case to its decision, and who signed it off (four-eyes: never equal
    # when the rules require approval).
    investigator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="investigated_cases",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decided_cases",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    # SAR clock: 30 days from detection, 60 when no suspect is identified (31 CFR 1020.320).
    detected_at = models.DateTimeField(default=timezone.now)
    suspect_identified = models.BooleanField(default=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    review_due_at = models.DateTimeField(null=True, blank=True)
    # Lower-cased reference, title, customer, list entities and rules: one column to search.
    search_text = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-priority", "opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=OPEN_STATES) & ~Q(dedupe_key=""),
                name="case_one_open_per_dedupe_key",
            )
        ]
        indexes = [
            models.Index(fields=["state", "-priority", "opened_at"]),
            models.Index(fields=["assignee", "state", "-priority", "opened_at"]),
            models.Index(fields=["source", "state", "-priority", "opened_at"]),
            # Queue tab counts read this index only; the open inbox walks the partial one.
            models.Index(fields=["state", "source"], name="case_state_source"),
            models.Index(
                fields=["-priority", "opened_at", "id"],
                condition=Q(state__in=OPEN_STATES),
                name="case_open_queue",
            ),
            # Overdue (SAR deadline passed) open cases: the dashboard and the inbox filter.
            models.Index(
                fields=["due_at"], condition=Q(state__in=OPEN_STATES), name="case_open_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state != CaseState.CLOSED

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at is not None and self.due_at < timezone.now()


class CaseEvidence(AuditedModel):
    """What triggered or supports a case: a screening match, an alert, a run, an import."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    summary = models.JSONField(default=dict)
    added_at = models.DateTimeField(default=timezone.now)
    resolution = models.CharField(
        max_length=20, choices=MatchResolution.choices, blank=True, default=""
    )
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "object_id"], name="case_evidence_once"
            ),
        ]
        indexes = [
            # The inbox's rule and list-entity filters, and alerts per rule per day.
            models.Index(KeyTransform("rule_code", "summary"), name="case_evidence_rule"),
            models.Index(KeyTransform("entity_uid", "summary"), name="case_evidence_entity"),
            models.Index(fields=["kind", "added_at"], name="case_evidence_kind_added"),
            # Which case holds this object (a logged query's hit, an alert).
            models.Index(fields=["object_id"], name="case_evidence_object"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


class CaseComment(AuditedModel):
    """A note on a case. Comments are never edited: a correction is another comment."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]


def _attachment_path(instance: CaseAttachment, filename: str) -> str:
    # Stored by content hash: the name the user gave never reaches the filesystem.
    return f"cases/attachments/{instance.sha256[:2]}/{instance.sha256}"


class CaseAttachment(AuditedModel):
    """A document attached to a case, kept with its SHA-256 so its integrity can be proven."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sha256"], name="case_attachment_once"),
        ]


class CaseDecision(AuditedModel):
    """Who decided what on a case: the four-eyes record the case page shows."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    rationale = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]


class SarDraft(AuditedModel):
    """The FinCEN-SAR-shaped draft an analyst prepares for a true-match case."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="sar")
    subject_name = models.CharField(max_length=300)
    subject_id = models.CharField(max_length=64, blank=True)
    subject_dob = models.CharField(max_length=10, blank=True)
    subject_country = models.CharField(max_length=2, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    activity_start = models.DateField(null=True, blank=True)
    activity_end = models.DateField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    narrative = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    exported_at = models.DateTimeField(null=True, blank=True)
