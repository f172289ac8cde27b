from django.db import models


class RuleVersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft (awaiting approval)"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class DeadLetterStatus(models.TextChoices):
    OPEN = "open", "Open"
    REPLAYED = "replayed", "Replayed"
    DISCARDED = "discarded", "Discarded"


class CtrStatus(models.TextChoices):
    PENDING = "pending", "Pending filing"
    FILED = "filed", "Filed"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
