"""FilterSets shared by the portal lists and the API."""

from __future__ import annotations

import django_filters

from config.filters import UtcIsoDateTimeFilter
from monitoring.models import Alert, DeadLetter


class AlertFilterSet(django_filters.FilterSet):
    """Alerts by customer, account, rule code and creation time (since/until, ISO 8601)."""

    customer_id = django_filters.CharFilter(field_name="customer_id")
    account_id = django_filters.CharFilter(field_name="account_id")
    rule = django_filters.CharFilter(field_name="rule_code")
    severity = django_filters.CharFilter(field_name="severity")
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Alert
        fields = ["customer_id", "account_id", "rule", "severity", "since", "until"]


class DeadLetterFilterSet(django_filters.FilterSet):
    status = django_filters.CharFilter(field_name="status")

    class Meta:
        model = DeadLetter
        fields = ["status"]
