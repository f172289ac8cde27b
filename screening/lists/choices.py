"""Statuses and kinds of the lists app."""

from django.db import models


class ListCode(models.TextChoices):
    OFAC_SDN = "ofac-sdn", "OFAC SDN"
    OFAC_CONS = "ofac-cons", "OFAC Consolidated (non-SDN)"
    UN = "un", "UN Security Council Consolidated"
    UK = "uk", "UK Sanctions List"
    EU = "eu", "EU Financial Sanctions"


class VersionStatus(models.TextChoices):
    IMPORTING = "importing", "Importing"
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    HELD = "held", "Held (failed sanity checks)"


class ChangeKind(models.TextChoices):
    ADDED = "added", "Added"
    REMOVED = "removed", "Removed"
    CHANGED = "changed", "Changed"


class EntityType(models.TextChoices):
    PERSON = "person", "Person"
    ORGANISATION = "organisation", "Organisation"
    VESSEL = "vessel", "Vessel"
    AIRCRAFT = "aircraft", "Aircraft"
    UNKNOWN = "unknown", "Unknown"


class NameKind(models.TextChoices):
    PRIMARY = "primary", "Primary name"
    AKA = "aka", "a.k.a."
    FKA = "fka", "f.k.a."
    NKA = "nka", "n.k.a."
    WEAK = "weak", "Weak alias"
