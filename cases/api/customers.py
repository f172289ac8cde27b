"""Customer API: the bank's customer base, upserted in bulk and read one at a time."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from cases.choices import EntityType
from cases.customers import (
    MAX_REASON,
    CustomerInputError,
    CustomerStateError,
    customer_offboard,
    customer_reinstate,
    customer_rows_clean,
    customers_upsert_many,
)
from cases.filtersets import CustomerFilterSet
from cases.selectors import customer_by_external_id, customer_list, customer_open_cases
from config.accounts.roles import READ_ROLES, WORK_ROLES, Role
from config.api import ApiView, StrictSerializer, error_response
from config.pagination import StandardPagination
from screening.selectors import CUSTOMER_SCREENING_STATES, customer_screening_state

MAX_PER_REQUEST = 1000


class CustomerSerializer(serializers.Serializer):
    external_id = serializers.CharField(help_text="the bank's own customer id")
    name = serializers.CharField()
    dob = serializers.CharField(required=False, allow_blank=True,
                                help_text="YYYY, YYYY-MM or YYYY-MM-DD")
    country = serializers.CharField(required=False, allow_blank=True,
                                    help_text="ISO 3166 alpha-2")
    entity_type = serializers.ChoiceField(choices=EntityType.choices, required=False)


class CustomersUpsertInputSerializer(serializers.Serializer):
    customers = CustomerSerializer(many=True)


class CustomersUpsertOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    screening_queued = serializers.IntegerField(
        help_text="new customers and customers whose name, date of birth, country or type "
                  "changed: screened against the active lists in the background (their "
                  "queries and any cases follow)")


class CustomerQuerySerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the logged screening query")
    screened_at = serializers.DateTimeField()
    origin = serializers.CharField(help_text="customer (screened on arrival), single, batch "
                                             "or delta (a list change)")
    hit_count = serializers.IntegerField(help_text="matches at or above the threshold, "
                                                   "after reviewed false positives")
    top_score = serializers.FloatField(allow_null=True)


class CustomerScreeningSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=CUSTOMER_SCREENING_STATES,
        help_text="pending: new or changed and not yet screened against the active lists "
                  "(queued); screened: screened since the last change")
    latest_query = CustomerQuerySerializer(allow_null=True)


class CustomerOutputSerializer(CustomerSerializer):
    created_at = serializers.DateTimeField()
    offboarded_at = serializers.DateTimeField(
        allow_null=True, help_text="set: no longer re-screened when a list changes")
    offboarding_reason = serializers.CharField(allow_blank=True)
    open_cases = serializers.ListField(child=serializers.CharField(),
                                       help_text="references of the customer's open cases")
    screening = CustomerScreeningSerializer()


class CustomerListItemSerializer(CustomerSerializer):
    created_at = serializers.DateTimeField()
    offboarded_at = serializers.DateTimeField(allow_null=True)
    open_cases = serializers.IntegerField(help_text="how many of the customer's cases are open")


class CustomerPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CustomerListItemSerializer(many=True)


class CustomersUpsertApi(ApiView):
    """GET: the customer base, paginated (filters `q`, `state` active|offboarded,
    `entity_type`, `country`). POST: store or update up to 1,000 customers by id (the
    base that delta re-screening screens when a list version activates). All or nothing:
    one bad customer refuses the request with its index and field. An offboarded customer
    sent again stays offboarded until reinstated."""

    read_roles = READ_ROLES | {Role.INTEGRATION}
    write_roles = WORK_ROLES | {Role.INTEGRATION}

    @extend_schema(parameters=[
        OpenApiParameter("q", str, description="customer id (exact or start) or name"),
        OpenApiParameter("state", str, enum=["active", "offboarded"]),
        OpenApiParameter("entity_type", str, enum=list(EntityType.values)),
        OpenApiParameter("country", str, description="ISO 3166 alpha-2"),
        OpenApiParameter("page", int), OpenApiParameter("page_size", int),
    ], responses=CustomerPageSerializer, summary="List customers", operation_id="customers_list")
    def get(self, request):
        filterset = CustomerFilterSet(request.query_params, queryset=customer_list())
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        return paginator.get_paginated_response(
            CustomerListItemSerializer(page, many=True).data)

    @extend_schema(request=CustomersUpsertInputSerializer,
                   responses=CustomersUpsertOutputSerializer, summary="Upsert customers")
    def post(self, request):
        body = request.data
        if not isinstance(body, dict) or set(body) != {"customers"}:
            raise exceptions.ValidationError({"customers": ["Send {\"customers\": [...]}."]})
        rows = body["customers"]
        if isinstance(rows, list) and len(rows) > MAX_PER_REQUEST:
            raise exceptions.ValidationError(
                {"customers": [f"At most {MAX_PER_REQUEST:,} customers per request."]})
        try:
            cleaned = customer_rows_clean(rows)
        except CustomerInputError as exc:
            key = f"customers[{exc.row - 1}].{exc.field}" if exc.row else "customers"
            return error_response(status=400, code="validation_error", message=str(exc),
                                  fields={key: [exc.problem]})
        with transaction.atomic():
            outcome = customers_upsert_many(cleaned, source="api")
            if outcome.to_screen:
                from screening.tasks import screening_customers_task

                ids = list(outcome.to_screen)
                transaction.on_commit(lambda: screening_customers_task.delay(ids))
        return Response(CustomersUpsertOutputSerializer(
            {**outcome.as_dict(), "screening_queued": len(outcome.to_screen)}).data)


class CustomerGetApi(ApiView):
    """One stored customer, with the references of their open cases and where their
    screening stands (`screening.state`: pending until the queued screening ran)."""

    read_roles = READ_ROLES | {Role.INTEGRATION}

    @extend_schema(responses=CustomerOutputSerializer, summary="A customer")
    def get(self, request, external_id: str):
        customer = customer_by_external_id(external_id)
        if customer is None:
            raise exceptions.NotFound()
        return Response(_customer_out(customer))


def _customer_out(customer) -> dict:
    data = {f: getattr(customer, f) for f in ("external_id", "name", "dob", "country",
                                              "entity_type", "created_at", "offboarded_at",
                                              "offboarding_reason")}
    data["open_cases"] = [c.reference for c in customer_open_cases(customer=customer)]
    data["screening"] = customer_screening_state(customer=customer)
    return CustomerOutputSerializer(data).data


class CustomerReasonInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=MAX_REASON, help_text="why (kept on the record)")


class _CustomerStateApi(ApiView):
    read_roles = READ_ROLES | {Role.INTEGRATION}
    write_roles = WORK_ROLES | {Role.INTEGRATION}
    service = staticmethod(customer_offboard)

    def post(self, request, external_id: str):
        customer = customer_by_external_id(external_id)
        if customer is None:
            raise exceptions.NotFound()
        ser = CustomerReasonInputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            customer = self.service(customer=customer, reason=ser.validated_data["reason"])
        except CustomerStateError as exc:
            return error_response(status=409, code="conflict", message=str(exc),
                                  fields={exc.field: [exc.problem]})
        except CustomerInputError as exc:
            return error_response(status=400, code="validation_error", message=str(exc),
                                  fields={exc.field: [exc.problem]})
        return Response(_customer_out(customer))


class CustomerOffboardApi(_CustomerStateApi):
    """The bank no longer serves this customer: list changes stop re-screening them (their
    cases and records stay). 409 if already offboarded."""

    service = staticmethod(customer_offboard)

    @extend_schema(request=CustomerReasonInputSerializer, responses=CustomerOutputSerializer,
                   summary="Offboard a customer")
    def post(self, request, external_id: str):
        return super().post(request, external_id)


class CustomerReinstateApi(_CustomerStateApi):
    """An offboarded customer is served again: list changes re-screen them again. 409 if
    not offboarded."""

    service = staticmethod(customer_reinstate)

    @extend_schema(request=CustomerReasonInputSerializer, responses=CustomerOutputSerializer,
                   summary="Reinstate an offboarded customer")
    def post(self, request, external_id: str):
        return super().post(request, external_id)
