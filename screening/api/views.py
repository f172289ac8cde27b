"""Screening API: one class per operation; each calls one service or selector."""

from __future__ import annotations

import io

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from audit.context import Actor
from cases.selectors import customer_by_external_id
from config.accounts.roles import READ_ROLES, WORK_ROLES, Role
from config.api import ApiView, ListApiView
from screening import selectors
from screening.api.serializers import (
    BatchCreateInputSerializer,
    BatchOutputSerializer,
    ReproductionOutputSerializer,
    ScreeningQueryOutputSerializer,
    ScreeningSearchInputSerializer,
)
from screening.filtersets import QueryFilterSet
from screening.models import BatchRun, ScreeningQuery
from screening.services import (
    ScreeningInputError,
    batch_report_write,
    screening_batch_reject,
    screening_batch_resume,
    screening_batch_start,
    screening_query_verify,
    screening_search,
    whitelist_add,
)

API_READ = READ_ROLES | {Role.INTEGRATION}
API_WRITE = WORK_ROLES | {Role.INTEGRATION}


def _field_error(exc: ScreeningInputError) -> ValidationError:
    return ValidationError({exc.field or "non_field_errors": [str(exc)]})


class ScreeningSearchApi(ApiView):
    """Screen one name against the active lists; the query is logged."""

    read_roles = API_READ
    write_roles = API_WRITE

    @extend_schema(request=ScreeningSearchInputSerializer,
                   responses=ScreeningQueryOutputSerializer, summary="Screen a name")
    def post(self, request):
        ser = ScreeningSearchInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        customer = None
        if data.pop("customer_id", None):
            customer = customer_by_external_id(request.data["customer_id"])
            if customer is None:
                raise ValidationError({"customer_id": ["Unknown customer."]})
        try:
            query = screening_search(**data, customer=customer,
                                     actor=Actor.from_user(request.user))
        except ScreeningInputError as exc:
            raise _field_error(exc) from None
        return Response(ScreeningQueryOutputSerializer(query).data,
                        status=status.HTTP_201_CREATED)


class ScreeningQueryGetApi(ApiView):
    """One logged query with its results."""

    read_roles = API_READ

    @extend_schema(responses=ScreeningQueryOutputSerializer, summary="A logged query")
    def get(self, request, pk: int):
        try:
            query = selectors.query_get(user=request.user, pk=pk)
        except ScreeningQuery.DoesNotExist:
            raise NotFound() from None
        return Response(ScreeningQueryOutputSerializer(query).data)


class ScreeningQueryReproduceApi(ApiView):
    """Re-run a logged query against its logged list versions and compare with the log
    (match by match: scores and explanations). The check is recorded on the audit trail;
    a query logged by another algorithm version is refused (400, `algorithm_version`)."""

    read_roles = API_READ

    @extend_schema(responses=ReproductionOutputSerializer, summary="Reproduce a logged query")
    def get(self, request, pk: int):
        try:
            query = selectors.query_get(user=request.user, pk=pk)
        except ScreeningQuery.DoesNotExist:
            raise NotFound() from None
        try:
            outcome = screening_query_verify(query=query)
        except ScreeningInputError as exc:
            raise _field_error(exc) from None
        return Response(ReproductionOutputSerializer(outcome).data)


