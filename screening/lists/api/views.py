"""Lists API: sources with freshness, versions, deltas, entity search and detail.

Read-only for every read role and integration clients; the only write is an
administrator's request to refresh a list now (queued after commit).
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from config.accounts.roles import ADMIN_ROLES, READ_ROLES, Role
from config.api import ApiView, ListApiView
from screening.lists import selectors
from screening.lists.api.serializers import (
    ChangeOutputSerializer,
    EntityOutputSerializer,
    SourceOutputSerializer,
    VersionOutputSerializer,
)
from screening.lists.filtersets import ChangeFilterSet, EntityFilterSet
from screening.lists.models import Entity, EntityChange, ListSource, ListVersion

LIST_READ_ROLES = READ_ROLES | {Role.INTEGRATION}


def _source(code: str) -> ListSource:
    try:
        return selectors.source_get(code=code)
    except ListSource.DoesNotExist:
        raise Http404("No such list") from None


class ListSourceListApi(ListApiView):
    """Every list with its active version, freshness and last error."""

    read_roles = LIST_READ_ROLES
    serializer_class = SourceOutputSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.source_list()

    def get_serializer_context(self):
        active = {v.source_id: v for v in selectors.active_versions()}
        return {**super().get_serializer_context(), "active": active}


class ListVersionListApi(ListApiView):
    """The versions of one list, newest first."""

    read_roles = LIST_READ_ROLES
    serializer_class = VersionOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return ListVersion.objects.none()
        return selectors.version_list(source=_source(self.kwargs["code"]))


class ListVersionDetailApi(ApiView):
    """One version of a list."""

    read_roles = LIST_READ_ROLES

    @extend_schema(responses={200: VersionOutputSerializer})
    def get(self, request, code: str, version_id: int):
        try:
            version = selectors.version_get(source=_source(code), version_id=version_id)
        except ListVersion.DoesNotExist:
            raise Http404("No such version") from None
        return Response(VersionOutputSerializer(version).data)


class ListVersionDeltaApi(ListApiView):
    """What a version changed against the version it replaced (`?kind=added|removed|changed`)."""

    read_roles = LIST_READ_ROLES
    serializer_class = ChangeOutputSerializer
    filterset_class = ChangeFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return EntityChange.objects.none()
        try:
            self.version = selectors.version_get(
                source=_source(self.kwargs["code"]), version_id=self.kwargs["version_id"]
            )
        except ListVersion.DoesNotExist:
            raise Http404("No such version") from None
        return selectors.change_list(version=self.version)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        v = self.version
        response.data = {
            "version": VersionOutputSerializer(v).data,
            "previous_version_id": v.previous_id,
            "counts": {
                "added": v.added_count,
                "removed": v.removed_count,
                "changed": v.changed_count,
            },
            **response.data,
        }
        return response


class EntitySearchApi(ListApiView):
    """Search entities of the active lists by name (any script, accents ignored) or uid."""

    read_roles = LIST_READ_ROLES
    serializer_class = EntityOutputSerializer
    filterset_class = EntityFilterSet

    def get_queryset(self):
        return Entity.objects.none()  # the FilterSet builds the query (selectors.entity_search)

    def filter_queryset(self, queryset):
        filterset = EntityFilterSet(
            self.request.query_params, queryset=queryset, request=self.request
        )
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        return filterset.qs


class EntityDetailApi(ApiView):
    """One entity as one readable record."""

    read_roles = LIST_READ_ROLES

    @extend_schema(responses={200: EntityOutputSerializer})
    def get(self, request, entity_id: int):
        try:
            entity = selectors.entity_get(entity_id=entity_id)
        except Entity.DoesNotExist:
            raise Http404("No such entity") from None
        return Response(EntityOutputSerializer(entity).data)


class ListRefreshApi(ApiView):
    """Administrators: fetch a list now instead of waiting for the hourly refresh."""

    read_roles = ADMIN_ROLES
    write_roles = ADMIN_ROLES

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                name="ListRefreshQueued",
                fields={"list": serializers.CharField(), "queued": serializers.BooleanField()},
            )
        },
    )
    def post(self, request, code: str):
        from audit.services import audit_record
        from screening.lists.tasks import lists_refresh_source

        source = _source(code)
        with transaction.atomic():
            audit_record(
                action="lists.refresh_requested",
                object_type="lists.listsource",
                object_id=str(source.pk),
                data={"source": source.code},
            )
            transaction.on_commit(lambda: lists_refresh_source.delay(source.code))
        return Response({"list": source.code, "queued": True}, status=status.HTTP_202_ACCEPTED)
