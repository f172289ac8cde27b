"""Customers and the cases analysts work."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from audit.models import AuditedModel
from cases.choices import OPEN_STATES, CaseSource, CaseState, Disposition, EntityType


class Customer(AuditedModel):
    """A customer of the bank: screened against lists, monitored, subject of cases."""

    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300)
    dob = models.CharField(max_length=10, blank=True, help_text="ISO date, partial allowed")
    country = models.CharField(max_length=2, blank=True)
    entity_type = models.CharField(max_length=16, choices=EntityType.choices,
                                   default=EntityType.PERSON)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class Case(AuditedModel):
    """One matter for an analyst: opened from a hit, an alert or a failure, worked through
    the workflow and closed with a disposition (four-eyes where the rules require)."""

    reference = models.CharField(max_length=20, unique=True, editable=False)
    source = models.CharField(max_length=16, choices=CaseSource.choices)
    state = models.CharField(max_length=20, choices=CaseState.choices, default=CaseState.NEW,
                             db_index=True)
    priority = models.PositiveSmallIntegerField(default=50, db_index=True)
    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    subject_type = models.CharField(max_length=50)
    subject_id = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="cases")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="assigned_cases")
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    rationale = models.TextField(blank=True)
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-priority", "opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=OPEN_STATES) & ~Q(dedupe_key=""),
                name="case_one_open_per_dedupe_key",
            )
        ]
        indexes = [models.Index(fields=["state", "-priority", "opened_at"])]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state != CaseState.CLOSED


class CaseEvidence(AuditedModel):
    """What triggered or supports a case: a screening match, an alert, a run, an import."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    summary = models.JSONField(default=dict)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "object_id"],
                                    name="case_evidence_once"),
        ]
