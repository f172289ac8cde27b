"""Output serializers of the lists API (read-only: lists are imported, never edited)."""

from __future__ import annotations

from rest_framework import serializers

from screening.lists.models import Entity, EntityChange, ListSource, ListVersion


class VersionOutputSerializer(serializers.ModelSerializer):
    list = serializers.CharField(source="source.code")

    class Meta:
        model = ListVersion
        fields = [
            "id",
            "list",
            "status",
            "is_active",
            "sha256",
            "size",
            "file_name",
            "format",
            "publication_date",
            "fetched_at",
            "imported_at",
            "importer_version",
            "entity_count",
            "name_count",
            "declared_count",
            "counts_by_type",
            "previous_id",
            "added_count",
            "removed_count",
            "changed_count",
            "status_reason",
        ]


class SourceOutputSerializer(serializers.ModelSerializer):
    active_version = serializers.SerializerMethodField()

    class Meta:
        model = ListSource
        fields = [
            "code",
            "name",
            "url",
            "is_enabled",
            "last_checked_at",
            "last_success_at",
            "last_error",
            "last_error_at",
            "active_version",
        ]

    def get_active_version(self, obj) -> dict | None:
        version = self.context["active"].get(obj.pk)
        return VersionOutputSerializer(version).data if version else None


class EntityOutputSerializer(serializers.ModelSerializer):
    """An entity as one readable record: names, dates, places, ids, addresses, programs."""

    list = serializers.CharField(source="version.source.code")
    version_id = serializers.IntegerField()
    names = serializers.SerializerMethodField()
    programs = serializers.SerializerMethodField()
    remarks = serializers.SerializerMethodField()
    dates_of_birth = serializers.SerializerMethodField()
    places_of_birth = serializers.SerializerMethodField()
    nationalities = serializers.SerializerMethodField()
    countries = serializers.SerializerMethodField()
    addresses = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    extra = serializers.SerializerMethodField()

    class Meta:
        model = Entity
        fields = [
            "id",
            "list",
            "version_id",
            "uid",
            "entity_type",
            "primary_name",
            "names",
            "programs",
            "remarks",
            "dates_of_birth",
            "places_of_birth",
            "nationalities",
            "countries",
            "addresses",
            "identifiers",
            "extra",
            "content_hash",
        ]

    def get_names(self, obj) -> list[dict]:
        return [{"name": n, "kind": k, "script": s} for n, k, s in obj.content["names"]]

    def get_identifiers(self, obj) -> list[dict]:
        return [{"kind": k, "value": v} for k, v in obj.content["identifiers"]]

    def get_programs(self, obj) -> list[str]:
        return obj.content["programs"]

    def get_remarks(self, obj) -> str:
        return obj.content["remarks"]

    def get_dates_of_birth(self, obj) -> list[str]:
        return obj.content["dates_of_birth"]

    def get_places_of_birth(self, obj) -> list[str]:
        return obj.content["places_of_birth"]

    def get_nationalities(self, obj) -> list[str]:
        return obj.content["nationalities"]

    def get_countries(self, obj) -> list[str]:
        return obj.content["countries"]

    def get_addresses(self, obj) -> list[dict]:
        return obj.content["addresses"]

    def get_extra(self, obj) -> dict:
        return obj.content["extra"]


class EntityBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Entity
        fields = ["id", "uid", "entity_type", "primary_name"]


class ChangeOutputSerializer(serializers.ModelSerializer):
    old_entity = EntityBriefSerializer(allow_null=True)
    new_entity = EntityBriefSerializer(allow_null=True)

    class Meta:
        model = EntityChange
        fields = ["id", "uid", "kind", "old_entity", "new_entity", "diff"]
