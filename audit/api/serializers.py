"""Output serializers of the read-only audit API."""

from __future__ import annotations

from rest_framework import serializers

from audit.models import Digest, LedgerEntry, VerificationRun
from audit.selectors import entry_body


class LedgerEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ["seq", "ts", "actor_type", "actor_id", "actor_label", "action", "object_type",
                  "object_id", "correlation_id", "prev_hash", "hash"]


class LedgerEntryDetailSerializer(LedgerEntrySerializer):
    header = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()
    redacted = serializers.SerializerMethodField()

    class Meta(LedgerEntrySerializer.Meta):
        fields = [*LedgerEntrySerializer.Meta.fields, "header", "data", "redacted"]

    def get_header(self, obj) -> str:
        return bytes(obj.header).decode("utf-8")

    def get_data(self, obj) -> dict | None:
        return entry_body(obj)

    def get_redacted(self, obj) -> bool:
        return obj.body is None


class HistoryStepSerializer(serializers.Serializer):
    entry = LedgerEntrySerializer()
    data = serializers.JSONField()
    changes = serializers.SerializerMethodField()

    def get_changes(self, obj) -> list[dict]:
        return [{"field": f, "before": b, "after": a} for f, b, a in obj.changes]


class DigestSerializer(serializers.ModelSerializer):
    class Meta:
        model = Digest
        fields = ["id", "kind", "period_start", "period_end", "first_seq", "last_seq", "count",
                  "first_prev_hash", "head_hash", "merkle_root", "prev_digest_sha256",
                  "signature", "key_id", "file_name", "created_at"]


class VerificationRunSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = VerificationRun
        fields = ["id", "mode", "status", "requested_by", "created_at", "started_at",
                  "finished_at", "total", "checked", "progress_percent", "start_seq", "head_seq",
                  "head_hash", "first_bad_seq", "damage_kind", "problems", "reconciliation",
                  "digests_checked", "error"]


class VerificationStartSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["full", "incremental"], default="full")


class ProofSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()
    digest = DigestSerializer()
    digest_file = serializers.CharField()
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    path = serializers.ListField(child=serializers.CharField())
