"""Enrichment API: one class per operation; services decide, views translate."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from config.accounts.roles import WORK_ROLES, Role
from config.api import ApiView, ListApiView, error_response
from enrichment import selectors, services
from enrichment.api.serializers import (
    ApplicationInputSerializer,
    ApplicationListOutputSerializer,
    ApplicationOutputSerializer,
    EnrichInputSerializer,
    RunOutputSerializer,
)
from enrichment.filtersets import LoanApplicationFilterSet
from enrichment.selectors import APPLICATION_READ_ROLES

#: analysts, approvers, admins and integration clients may submit and enrich
APPLICATION_WRITE_ROLES = WORK_ROLES | {Role.INTEGRATION}


def _requested_by(request) -> str:
    return request.user.get_username()


class ApplicationListCreateApi(ListApiView):
    """GET: list applications (filterable). POST: submit an application."""

    read_roles = APPLICATION_READ_ROLES
    write_roles = APPLICATION_WRITE_ROLES
    serializer_class = ApplicationListOutputSerializer
    filterset_class = LoanApplicationFilterSet

    def get_queryset(self):
        return selectors.application_list(user=self.request.user)

    @extend_schema(operation_id="enrichment_applications_create",
                   request=ApplicationInputSerializer,
                   responses={201: ApplicationOutputSerializer})
    def post(self, request):
        serializer = ApplicationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        principals = [dict(p) for p in data.pop("principals")]
        application = services.application_create(data=data, principals=principals,
                                                   created_by=request.user)
        application = selectors.application_get(user=request.user, pk=application.pk)
        return Response(ApplicationOutputSerializer(application).data,
                        status=status.HTTP_201_CREATED)


class ApplicationDetailApi(ApiView):
    """One application with its enrichment fields."""

    read_roles = APPLICATION_READ_ROLES
    write_roles = frozenset()

    @extend_schema(operation_id="enrichment_applications_retrieve",
                   responses={200: ApplicationOutputSerializer})
    def get(self, request, pk: int):
        application = selectors.application_get(user=request.user, pk=pk)
        return Response(ApplicationOutputSerializer(application).data)


class ApplicationEnrichApi(ApiView):
    """Start an enrichment run (202). The same ``Idempotency-Key`` header (or
    ``idempotency_key`` field) returns the same run instead of starting another."""

    read_roles = APPLICATION_READ_ROLES
    write_roles = APPLICATION_WRITE_ROLES

    @extend_schema(operation_id="enrichment_applications_enrich",
                   request=EnrichInputSerializer, responses={202: RunOutputSerializer,
                                                             200: RunOutputSerializer})
    def post(self, request, pk: int):
        application = selectors.application_get(user=request.user, pk=pk)
        serializer = EnrichInputSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        key = serializer.validated_data.get("idempotency_key") or request.headers.get(
            "Idempotency-Key") or None
        if key is not None and len(key) > 200:
            return error_response(status=400, code="validation_error",
                                  message="Idempotency-Key is too long.",
                                  fields={"idempotency_key": ["At most 200 characters."]})
        try:
            run, created = services.enrichment_run_request(
                application=application, idempotency_key=key,
                requested_by=_requested_by(request))
        except ValueError as exc:
            return error_response(status=409, code="conflict", message=str(exc),
                                  fields={"idempotency_key": [str(exc)]})
        run.refresh_from_db()
        return Response(RunOutputSerializer(run).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class RunDetailApi(ApiView):
    """Status of a run: timings, error, every call (with retries), patches, document."""

    read_roles = APPLICATION_READ_ROLES
    write_roles = frozenset()

    @extend_schema(operation_id="enrichment_runs_retrieve",
                   responses={200: RunOutputSerializer})
    def get(self, request, pk: int):
        run = selectors.run_get(user=request.user, pk=pk)
        try:
            run.document  # noqa: B018 - load it once for the serializer
        except ObjectDoesNotExist:
            pass
        return Response(RunOutputSerializer(run).data)
