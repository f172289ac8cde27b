"""Input and output shapes of the enrichment API. Unknown fields are rejected."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from config.api import StrictSerializer
from enrichment.choices import PrincipalRole
from enrichment.models import DataPatch, EnrichmentRun, LoanApplication, Principal
from enrichment.providers.registry import lei_is_valid

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean_text(value: str) -> str:
    if CONTROL_CHARS.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")
    return " ".join(value.split())


class PrincipalInputSerializer(StrictSerializer):
    full_name = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField()
    nationality = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True,
                                         error_messages={"invalid": "Use an ISO 3166 alpha-2 "
                                                                    "code such as DE."})
    role = serializers.ChoiceField(choices=PrincipalRole.choices, default=PrincipalRole.OWNER)
    ownership_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False,
                                                 allow_null=True, min_value=Decimal("0"),
                                                 max_value=Decimal("100"))

    def validate_full_name(self, value: str) -> str:
        return _clean_text(value)

    def validate_date_of_birth(self, value: dt.date) -> dt.date:
        if value >= timezone.localdate() or value.year < 1900:
            raise serializers.ValidationError("Date of birth must be in the past (after 1900).")
        return value


class ApplicationInputSerializer(StrictSerializer):
    legal_name = serializers.CharField(max_length=300)
    registration_number = serializers.CharField(max_length=64, required=False,
                                                allow_blank=True, default="")
    lei = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    country = serializers.RegexField(r"^[A-Z]{2}$", error_messages={
        "invalid": "Use an ISO 3166 alpha-2 code such as DE."})
    address_line = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                         default="")
    city = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                        default="")
    tax_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    requested_amount = serializers.DecimalField(max_digits=14, decimal_places=2,
                                                min_value=Decimal("0.01"))
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD", error_messages={
        "invalid": "Use an ISO 4217 code such as USD."})
    purpose = serializers.CharField(max_length=2000)
    principals = PrincipalInputSerializer(many=True, allow_empty=False)

    def validate_lei(self, value: str) -> str:
        value = value.strip().upper()
        if value and not lei_is_valid(value):
            raise serializers.ValidationError("Not a valid LEI (20 characters, ISO 17442 "
                                              "check digits).")
        return value

    def validate(self, attrs):
        errors = {}
        for name in ("legal_name", "registration_number", "address_line", "city", "region",
                     "postal_code", "tax_id", "purpose"):
            value = attrs.get(name)
            if not value:
                continue
            if CONTROL_CHARS.search(value):
                errors[name] = ["Control characters are not allowed."]
            elif name != "purpose":
                # Names are compared and screened: one space between words, none around.
                attrs[name] = " ".join(value.split())
        if errors:
            raise serializers.ValidationError(errors)
        if not attrs["legal_name"]:
            raise serializers.ValidationError({"legal_name": ["This field may not be blank."]})
        return attrs


class EnrichInputSerializer(StrictSerializer):
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_blank=False)


class PrincipalOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Principal
        fields = ["id", "full_name", "date_of_birth", "nationality", "role",
                  "ownership_percent"]


class ApplicationOutputSerializer(serializers.ModelSerializer):
    principals = PrincipalOutputSerializer(many=True, read_only=True)

    class Meta:
        model = LoanApplication
        fields = ["id", "reference", "legal_name", "registration_number", "lei", "country",
                  "address_line", "city", "region", "postal_code", "tax_id",
                  "requested_amount", "currency", "purpose", "principals",
                  "registered_name", "registered_address", "registry_entity_status",
                  "registry_registration_status", "direct_parent_lei", "ultimate_parent_lei",
                  "credit_score", "credit_risk_class", "bureau_ofac_match",
                  "enrichment_status", "enriched_at", "created_at"]


class ApplicationListOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = LoanApplication
        fields = ["id", "reference", "legal_name", "country", "requested_amount", "currency",
                  "enrichment_status", "enriched_at", "created_at"]


class PatchOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataPatch
        fields = ["field", "path", "before", "after", "source", "applied_at"]


class RunOutputSerializer(serializers.ModelSerializer):
    application_id = serializers.IntegerField(read_only=True)
    calls = serializers.SerializerMethodField()
    patches = PatchOutputSerializer(many=True, read_only=True)
    document = serializers.SerializerMethodField()

    class Meta:
        model = EnrichmentRun
        fields = ["id", "application_id", "idempotency_key", "status", "attempts",
                  "requested_by", "created_at", "started_at", "finished_at", "duration_ms",
                  "error", "case_reference", "calls", "patches", "document"]

    def get_calls(self, run) -> list[dict]:
        return [
            {"call_id": str(c.call_id), "provider": c.provider, "operation": c.operation,
             "method": c.method, "url": c.url, "attempt": c.attempt, "status": c.status,
             "outcome": c.outcome, "error": c.error, "latency_ms": round(c.latency_ms, 1),
             "started_at": c.started_at, "response_sha256": c.response_sha256,
             "response_size": c.response_size}
            for c in run.calls.all()
        ]

    def get_document(self, run) -> dict | None:
        document = getattr(run, "document", None)
        return document.document if document is not None else None
