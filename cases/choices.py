from django.db import models


class CaseSource(models.TextChoices):
    SCREENING = "screening", "Screening hit"
    MONITORING = "monitoring", "Monitoring alert"
    ENRICHMENT = "enrichment", "Enrichment review"  # a failed run, or a bureau warning
    LISTS = "lists", "List import"
    MANUAL = "manual", "Manual"


class CaseState(models.TextChoices):
    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    INVESTIGATING = "investigating", "Investigating"
    ESCALATED = "escalated", "Escalated"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    CLOSED = "closed", "Closed"


OPEN_STATES = [s for s in CaseState.values if s != CaseState.CLOSED]


class Disposition(models.TextChoices):
    FALSE_POSITIVE = "false_positive", "False positive"
    TRUE_MATCH = "true_match", "True match / escalate to SAR"
    NO_FURTHER_ACTION = "no_further_action", "No further action"


class EntityType(models.TextChoices):
    PERSON = "person", "Person"
    ORGANISATION = "organisation", "Organisation"


class EvidenceKind(models.TextChoices):
    SCREENING_MATCH = "screening_match", "Screening match"
    ALERT = "alert", "Monitoring alert"
    ENRICHMENT_RUN = "enrichment_run", "Enrichment run"
    LIST_IMPORT = "list_import", "List import"


class MatchResolution(models.TextChoices):
    UNRESOLVED = "", "Unresolved"
    FALSE_POSITIVE = "false_positive", "False positive"
    TRUE_MATCH = "true_match", "True match"


class DecisionKind(models.TextChoices):
    """What a person decided on a case; the UI shows who decided what."""

    CLOSE = "close", "Closed"
    SUBMIT = "submit", "Submitted for approval"
    APPROVE = "approve", "Approved closure"
    REJECT = "reject", "Sent back"
    REOPEN = "reopen", "Reopened"
    ESCALATE = "escalate", "Escalated"
    MATCH_RESOLVE = "match_resolve", "Resolved a match"
    BULK_CLOSE = "bulk_close", "Closed in bulk"


class SarActivityCategory(models.TextChoices):
    """FinCEN SAR Part II activity categories (abridged)."""

    STRUCTURING = "structuring", "Structuring"
    TERRORIST_FINANCING = "terrorist_financing", "Terrorist financing"
    FRAUD = "fraud", "Fraud"
    MONEY_LAUNDERING = "money_laundering", "Money laundering"
    SANCTIONS = "sanctions", "Sanctions evasion"
    IDENTIFICATION = "identification", "Identification / documentation"
    OTHER = "other", "Other suspicious activity"
