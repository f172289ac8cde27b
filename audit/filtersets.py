"""One FilterSet for the ledger: used by the portal list and the API list."""

from __future__ import annotations

import django_filters

from audit.models import LedgerEntry
from audit.object_types import object_type_names
from config.filters import UtcIsoDateTimeFilter


class LedgerEntryFilterSet(django_filters.FilterSet):
    """Filter by object, actor, action, time and correlation id."""

    object_type = django_filters.CharFilter(
        method="_object_type",
        help_text="a model label, e.g. cases.case; entries recorded under the object's "
                  "former names are included")
    object_id = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains")
    actor_type = django_filters.ChoiceFilter(choices=[
        ("user", "user"), ("api_client", "API client"), ("system", "system"),
        ("anonymous", "anonymous")])
    action = django_filters.CharFilter()
    correlation_id = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="lt")
    seq_from = django_filters.NumberFilter(field_name="seq", lookup_expr="gte")
    seq_to = django_filters.NumberFilter(field_name="seq", lookup_expr="lte")

    class Meta:
        model = LedgerEntry
        fields: list[str] = []

    def _object_type(self, queryset, name, value):
        return queryset.filter(object_type__in=object_type_names(value.strip()))
