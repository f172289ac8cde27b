"""Every read of screening data that views and the API use.

Screening records are visible to every read role (analyst, approver, auditor, admin);
integration clients see the queries and batches they made themselves.
"""

from __future__ import annotations

from django.db.models import QuerySet

from config.accounts.roles import READ_ROLES, has_role
from screening.models import BatchRun, ScreeningQuery


def _is_integration_only(user) -> bool:
    return not has_role(user, *READ_ROLES)


def query_list(*, user) -> QuerySet[ScreeningQuery]:
    """Logged queries, newest first."""
    qs = ScreeningQuery.objects.select_related("customer", "batch").order_by("-created_at",
                                                                           "-pk")
    if _is_integration_only(user):
        client = getattr(user, "_vigil_api_client", None)
        qs = qs.filter(actor_type="api_client", actor_id=str(client.pk) if client else "-")
    return qs


def query_get(*, user, pk: int) -> ScreeningQuery:
    return query_list(user=user).get(pk=pk)


def batch_list(*, user) -> QuerySet[BatchRun]:
    qs = BatchRun.objects.order_by("-created_at", "-pk")
    if _is_integration_only(user):
        qs = qs.filter(created_by=user)
    return qs


def batch_get(*, user, pk: int) -> BatchRun:
    return batch_list(user=user).get(pk=pk)
