"""One FilterSet for the case inbox page and the `/api/v1/cases/` endpoint."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from cases import deadlines
from cases.choices import OPEN_STATES, CaseSource, CaseState, EvidenceKind
from cases.models import CaseEvidence, Customer

STATUS_CHOICES = [("open", "Open"), ("closed", "Closed"), ("all", "All")]
AGE_CHOICES = [(key, label) for key, label, _low, _high in deadlines.AGE_BUCKETS]


class CaseFilterSet(django_filters.FilterSet):
    """Queues (source, priority), my cases, state, age, overdue and full-text search over
    reference, title, customer, list entity and rule. With neither `status` nor `state`
    only open cases are listed: that is what analysts work."""

    q = django_filters.CharFilter(
        method="filter_q", label="Search", help_text="Reference, title, customer, entity or rule"
    )
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", empty_label="Open (default)"
    )
    state = django_filters.MultipleChoiceFilter(choices=CaseState.choices)
    source = django_filters.ChoiceFilter(choices=CaseSource.choices, label="Queue")
    priority_min = django_filters.NumberFilter(
        field_name="priority", lookup_expr="gte", label="Priority ≥"
    )
    assignee = django_filters.CharFilter(
        method="filter_assignee", help_text="me, none, or a username"
    )
    customer = django_filters.CharFilter(method="filter_customer", help_text="Customer id or name")
    entity = django_filters.CharFilter(
        method="filter_entity", label="List entity", help_text="Sanctions list entity id"
    )
    rule = django_filters.CharFilter(method="filter_rule", help_text="Monitoring rule code")
    age = django_filters.ChoiceFilter(
        choices=AGE_CHOICES, method="filter_age", empty_label="Any age"
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="SAR deadline passed")
    ordering = django_filters.OrderingFilter(
        fields=(("priority", "priority"), ("opened_at", "opened"), ("due_at", "due")),
        field_labels={"priority": "Priority", "opened_at": "Age", "due_at": "Due date"},
        label="Sort",
    )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        data = self.form.cleaned_data
        if not data.get("status") and not data.get("state"):
            queryset = queryset.filter(state__in=OPEN_STATES)
        queryset = super().filter_queryset(queryset)
        if not data.get("ordering"):
            queryset = queryset.order_by("-priority", "opened_at", "pk")
        return queryset

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(state__in=OPEN_STATES)
        if value == "closed":
            return queryset.filter(state=CaseState.CLOSED)
        return queryset

    def filter_q(self, queryset, name, value):
        value = value.strip().lower()
        if not value:
            return queryset
        for term in value.split()[:5]:
            queryset = queryset.filter(search_text__icontains=term)
        return queryset

    def filter_assignee(self, queryset, name, value):
        value = value.strip()
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(assignee_id=getattr(user, "pk", None))
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee__username=value) if value else queryset

    def filter_customer(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # Resolve customers first (a small table), then use the cases' customer index; an
        # exact customer id needs no name scan.
        exact = list(Customer.objects.filter(external_id=value).values_list("pk", flat=True))
        if exact:
            return queryset.filter(customer_id__in=exact)
        customers = Customer.objects.filter(name__icontains=value)
        return queryset.filter(customer__in=customers.values("pk"))

    def _evidence(self, queryset, kind: str, key: str, value: str):
        value = value.strip()
        if not value:
            return queryset
        lookup = {"case": OuterRef("pk"), "kind": kind, f"summary__{key}": value}
        return queryset.filter(Exists(CaseEvidence.objects.filter(**lookup)))

    def filter_entity(self, queryset, name, value):
        return self._evidence(queryset, EvidenceKind.SCREENING_MATCH, "entity_uid", value)

    def filter_rule(self, queryset, name, value):
        """A rule code (T1, SAN); evidence recorded before alerts carried `rule_code`
        names its rule as "T1 v2" in `rule`."""
        value = value.strip()
        if not value:
            return queryset
        evidence = CaseEvidence.objects.filter(case=OuterRef("pk"), kind=EvidenceKind.ALERT)
        return queryset.filter(Exists(evidence.filter(
            Q(summary__rule_code=value) | Q(summary__rule__startswith=f"{value} v"))))

    def filter_age(self, queryset, name, value):
        opened_after, opened_before = deadlines.age_bucket_bounds(value, now=timezone.now())
        queryset = queryset.filter(opened_at__lte=opened_before)
        return queryset.filter(opened_at__gt=opened_after) if opened_after else queryset

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = Q(state__in=OPEN_STATES, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    class Meta:
        from cases.models import Case

        model = Case
        fields: list[str] = []


CUSTOMER_STATES = [("active", "Active"), ("offboarded", "Offboarded")]


class CustomerFilterSet(django_filters.FilterSet):
    """The customer base page and `GET /api/v1/customers`: search by id or name, by state
    (active: re-screened when a list changes; offboarded), type and country."""

    q = django_filters.CharFilter(method="filter_q", label="Search",
                                  help_text="customer id (exact or start) or name")
    state = django_filters.ChoiceFilter(choices=CUSTOMER_STATES, method="filter_state",
                                        empty_label="Any state", label="Ongoing screening")
    entity_type = django_filters.ChoiceFilter(choices=Customer._meta.get_field(
        "entity_type").choices, empty_label="Any type", label="Type")
    country = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(external_id__istartswith=value) | Q(name__icontains=value))

    def filter_state(self, queryset, name, value):
        return queryset.filter(offboarded_at__isnull=(value == "active"))
