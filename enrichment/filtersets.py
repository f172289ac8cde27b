"""Filters shared by the application list page and the list endpoint."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from enrichment.choices import EnrichmentStatus
from enrichment.models import LoanApplication


class LoanApplicationFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    enrichment_status = django_filters.ChoiceFilter(choices=EnrichmentStatus.choices,
                                                    empty_label="Any")
    country = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = LoanApplication
        fields = ["enrichment_status", "country"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(reference__icontains=value) | Q(legal_name__icontains=value)
                               | Q(lei__iexact=value)
                               | Q(registration_number__icontains=value))
