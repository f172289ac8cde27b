from django.db import models


class CaseSource(models.TextChoices):
    SCREENING = "screening", "Screening hit"
    MONITORING = "monitoring", "Monitoring alert"
    ENRICHMENT = "enrichment", "Enrichment failure"
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
