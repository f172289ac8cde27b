"""Case API: list (filterable), detail, transitions, comments, claim-next, match
resolution. One class per operation; the services decide, the views translate."""

from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from cases import services
from cases.api.serializers import (
    CaseClaimNextInputSerializer,
    CaseCommentInputSerializer,
    CaseCommentOutputSerializer,
    CaseDetailOutputSerializer,
    CaseEvidenceOutputSerializer,
    CaseListOutputSerializer,
    CaseMatchResolveInputSerializer,
    CaseTransitionInputSerializer,
)
from cases.choices import CaseSource
from cases.filtersets import CaseFilterSet
from cases.selectors import CASE_READ_ROLES, case_get, case_inbox
from config.accounts.roles import WORK_ROLES
from config.api import ApiView, ListApiView, error_response

ErrorSerializer = inline_serializer(
    name="CaseError",
    fields={
        "error": inline_serializer(
            name="CaseErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField())
                ),
            },
        )
    },
)
ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}


CASE_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
EVIDENCE_ID = OpenApiParameter("evidence_id", OpenApiTypes.INT, OpenApiParameter.PATH)


def _id(value: str) -> int:
    value = str(value)
    # Ids are ASCII digits: isdigit() alone admits superscripts ("¹"), which int() refuses.
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise exceptions.NotFound()
    return int(value)


def _case_error(exc: services.CaseError) -> Response:
    code = {400: "validation_error", 403: "permission_denied", 409: "conflict"}[exc.status]
    if isinstance(exc, services.FourEyesViolation):
        code = "four_eyes"
    return error_response(
        status=exc.status,
        code=code,
        message=exc.message,
        fields={exc.field: [exc.message]} if exc.field else {},
    )


def _detail(case_pk: int, user) -> dict:
    case = case_get(user=user, pk=case_pk)
    case = (
        type(case)
        .objects.select_related("customer", "assignee", "investigator", "decided_by")
        .prefetch_related("evidence__resolved_by", "decisions__actor")
        .get(pk=case.pk)
    )
    return CaseDetailOutputSerializer(case).data


class CaseListApi(ListApiView):
    """List cases (open ones unless `status`/`state` say otherwise), filterable and sorted
    like the inbox."""

    read_roles = CASE_READ_ROLES
    write_roles = frozenset()
    serializer_class = CaseListOutputSerializer
    filterset_class = CaseFilterSet

    def get_queryset(self):
        return case_inbox(user=self.request.user)

    @extend_schema(
        operation_id="cases_list", responses={200: CaseListOutputSerializer(many=True), **ERRORS}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CaseDetailApi(ApiView):
    """One case with its evidence and decisions."""

    read_roles = CASE_READ_ROLES
    write_roles = frozenset()

    @extend_schema(
        operation_id="cases_retrieve",
        parameters=[CASE_ID],
        responses={200: CaseDetailOutputSerializer, **ERRORS},
    )
    def get(self, request, pk: str):
        return Response(_detail(_id(pk), request.user))


class CaseTransitionApi(ApiView):
    """Run one workflow transition with an optimistic version check. 409 when the case
    changed since `expected_version` or the state does not allow it; 403 for the
    four-eyes rule or a role that may not do it."""

    read_roles = CASE_READ_ROLES
    write_roles = WORK_ROLES

    @extend_schema(
        operation_id="cases_transition",
        parameters=[CASE_ID],
        request=CaseTransitionInputSerializer,
        responses={200: CaseDetailOutputSerializer, **ERRORS},
    )
    def post(self, request, pk: str):
        case = case_get(user=request.user, pk=_id(pk))
        serializer = CaseTransitionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "case": case,
            "actor_user": request.user,
            "expected_version": data["expected_version"],
        }
        action = data["action"]
        try:
            if action == "claim":
                services.case_claim(**common)
            elif action == "start":
                services.case_start(**common)
            elif action == "escalate":
                services.case_escalate(**common, reason=data.get("reason", ""))
            elif action == "resolve":
                services.case_resolve(
                    **common,
                    disposition=data.get("disposition", ""),
                    rationale=data.get("rationale", ""),
                    suspect_identified=data.get("suspect_identified"),
                )
            elif action == "approve":
                services.case_approve(**common, rationale=data.get("rationale", ""))
            elif action == "reject":
                services.case_reject(**common, reason=data.get("reason", ""))
            elif action == "reopen":
                services.case_reopen(**common, reason=data.get("reason", ""))
            elif action == "assign":
                assignee = User.objects.filter(username=data.get("assignee", "")).first()
                if assignee is None:
                    raise services.CaseError("No such user.", field="assignee")
                services.case_assign(**common, assignee=assignee)
        except services.CaseError as exc:
            return _case_error(exc)
        return Response(_detail(case.pk, request.user))


