"""Monitoring API: transaction ingestion for integrations, alerts for auditors/integrations."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response

from config.accounts.roles import Role
from config.api import ApiView, ListApiView, error_response
from monitoring import selectors
from monitoring.api.serializers import (
    AlertSerializer,
    AlertTraceSerializer,
    IngestResultSerializer,
)
from monitoring.filtersets import AlertFilterSet
from monitoring.models import Alert
from monitoring.rules.schema import EventValidationError, validate_event
from monitoring.services import transactions_ingest

MAX_BATCH = 1000


class TransactionIngestApi(ApiView):
    """POST one transaction (an object) or a batch (`{"transactions": [...]}` or a list).
    The whole request is validated first: one bad event rejects the request with every
    problem named, nothing stored. Idempotent per (source, id)."""

    read_roles = frozenset()
    write_roles = frozenset({Role.INTEGRATION, Role.ADMIN})

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: IngestResultSerializer},
        summary="Ingest transactions",
    )
    def post(self, request):
        data = request.data
        if isinstance(data, dict) and "transactions" in data:
            items, prefix = data["transactions"], "transactions"
        elif isinstance(data, list):
            items, prefix = data, ""
        else:
            items, prefix = [data], None
        if not isinstance(items, list) or not items:
            return error_response(
                status=400,
                code="validation_error",
                message="Send a transaction object or a non-empty list.",
                fields={"transactions": ["must be a non-empty list"]},
            )
        if len(items) > MAX_BATCH:
            return error_response(
                status=400,
                code="validation_error",
                message=f"At most {MAX_BATCH} transactions per request.",
                fields={"transactions": [f"more than {MAX_BATCH} items"]},
            )
        events, fields = [], {}
        for index, item in enumerate(items):
            try:
                events.append(validate_event(item, default_source="api"))
            except EventValidationError as exc:
                for name, problem in exc.errors.items():
                    key = name if prefix is None else f"{prefix}[{index}].{name}"
                    fields[key.lstrip(".")] = [problem]
        if fields:
            return error_response(
                status=400,
                code="validation_error",
                message="Invalid transaction data.",
                fields=fields,
            )
        result = transactions_ingest(events=events)
        body = {
            "received": result.received,
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "alert_ids": result.alert_ids,
        }
        return Response(
            body, status=status.HTTP_201_CREATED if result.inserted else status.HTTP_200_OK
        )


class AlertListApi(ListApiView):
    """Alerts, newest first; filter by customer_id, account_id, rule, since, until."""

    read_roles = selectors.ALERT_READ_ROLES
    write_roles = frozenset()
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet

    def get_queryset(self):
        return selectors.alert_list(user=self.request.user)


class AlertGetApi(ApiView):
    """One alert with its full trace."""

    read_roles = selectors.ALERT_READ_ROLES
    write_roles = frozenset()

    @extend_schema(responses=AlertTraceSerializer, summary="Alert with trace")
    def get(self, request, alert_id: int):
        try:
            alert = selectors.alert_get(user=request.user, alert_id=alert_id)
        except Alert.DoesNotExist:
            raise Http404 from None
        return Response(AlertTraceSerializer(alert).data)
