"""Screening API: one class per operation; each calls one service or selector."""

from __future__ import annotations

import io

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from audit.context import Actor
from cases.models import Customer
from config.accounts.roles import READ_ROLES, WORK_ROLES, Role
from config.api import ApiView
from screening import selectors
from screening.api.serializers import (
    BatchCreateInputSerializer,
    BatchOutputSerializer,
    ScreeningQueryOutputSerializer,
    ScreeningSearchInputSerializer,
)
from screening.models import BatchRun, ScreeningQuery
from screening.services import (
    ScreeningInputError,
    batch_report_write,
    screening_batch_start,
    screening_search,
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
            customer = Customer.objects.filter(external_id=request.data["customer_id"]).first()
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
            raise ValidationError({"file": [f"file is too large ({upload.size:,} bytes, "
                                            f"maximum {max_bytes:,})"]})
        ser = BatchCreateInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        f = ser.validated_data["file"]
        try:
            batch = screening_batch_start(
                file_name=f.name, data=f.read(), threshold=ser.validated_data.get("threshold"),
                lists=[c for c in ser.validated_data.get("lists", "").split(",") if c.strip()]
                or None,
                use=ser.validated_data["use"], actor=Actor.from_user(request.user),
                user=request.user)
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
