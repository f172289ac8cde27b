"""Filters shared by the entity search page and the entity search endpoint."""

from __future__ import annotations

import django_filters

from screening.lists.choices import ChangeKind, EntityType, ListCode
from screening.lists.models import Entity, EntityChange
from screening.lists.selectors import entity_search


class EntityFilterSet(django_filters.FilterSet):
    """Search entities of the active versions (or of one version) by name or uid."""

    q = django_filters.CharFilter(method="filter_query", max_length=200, label="Name or id")
    list = django_filters.ChoiceFilter(choices=ListCode.choices, method="filter_noop")
    type = django_filters.ChoiceFilter(choices=EntityType.choices, method="filter_noop")
    version = django_filters.NumberFilter(method="filter_noop", min_value=1)

    class Meta:
        model = Entity
        fields: list[str] = []

    def filter_noop(self, queryset, name, value):
        return queryset  # applied together in filter_query / qs

    def filter_query(self, queryset, name, value):
        return queryset

    @property
    def qs(self):
        if not self.is_bound or not self.is_valid():
            return entity_search().none() if self.is_bound else entity_search()
        data = self.form.cleaned_data
        return entity_search(
            query=data.get("q") or "",
            list_code=data.get("list") or "",
            version_id=int(data["version"]) if data.get("version") else None,
            entity_type=data.get("type") or "",
        )


class ChangeFilterSet(django_filters.FilterSet):
    """Filter a version's delta by kind of change."""

    kind = django_filters.ChoiceFilter(choices=ChangeKind.choices)

    class Meta:
        model = EntityChange
        fields = ["kind"]
