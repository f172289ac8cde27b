"""FilterSets shared by the portal lists and the API."""

from __future__ import annotations

import django_filters
from django import forms

from config.filters import UtcIsoDateTimeFilter
from monitoring.choices import Severity
from monitoring.models import Alert, DeadLetter

_WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"})


class AlertFilterSet(django_filters.FilterSet):
    """Alerts by customer, account, rule code and creation time (since/until, ISO 8601)."""

    customer_id = django_filters.CharFilter(field_name="customer_id", label="Customer")
    account_id = django_filters.CharFilter(field_name="account_id", label="Account")
    rule = django_filters.CharFilter(field_name="rule_code", label="Rule code")
    # any text in the API (an unknown severity matches nothing); a choice in the portal
    severity = django_filters.CharFilter(
        field_name="severity", label="Severity",
        widget=forms.Select(choices=[("", "any"), *Severity.choices]))
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                 label="Raised from (UTC)", widget=_WHEN)
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte",
                                 label="Raised until (UTC)", widget=_WHEN)

    class Meta:
        model = Alert
        fields = ["customer_id", "account_id", "rule", "severity", "since", "until"]


class DeadLetterFilterSet(django_filters.FilterSet):
    status = django_filters.CharFilter(field_name="status")

    class Meta:
        model = DeadLetter
        fields = ["status"]
