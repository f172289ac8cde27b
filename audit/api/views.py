"""Read-only audit API. The one POST (start a verification run) is open to auditors: it
changes no business data and its outcome is itself sealed in the ledger."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.response import Response

from audit.api.serializers import (
    DigestSerializer,
    HistoryStepSerializer,
    LedgerEntryDetailSerializer,
    LedgerEntrySerializer,
    ProofSerializer,
    VerificationRunSerializer,
    VerificationStartSerializer,
)
from audit.digests import DigestError, digest_envelope_bytes, ensure_sealed, inclusion_proof
from audit.evidence import EvidenceError, evidence_bundle_export, resolve_object_type
from audit.filtersets import LedgerEntryFilterSet
from audit.models import Digest, LedgerEntry, VerificationRun
from audit.selectors import (
    AUDIT_ROLES,
    digest_list,
    ledger_entry_list,
    object_history,
    verification_run_list,
)
from audit.verification import verification_run_request
from config.accounts.roles import has_role
from config.api import ApiView, ListApiView, RetrieveApiView, error_response


class LedgerEntryListApi(ListApiView):
    """Ledger entries, newest first, filtered by object, actor, action, time, correlation."""

    read_roles = AUDIT_ROLES
    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilterSet

    def get_queryset(self):
        return ledger_entry_list()


class LedgerEntryDetailApi(RetrieveApiView):
    """One entry with its hashed header and its data."""

    read_roles = AUDIT_ROLES
    serializer_class = LedgerEntryDetailSerializer
    lookup_field = "seq"
    queryset = LedgerEntry.objects.all()


class LedgerEntryProofApi(ApiView):
    """Inclusion proof of one entry in the hourly digest that seals it (sealing now if the
    hour is not over)."""

    read_roles = AUDIT_ROLES

    @extend_schema(responses=ProofSerializer)
    def get(self, request, seq: int):
        entry = get_object_or_404(LedgerEntry, seq=seq)
        try:
            digest = ensure_sealed(entry.seq)
            proof = inclusion_proof(entry, digest)
        except DigestError as exc:
            return error_response(status=409, code="ledger_damaged", message=str(exc))
        return Response(ProofSerializer({
            **proof, "digest_file": proof["digest"], "seq": entry.seq, "hash": entry.hash,
            "digest": digest}).data)


class ObjectHistoryApi(ApiView):
    """Every entry about one object with field-level differences."""

    read_roles = AUDIT_ROLES

    @extend_schema(responses=HistoryStepSerializer(many=True))
    def get(self, request, object_type: str, object_id: str):
        steps = object_history(object_type=object_type, object_id=object_id)
        if not steps:
            raise Http404
        return Response(HistoryStepSerializer(steps, many=True).data)


class DigestListApi(ListApiView):
    """Signed digests, newest first."""

    read_roles = AUDIT_ROLES
    serializer_class = DigestSerializer

    def get_queryset(self):
        return digest_list()


class DigestDownloadApi(ApiView):
    """The signed digest envelope exactly as archived (JSON file)."""

    read_roles = AUDIT_ROLES

    @extend_schema(responses={(200, "application/json"): bytes})
    def get(self, request, pk: int):
        digest = get_object_or_404(Digest, pk=pk)
        response = HttpResponse(digest_envelope_bytes(digest), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{digest.file_name}"'
        return response


class VerificationRunListApi(ListApiView):
    """Verification runs, newest first."""

    read_roles = AUDIT_ROLES
    serializer_class = VerificationRunSerializer

    def get_queryset(self):
        return verification_run_list()


class VerificationRunDetailApi(RetrieveApiView):
    """One run with its progress and findings (poll it while it runs)."""

    read_roles = AUDIT_ROLES
    serializer_class = VerificationRunSerializer
    queryset = VerificationRun.objects.all()


class _AuditRolesMayStart(permissions.BasePermission):
    message = "Your role does not allow starting a verification."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated
                    and has_role(request.user, *AUDIT_ROLES))


class VerificationRunStartApi(ApiView):
    """Start a verification run as a background task (auditors may: it writes no
    business data). Returns 202 with the run to poll."""

    read_roles = AUDIT_ROLES
    write_roles = AUDIT_ROLES

    def get_permissions(self):
        return [_AuditRolesMayStart()]

    @extend_schema(request=VerificationStartSerializer, responses={202: VerificationRunSerializer})
    def post(self, request):
        data = VerificationStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = verification_run_request(mode=data.validated_data["mode"])
        run.refresh_from_db()
        return Response(VerificationRunSerializer(run).data, status=202)


class EvidenceBundleApi(ApiView):
    """Evidence bundle (zip) for one object: ``?kind=case&id=7`` or
    ``?object_type=cases.customer&object_id=42``. The export is recorded on the ledger."""

    read_roles = AUDIT_ROLES

    @extend_schema(
        parameters=[OpenApiParameter("kind", str), OpenApiParameter("id", str),
                    OpenApiParameter("object_type", str), OpenApiParameter("object_id", str)],
        responses={(200, "application/zip"): bytes},
    )
    def get(self, request):
        params = request.query_params
        try:
            if params.get("kind"):
                object_type, object_id = resolve_object_type(params["kind"]), params.get("id")
            else:
                object_type = resolve_object_type(params.get("object_type") or "")
                object_id = params.get("object_id")
            if not object_id:
                return error_response(status=400, code="validation_error",
                                      message="Name the object.",
                                      fields={"object_id": ["This field is required."]})
            data, name = evidence_bundle_export(object_type=object_type, object_id=object_id)
        except EvidenceError as exc:
            status = 404 if "no ledger entries" in str(exc) else 400
            return error_response(status=status, code="evidence_error", message=str(exc))
        except DigestError as exc:
            return error_response(status=409, code="ledger_damaged", message=str(exc))
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