class CaseCommentsApi(ApiView):
    """Comments on a case: read them, or add one to an open case."""

    read_roles = CASE_READ_ROLES
    write_roles = WORK_ROLES

    @extend_schema(
        operation_id="cases_comments_list",
        parameters=[CASE_ID],
        responses={200: CaseCommentOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request, pk: str):
        case = case_get(user=request.user, pk=_id(pk))
        comments = case.comments.select_related("author")
        return Response(CaseCommentOutputSerializer(comments, many=True).data)

    @extend_schema(
        operation_id="cases_comments_create",
        parameters=[CASE_ID],
        request=CaseCommentInputSerializer,
        responses={201: CaseCommentOutputSerializer, **ERRORS},
    )
    def post(self, request, pk: str):
        case = case_get(user=request.user, pk=_id(pk))
        serializer = CaseCommentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            comment = services.case_comment_add(
                case=case, actor_user=request.user, body=serializer.validated_data["body"]
            )
        except services.CaseError as exc:
            return _case_error(exc)
        return Response(CaseCommentOutputSerializer(comment).data, status=status.HTTP_201_CREATED)


class CaseClaimNextApi(ApiView):
    """Claim the next unassigned case (optionally from one queue); 204 when none waits."""

    read_roles = CASE_READ_ROLES
    write_roles = WORK_ROLES

    @extend_schema(
        operation_id="cases_claim_next",
        request=CaseClaimNextInputSerializer,
        responses={
            200: CaseDetailOutputSerializer,
            204: OpenApiResponse(description="No case waiting"),
            **ERRORS,
        },
    )
    def post(self, request):
        serializer = CaseClaimNextInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = serializer.validated_data.get("source") or None
        if source and source not in CaseSource.values:
            return error_response(
                status=400,
                code="validation_error",
                message="Unknown queue.",
                fields={"source": ["Unknown queue."]},
            )
        try:
            case = services.case_claim_next(actor_user=request.user, source=source)
        except services.CaseError as exc:
            return _case_error(exc)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_detail(case.pk, request.user))


class CaseMatchResolveApi(ApiView):
    """Resolve one screening match of a case (false positive feeds the whitelist)."""

    read_roles = CASE_READ_ROLES
    write_roles = WORK_ROLES

    @extend_schema(
        operation_id="cases_match_resolve",
        parameters=[CASE_ID, EVIDENCE_ID],
        request=CaseMatchResolveInputSerializer,
        responses={200: CaseEvidenceOutputSerializer, **ERRORS},
    )
    def post(self, request, pk: str, evidence_id: str):
        case = case_get(user=request.user, pk=_id(pk))
        evidence = case.evidence.filter(pk=_id(evidence_id)).first()
        if evidence is None:
            return error_response(status=404, code="not_found", message="No such evidence.")
        serializer = CaseMatchResolveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            evidence = services.case_match_resolve(
                evidence=evidence, actor_user=request.user, **serializer.validated_data
            )
        except services.CaseError as exc:
            return _case_error(exc)
        return Response(CaseEvidenceOutputSerializer(evidence).data)
