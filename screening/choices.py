"""Statuses and kinds of the screening engine."""

from django.db import models


class ScreeningUse(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    PAYMENTS = "payments", "Payments"
    RESCREENING = "rescreening", "Re-screening"


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class QueryOrigin(models.TextChoices):
    SINGLE = "single", "Single search"
    BATCH = "batch", "Batch"
    DELTA = "delta", "Delta re-screening"
    CUSTOMER = "customer", "Customer base update"
