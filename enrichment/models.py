"""Loan applications, their enrichment runs, and the chain of custody of every call."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from audit.models import AuditedModel
from enrichment.choices import (
    ACTIVE_RUN_STATUSES,
    EnrichmentStatus,
    PrincipalRole,
    RunStatus,
    StepStatus,
)


class LoanApplication(AuditedModel):
    """A business loan application. Applicant fields come from the applicant; the
    ``registered_*``/``credit_*``/parent fields are written only by enrichment patches."""

    reference = models.CharField(max_length=20, unique=True, editable=False)
    legal_name = models.CharField(max_length=300)
    registration_number = models.CharField(max_length=64, blank=True)
    lei = models.CharField(max_length=20, blank=True, db_index=True)
    country = models.CharField(max_length=2)
    address_line = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=120, blank=True)
    region = models.CharField(max_length=64, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    tax_id = models.CharField(max_length=32, blank=True)
    requested_amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    purpose = models.TextField()
    customer = models.ForeignKey("cases.Customer", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="loan_applications")

    # Written by enrichment (DataPatch rows say which run, call and time).
    registered_name = models.CharField(max_length=300, blank=True)
    registered_address = models.JSONField(null=True, blank=True)
    registry_entity_status = models.CharField(max_length=32, blank=True)
    registry_registration_status = models.CharField(max_length=32, blank=True)
    direct_parent_lei = models.CharField(max_length=20, blank=True)
    ultimate_parent_lei = models.CharField(max_length=20, blank=True)
    credit_score = models.PositiveSmallIntegerField(null=True, blank=True)
    credit_risk_class = models.JSONField(null=True, blank=True)
    bureau_ofac_match = models.BooleanField(null=True, blank=True)

    enrichment_status = models.CharField(max_length=16, choices=EnrichmentStatus.choices,
                                         default=EnrichmentStatus.NOT_ENRICHED, db_index=True)
    enriched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.legal_name}"


class Principal(AuditedModel):
    """A person behind the applicant (owner, director, guarantor); screened on enrichment."""

    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE,
                                    related_name="principals")
    full_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    nationality = models.CharField(max_length=2, blank=True)
    role = models.CharField(max_length=16, choices=PrincipalRole.choices,
                            default=PrincipalRole.OWNER)
    ownership_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True,
                                            blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.full_name


class EnrichmentRun(AuditedModel):
    """One attempt to enrich an application. The idempotency key makes a repeated request
    return the same run; at most one run per application is pending or running."""

    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT,
                                    related_name="runs")
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices,
                              default=RunStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    requested_by = models.CharField(max_length=150, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    case_reference = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["application"], condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="enrichment_one_active_run_per_application",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.application_id} ({self.status})"


class InsertOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")


class ProviderStep(models.Model):
    """Progress of one pipeline step of a run (internal state that makes runs resumable;
    the calls behind it are on the ledger). ``sent`` is the intent recorded before a
    billable request goes out."""

    run = models.ForeignKey(EnrichmentRun, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=40)
    fingerprint = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="enrichment_step_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of run {self.run_id} ({self.status})"


class ProviderCall(models.Model):
    """One attempt of one external request: insert-only, and recorded on the ledger with
    the SHA-256 of the response body, which ``response_body`` holds up to a size limit."""

    run = models.ForeignKey(EnrichmentRun, on_delete=models.PROTECT, related_name="calls")
    step = models.CharField(max_length=40)
    call_id = models.UUIDField(unique=True)
    provider = models.CharField(max_length=32)
    operation = models.CharField(max_length=40)
    method = models.CharField(max_length=8)
    url = models.CharField(max_length=1000)
    attempt = models.PositiveSmallIntegerField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.FloatField()
    started_at = models.DateTimeField()
    request_sha256 = models.CharField(max_length=64, blank=True)
    response_sha256 = models.CharField(max_length=64, blank=True)
    response_size = models.PositiveIntegerField(default=0)
    response_body = models.TextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    retry_after = models.FloatField(null=True, blank=True)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.method} {self.url} attempt {self.attempt} -> {self.status}"


class EnrichmentDocument(models.Model):
    """The validated application-v1 document a successful run produced (insert-only;
    its SHA-256 is on the ledger)."""

    run = models.OneToOneField(EnrichmentRun, on_delete=models.PROTECT, related_name="document")
    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT,
                                    related_name="documents")
    schema_version = models.CharField(max_length=16)
    document = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"document of run {self.run_id}"


class DataPatch(models.Model):
    """One application field changed by a run: field, before, after and source."""

    run = models.ForeignKey(EnrichmentRun, on_delete=models.PROTECT, related_name="patches")
    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT,
                                    related_name="patches")
    field = models.CharField(max_length=64)
    path = models.CharField(max_length=100)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    source = models.JSONField(null=True)
    applied_at = models.DateTimeField(auto_now_add=True)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "field"], name="enrichment_patch_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.field} by run {self.run_id}"
