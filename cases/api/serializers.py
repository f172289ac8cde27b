"""Input and output serializers of the case API (one pair per operation)."""

from __future__ import annotations

from rest_framework import serializers

from cases.choices import Disposition, MatchResolution
from cases.forms import TRANSITIONS
from cases.models import Case, CaseComment, CaseDecision, CaseEvidence, Customer


class CustomerRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["external_id", "name", "dob", "country", "entity_type"]


class CaseListOutputSerializer(serializers.ModelSerializer):
    customer = CustomerRefSerializer(allow_null=True)
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    overdue = serializers.BooleanField(source="is_overdue")

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "source",
            "state",
            "priority",
            "title",
            "customer",
            "assignee",
            "opened_at",
            "due_at",
            "overdue",
            "disposition",
            "version",
        ]


class CaseEvidenceOutputSerializer(serializers.ModelSerializer):
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )

    class Meta:
        model = CaseEvidence
        fields = [
            "id",
            "kind",
            "object_id",
            "summary",
            "added_at",
            "resolution",
            "resolution_note",
            "resolved_by",
            "resolved_at",
        ]


class CaseDecisionOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username")

    class Meta:
        model = CaseDecision
        fields = ["id", "kind", "actor", "disposition", "rationale", "created_at"]


class CaseDetailOutputSerializer(CaseListOutputSerializer):
    evidence = CaseEvidenceOutputSerializer(many=True)
    decisions = CaseDecisionOutputSerializer(many=True)
    investigator = serializers.CharField(
        source="investigator.username", allow_null=True, default=None
    )
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta(CaseListOutputSerializer.Meta):
        fields = [
            *CaseListOutputSerializer.Meta.fields,
            "summary",
            "subject_type",
            "subject_id",
            "rationale",
            "investigator",
            "decided_by",
            "closed_at",
            "detected_at",
            "suspect_identified",
            "review_due_at",
            "escalated_at",
            "evidence",
            "decisions",
        ]


class CaseTransitionInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=TRANSITIONS)
    expected_version = serializers.IntegerField(min_value=1)
    disposition = serializers.ChoiceField(choices=Disposition.choices, required=False)
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    assignee = serializers.CharField(
        required=False, max_length=150, help_text="Username (assign only)"
    )
    suspect_identified = serializers.BooleanField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = set(data.keys()) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown field."] for key in sorted(unknown)}
                )
        return super().to_internal_value(data)


class CaseCommentOutputSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")

    class Meta:
        model = CaseComment
        fields = ["id", "author", "body", "created_at"]


class CaseCommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)


class CaseClaimNextInputSerializer(serializers.Serializer):
    source = serializers.CharField(required=False, allow_blank=True, max_length=16)


class CaseMatchResolveInputSerializer(serializers.Serializer):
    expected_version = serializers.IntegerField(min_value=1)
    resolution = serializers.ChoiceField(choices=[c for c in MatchResolution.choices if c[0]])
    note = serializers.CharField(max_length=5_000)