class ScreeningQueryListApi(ListApiView):
    """The query log, newest first, filtered like the portal's (name, customer, origin,
    use, batch, hits, min_score, entity, actor, since, until); integration clients see
    their own queries."""

    read_roles = API_READ
    write_roles = frozenset()
    serializer_class = ScreeningQueryOutputSerializer
    filterset_class = QueryFilterSet

    def get_queryset(self):
        return selectors.query_list(user=self.request.user)

    @extend_schema(operation_id="screening_queries_list", summary="The query log")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ScreeningBatchCreateApi(ApiView):
    """Upload a customer CSV for batch screening (runs as a background task)."""

    read_roles = API_READ
    write_roles = API_WRITE
    parser_classes = [MultiPartParser]

    @extend_schema(request=BatchCreateInputSerializer, responses=BatchOutputSerializer,
                   summary="Start a batch")
    def post(self, request):
        max_bytes = int(getattr(settings, "SCREENING_BATCH_MAX_BYTES", 50 * 2**20))
        upload = request.FILES.get("file")
        if upload is not None and upload.size > max_bytes:
            reason = f"file is too large ({upload.size:,} bytes, maximum {max_bytes:,})"
            screening_batch_reject(file_name=upload.name, size=upload.size, reason=reason,
                                   actor=Actor.from_user(request.user), user=request.user)
            raise ValidationError({"file": [reason]})
        ser = BatchCreateInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        f = ser.validated_data["file"]
        try:
            batch = screening_batch_start(
                file_name=f.name, data=f.read(), threshold=ser.validated_data.get("threshold"),
                lists=[c for c in ser.validated_data.get("lists", "").split(",") if c.strip()]
                or None,
                use=ser.validated_data["use"],
                keep_customers=ser.validated_data["keep_customers"],
                actor=Actor.from_user(request.user), user=request.user)
        except ScreeningInputError as exc:
            raise _field_error(exc) from None
        return Response(BatchOutputSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class ScreeningBatchGetApi(ApiView):
    """Status and progress of a batch."""

    read_roles = API_READ

    @extend_schema(responses=BatchOutputSerializer, summary="Batch status")
    def get(self, request, pk: int):
        try:
            batch = selectors.batch_get(user=request.user, pk=pk)
        except BatchRun.DoesNotExist:
            raise NotFound() from None
        return Response(BatchOutputSerializer(batch).data)


class ScreeningBatchResumeApi(ApiView):
    """Queue a failed batch again: only its rows not yet logged are screened, against the
    lists active now."""

    read_roles = API_READ
    write_roles = API_WRITE

    @extend_schema(request=None, responses=BatchOutputSerializer, summary="Resume a batch")
    def post(self, request, pk: int):
        try:
            batch = selectors.batch_get(user=request.user, pk=pk)
        except BatchRun.DoesNotExist:
            raise NotFound() from None
        try:
            batch = screening_batch_resume(batch_id=batch.pk, actor=Actor.from_user(request.user))
        except ScreeningInputError as exc:
            raise _field_error(exc) from None
        return Response(BatchOutputSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class ScreeningBatchReportApi(ApiView):
    """The batch report: CSV (default) or JSON (`?format=json`)."""

    read_roles = API_READ

    @extend_schema(responses={200: bytes}, summary="Batch report")
    def get(self, request, pk: int):
        try:
            batch = selectors.batch_get(user=request.user, pk=pk)
        except BatchRun.DoesNotExist:
            raise NotFound() from None
        fmt = "json" if request.query_params.get("output") == "json" else "csv"
        buf = io.StringIO()
        batch_report_write(batch, buf, fmt=fmt)
        content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
        resp = HttpResponse(buf.getvalue(), content_type=content_type)
        resp["Content-Disposition"] = f'attachment; filename="screening-batch-{batch.pk}.{fmt}"'
        return resp


class WhitelistAddInputSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    list = serializers.CharField()
    entity_uid = serializers.CharField()
    content_hash = serializers.CharField()
    reason = serializers.CharField()


class ScreeningWhitelistAddApi(ApiView):
    """Record a reviewed false positive (customer is not this listed entity)."""

    read_roles = READ_ROLES
    write_roles = WORK_ROLES

    @extend_schema(request=WhitelistAddInputSerializer, responses={201: dict},
                   summary="Whitelist a false positive")
    def post(self, request):
        ser = WhitelistAddInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        customer = customer_by_external_id(data["customer_id"])
        if customer is None:
            raise ValidationError({"customer_id": ["Unknown customer."]})
        try:
            entry = whitelist_add(customer=customer, list_code=data["list"],
                                  entity_uid=data["entity_uid"],
                                  content_hash=data["content_hash"], reason=data["reason"],
                                  reviewer=request.user, actor=Actor.from_user(request.user))
        except ScreeningInputError as exc:
            raise _field_error(exc) from None
        return Response({"whitelist_id": entry.pk, "customer_id": customer.external_id,
                         "list": entry.list_code, "entity_uid": entry.entity_uid,
                         "content_hash": entry.content_hash, "reviewer": request.user.username,
                         "reason": entry.reason, "created_at": entry.created_at},
                        status=status.HTTP_201_CREATED)
