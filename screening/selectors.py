"""Every read of screening data that views and the API use.

Screening records are visible to every read role (analyst, approver, auditor, admin);
integration clients see the queries and batches they made themselves.
"""

from __future__ import annotations

from django.db.models import QuerySet

from config.accounts.roles import READ_ROLES, has_role
from screening.models import BatchRun, ScreeningQuery, Whitelist


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


def batch_hits(*, batch: BatchRun) -> QuerySet[ScreeningQuery]:
    """The batch's rows with a match at or above its threshold, in the file's order."""
    return (ScreeningQuery.objects.filter(batch=batch, hit_count__gt=0)
            .select_related("customer").order_by("row_number"))


def query_whitelisted(*, query: ScreeningQuery) -> set[str]:
    """"list:entity_uid" of the query's hits that are whitelisted for its customer, with
    the content the hit had."""
    if query.customer_id is None or not query.results:
        return set()
    hashes = {(m.get("list"), m.get("entity_uid")): m.get("content_hash")
              for m in query.results}
    return {
        f"{w.list_code}:{w.entity_uid}"
        for w in Whitelist.objects.filter(customer_id=query.customer_id, active=True,
                                          entity_uid__in=[u for _, u in hashes])
        if hashes.get((w.list_code, w.entity_uid)) == w.content_hash
    }
