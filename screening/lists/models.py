"""Sources, versions, insert-only entity rows and deltas of sanctions lists.

Sources and versions change (activation, freshness) and are audited row by row.
Entities, names and changes are immutable reference data: inserted once per import,
never updated or deleted, and covered by one audit record per import (file hash, counts).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from audit.models import AuditedModel
from screening.lists.choices import ChangeKind, EntityType, ListCode, NameKind, VersionStatus


class ListSource(AuditedModel):
    """One published list Vigil follows, with its download state and freshness."""

    code = models.CharField(max_length=16, choices=ListCode.choices, unique=True)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, blank=True)
    is_enabled = models.BooleanField(default=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ListVersion(AuditedModel):
    """One imported publication of a list. At most one version per source is active, and
    only a completely imported and validated version can be."""

    source = models.ForeignKey(ListSource, on_delete=models.PROTECT, related_name="versions")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=32)
    publication_date = models.DateField(null=True, blank=True)
    fetched_at = models.DateTimeField()
    imported_at = models.DateTimeField(null=True, blank=True)
    importer_version = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.IMPORTING
    )
    is_active = models.BooleanField(default=False)
    entity_count = models.PositiveIntegerField(default=0)
    name_count = models.PositiveIntegerField(default=0)
    declared_count = models.PositiveIntegerField(null=True, blank=True)
    counts_by_type = models.JSONField(default=dict, blank=True)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_count = models.PositiveIntegerField(default=0)
    removed_count = models.PositiveIntegerField(default=0)
    changed_count = models.PositiveIntegerField(default=0)
    status_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-fetched_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["source", "sha256"], name="lists_version_unique_file"),
            models.UniqueConstraint(
                fields=["source"], condition=Q(is_active=True), name="lists_one_active_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source.code} #{self.pk} ({self.publication_date or self.fetched_date})"

    @property
    def fetched_date(self):
        return self.fetched_at.date() if self.fetched_at else None


class InsertOnlyQuerySet(models.QuerySet):
    """Entity rows are reference data of a published version: never changed in place."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are insert-only")

    update.queryset_only = True
    delete.queryset_only = True


class InsertOnlyModel(models.Model):
    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{type(self).__name__} rows are insert-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} rows are insert-only")


class Entity(InsertOnlyModel):
    """One listed party as published in one version (insert-only).

    `content_hash` covers every published field; equal hashes across versions mean the
    entry did not change. Content fields mirror `screening.lists.records.ListedEntity`.
    """

    version = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="entities")
    uid = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=16, choices=EntityType.choices)
    primary_name = models.CharField(max_length=500)
    # The published content as `screening.lists.delta.entity_content` gives it: names
    # ([[name, kind, script]]), programs, remarks, dates/places of birth, nationalities,
    # countries, addresses, identifiers ([[kind, value]]) and extra. One JSON document per
    # row keeps imports fast; searchable names are also in EntityName.
    content = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["version", "primary_name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "uid"], name="lists_entity_unique_uid"),
        ]
        indexes = [models.Index(fields=["uid", "version"], name="lists_entity_uid_idx")]
        verbose_name_plural = "entities"

    def __str__(self) -> str:
        return f"{self.primary_name} ({self.uid})"


class EntityName(InsertOnlyModel):
    """A searchable name of an entity (primary or alias), folded for search."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="name_rows")
    version = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=500)
    kind = models.CharField(max_length=8, choices=NameKind.choices)
    script = models.CharField(max_length=4)
    folded = models.CharField(max_length=500, db_index=True)

    class Meta:
        ordering = ["entity", "pk"]

    def __str__(self) -> str:
        return self.name


class EntityChange(InsertOnlyModel):
    """One entry of a version's delta against the version it replaced."""

    version = models.ForeignKey(ListVersion, on_delete=models.PROTECT, related_name="changes")
    uid = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=ChangeKind.choices)
    old_entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    diff = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "kind", "pk"]
        indexes = [models.Index(fields=["version", "kind"], name="lists_change_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.uid}"
