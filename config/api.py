"""API conventions shared by every endpoint: base views, errors, pagination."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, views
from rest_framework.response import Response

from audit.context import Actor, current_context
from config.accounts.roles import Role, user_roles
from config.pagination import StandardPagination
from config.permissions import IntegrationRateThrottle, RolePermission


class ApiViewMixin:
    read_roles: frozenset[str] = frozenset()
    write_roles: frozenset[str] = frozenset()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # DRF authenticates after Django's middleware ran: name the real actor now.
        ctx = current_context()
        if ctx is not None and request.user.is_authenticated:
            ctx.actor = Actor.from_user(request.user)
            ctx.user = request.user


class ApiView(ApiViewMixin, views.APIView):
    """Base of every API operation (one class per operation)."""


class ListApiView(ApiViewMixin, generics.ListAPIView):
    pass


class RetrieveApiView(ApiViewMixin, generics.RetrieveAPIView):
    pass


def _flatten_fields(detail) -> dict:
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten_fields(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub, msgs in _flatten_fields(item).items():
                        out[f"{key}[{index}].{sub}"] = msgs
            else:
                out[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {}


def exception_handler(exc, context):
    """One error shape: {"error": {"code", "message", "fields"}}."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = views.exception_handler(exc, context)
    if response is None:
        return None
    fields: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        detail = exc.detail
        if isinstance(detail, dict):
            fields = _flatten_fields(detail)
            non_field = fields.pop("non_field_errors", None)
            message = non_field[0] if non_field else "Invalid input."
            if non_field:
                fields["non_field_errors"] = non_field
        else:
            items = detail if isinstance(detail, list) else [detail]
            message = "; ".join(str(i) for i in items) or "Invalid input."
    else:
        code = getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", str(exc))
        message = str(detail) if not isinstance(detail, dict | list) else str(exc)
        if isinstance(exc, exceptions.ParseError):
            code = "parse_error"
    response.data = {"error": {"code": str(code), "message": message, "fields": fields}}
    return response


def error_response(*, status: int, code: str, message: str, fields: dict | None = None):
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}},
                    status=status)


__all__ = ["ApiView", "ListApiView", "RetrieveApiView", "RolePermission",
           "IntegrationRateThrottle", "StandardPagination", "error_response"]


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    api_client = serializers.CharField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)


class WhoAmIApi(ApiView):
    """Who the caller is: user, roles and API client. Any authenticated role."""

    read_roles = frozenset(Role.values)

    @extend_schema(responses=WhoAmISerializer, summary="The authenticated caller")
    def get(self, request):
        client = getattr(request.user, "_vigil_api_client", None)
        return Response({
            "username": request.user.get_username(),
            "roles": sorted(user_roles(request.user)),
            "api_client": client.name if client else None,
            "request_id": getattr(request._request, "request_id", None),
        })


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not declare, naming them (400 with each unknown field)."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
