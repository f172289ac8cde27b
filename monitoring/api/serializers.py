"""API input/output shapes of the monitoring app."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    """An alert as listed: no trace (fetch the alert by id for it)."""

    rule_version = serializers.IntegerField(source="rule_version.version")
    transaction = serializers.SerializerMethodField()
    case = serializers.CharField(source="case.reference", default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule_code",
            "rule_version",
            "typology",
            "severity",
            "priority",
            "account_id",
            "customer_id",
            "transaction",
            "transaction_time",
            "created_at",
            "case",
        ]

    def get_transaction(self, alert: Alert) -> str:
        return f"{alert.transaction.source}:{alert.transaction.external_id}"


class AlertTraceSerializer(AlertSerializer):
    """An alert with its full trace (for auditors and integrations)."""

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "trace"]


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    inserted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    alert_ids = serializers.ListField(child=serializers.IntegerField())
