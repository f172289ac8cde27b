"""Input and output serializers of the screening API (one pair per operation)."""

from __future__ import annotations

from rest_framework import serializers

from config.api import StrictSerializer
from screening.models import BatchRun, ScreeningQuery


class ScreeningSearchInputSerializer(StrictSerializer):
    name = serializers.CharField(trim_whitespace=False, allow_blank=True)
    dob = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    country = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    entity_type = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    lists = serializers.ListField(child=serializers.CharField(), required=False,
                                  allow_null=True)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                       max_value=100)
    use = serializers.ChoiceField(choices=["onboarding", "payments"], required=False,
                                  default="onboarding")
    customer_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class ScreeningQueryOutputSerializer(serializers.ModelSerializer):
    query_id = serializers.IntegerField(source="pk")
    matches = serializers.JSONField(source="results")

    class Meta:
        model = ScreeningQuery
        fields = ["query_id", "created_at", "input", "normalized", "list_versions",
                  "algorithm_version", "threshold", "hit_count", "top_score", "matches",
                  "suppressed"]


class ReproductionDifferenceSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="null: a suppressed match")
    logged = serializers.CharField()
    reproduced = serializers.CharField()


class ReproductionOutputSerializer(serializers.Serializer):
    """A logged query re-run against its logged list versions, compared with the log."""

    query_id = serializers.IntegerField()
    identical = serializers.BooleanField()
    matches = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    algorithm_version = serializers.CharField()
    list_versions = serializers.DictField(child=serializers.IntegerField())
    differences = ReproductionDifferenceSerializer(many=True)


class BatchCreateInputSerializer(StrictSerializer):
    file = serializers.FileField()
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                       max_value=100)
    lists = serializers.CharField(required=False, allow_blank=True)
    use = serializers.ChoiceField(choices=["onboarding", "payments"], required=False,
                                  default="onboarding")
    keep_customers = serializers.BooleanField(
        required=False, default=False,
        help_text="store every row with an id in the customer base (screened again when a "
                  "list changes); default: only the rows with hits")


class BatchOutputSerializer(serializers.ModelSerializer):
    batch_id = serializers.IntegerField(source="pk")
    progress_percent = serializers.IntegerField()

    class Meta:
        model = BatchRun
        fields = ["batch_id", "file_name", "sha256", "status", "use", "threshold", "lists",
                  "keep_customers", "total", "processed", "progress_percent", "hit_rows",
                  "match_count", "error", "created_at", "started_at", "finished_at"]
