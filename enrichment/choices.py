from django.db import models


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = [RunStatus.PENDING, RunStatus.RUNNING]


class EnrichmentStatus(models.TextChoices):
    NOT_ENRICHED = "not_enriched", "Not enriched"
    ENRICHING = "enriching", "Enriching"
    ENRICHED = "enriched", "Enriched"
    FAILED = "failed", "Enrichment failed"


class StepStatus(models.TextChoices):
    SENT = "sent", "Sent, outcome pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"


class PrincipalRole(models.TextChoices):
    OWNER = "owner", "Beneficial owner"
    DIRECTOR = "director", "Director"
    GUARANTOR = "guarantor", "Guarantor"
    OFFICER = "officer", "Officer"
