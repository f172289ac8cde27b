"""One FilterSet for the query log page and `GET /api/v1/screening/queries`: what an
auditor asks of the log ("every query about this customer", "the hits of last week",
"what this batch returned")."""

from __future__ import annotations

import json

import django_filters
from django import forms
from django.db import connection
from django.db.models import Q, QuerySet

from screening.choices import QueryOrigin, ScreeningUse
from screening.matching.normalize import normalize_name


class QueryFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(
        method="filter_name", label="Name",
        help_text="part of the screened name, any spelling the matcher folds alike")
    customer = django_filters.CharFilter(method="filter_customer",
                                         help_text="customer id or part of the name")
    origin = django_filters.ChoiceFilter(choices=QueryOrigin.choices, empty_label="Any")
    use = django_filters.ChoiceFilter(choices=ScreeningUse.choices, empty_label="Any")
    batch = django_filters.NumberFilter(field_name="batch_id", label="Batch #")
    hits = django_filters.BooleanFilter(
        method="filter_hits", label="With hits only",
        widget=forms.CheckboxInput, help_text="a match at or above the threshold")
    min_score = django_filters.NumberFilter(field_name="top_score", lookup_expr="gte",
                                            label="Top score ≥")
    entity = django_filters.CharFilter(method="filter_entity", label="List entity",
                                       help_text="listed entity id, e.g. 306")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains",
                                      label="Who")
    since = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte",
                                      label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte",
                                      label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def filter_name(self, qs: QuerySet, _name: str, value: str) -> QuerySet:
        forms_ = normalize_name(value[:300]).forms
        text = forms_[0].text if forms_ else ""
        if not text:
            return qs.none()
        return qs.filter(normalized__icontains=text)

    def filter_customer(self, qs: QuerySet, _name: str, value: str) -> QuerySet:
        value = value.strip()[:200]
        return qs.filter(Q(customer__external_id=value) | Q(customer__name__icontains=value))

    def filter_hits(self, qs: QuerySet, _name: str, value: bool | None) -> QuerySet:
        return qs.filter(hit_count__gt=0) if value else qs

    def filter_entity(self, qs: QuerySet, _name: str, value: str) -> QuerySet:
        # `results` is a JSON list of matches; a match of this entity holds its uid
        uid = value.strip()[:64]
        if connection.vendor == "postgresql":
            return qs.filter(hit_count__gt=0, results__contains=[{"entity_uid": uid}])
        # SQLite has no JSON containment: the stored text holds `"entity_uid": "<uid>"`
        return qs.filter(hit_count__gt=0,
                         results__icontains=json.dumps({"entity_uid": uid})[1:-1])
