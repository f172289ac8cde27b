"""Every read of screening data that views and the API use.

Screening records are visible to every read role (analyst, approver, auditor, admin);
integration clients see the queries and batches they made themselves.
"""

from __future__ import annotations

from django.db.models import Max, QuerySet

from cases.models import Customer
from cases.selectors import customers_rescreened
from config.accounts.roles import READ_ROLES, has_role
from screening.choices import QueryOrigin
from screening.lists.selectors import active_versions
from screening.models import BatchRun, ScreeningQuery, Whitelist


def _screened_since_change(ids: list[int]) -> set[int]:
    """Of these customers, those screened on arrival since their last recorded change.
    Two grouped, indexed reads."""
    changed = dict(Customer.history.model.objects.filter(id__in=ids).values("id")
                   .annotate(last=Max("history_date")).values_list("id", "last"))
    screened = ScreeningQuery.objects.filter(customer_id__in=ids, origin=QueryOrigin.CUSTOMER)
    return {pk for pk, at in screened.values("customer_id").annotate(last=Max("created_at"))
            .values_list("customer_id", "last") if pk not in changed or at >= changed[pk]}


def customers_awaiting_screening(ids: list[int]) -> list[Customer]:
    """Of these customers (a chunk), those to screen on arrival: not offboarded, and not
    screened on arrival since their last recorded change (so a task run again, e.g.
    redelivered after its worker died, screens only what the first run did not)."""
    done = _screened_since_change(ids)
    return [c for c in customers_rescreened().filter(pk__in=ids).order_by("pk")
            if c.pk not in done]


#: Where a stored customer's screening stands (`customer_screening_state`).
CUSTOMER_SCREENING_STATES = ("pending", "screened", "no_active_list", "offboarded")


def customer_screening_state(*, customer: Customer) -> dict:
    """Where a customer's screening stands, for an integration that stored them and waits
    for the result: `pending` (new or changed, not yet screened on arrival against the
    active lists), `screened`, `no_active_list` (nothing to screen against yet: the first
    activation screens the whole base) or `offboarded`; and their latest logged query of
    any kind (id, time, origin, matches kept, top score), or None."""
    latest = (ScreeningQuery.objects.filter(customer=customer).order_by("-created_at", "-pk")
              .values("id", "created_at", "origin", "hit_count", "top_score").first())
    if customer.offboarded_at is not None:
        state = "offboarded"
    elif not active_versions():
        state = "no_active_list"
    elif customer.pk not in _screened_since_change([customer.pk]):
        state = "pending"
    else:
        state = "screened"
    return {"state": state, "latest_query": latest and {
        "id": latest["id"], "screened_at": latest["created_at"], "origin": latest["origin"],
        "hit_count": latest["hit_count"], "top_score": latest["top_score"]}}


def _is_integration_only(user) -> bool:
    return not has_role(user, *READ_ROLES)


def customer_screening(*, user, customer, limit: int = 20) -> dict:
    """A customer's screening record: the latest queries about them (and how many in
    all) and their whitelist entries (reviewed false positives), newest first."""
    queries = query_list(user=user).filter(customer=customer)
    return {
        "queries": list(queries[:limit]),
        "query_count": queries.count(),
        "whitelist": list(Whitelist.objects.filter(customer=customer)
                          .select_related("reviewer").order_by("-created_at", "-pk")),
    }


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


def _entity_card(entity) -> dict:
    return {"id": entity.pk, "content": entity.content or {}, "entity_type": entity.entity_type,
            "primary_name": entity.primary_name, "list_name": entity.version.source.name,
            "version_id": entity.version_id, "is_active": entity.version.is_active}


def match_key(match: dict) -> tuple[str, str, str]:
    """(list, entity_uid, content_hash) of a logged match: the listed entry it was made on."""
    return (str(match.get("list", "")), str(match.get("entity_uid", "")),
            str(match.get("content_hash", "")))


def match_entities(matches: list[dict]) -> dict[tuple[str, str, str], dict]:
    """The stored listed entries the matches were made on, keyed by `match_key`, as
    `screening.presentation.match_view` reads them. A match that names its entity row
    (`entity_id`) gets that row; one that does not (a case's evidence summary) gets the
    newest row of that uid with that exact content. Two queries at most, whatever the
    number of matches."""
    from screening.lists.models import Entity

    found: dict[tuple[str, str, str], dict] = {}
    ids = {m["entity_id"] for m in matches if isinstance(m.get("entity_id"), int)}
    base = Entity.objects.select_related("version__source")
    for e in base.filter(pk__in=ids) if ids else ():
        found[(e.version.source.code, e.uid, e.content_hash)] = _entity_card(e)
    rest = [m for m in matches if match_key(m) not in found and m.get("content_hash")]
    if rest:
        rows = base.filter(uid__in={str(m.get("entity_uid", "")) for m in rest},
                           content_hash__in={str(m["content_hash"]) for m in rest},
                           version__source__code__in={str(m.get("list", "")) for m in rest}
                           ).order_by("pk")
        for e in rows:  # ascending: the newest row of a key wins
            found[(e.version.source.code, e.uid, e.content_hash)] = _entity_card(e)
    return found


def query_inputs(query_ids: list) -> dict[int, dict]:
    """The logged input (name, dob, country, entity_type) of each query, by id."""
    ids = {i for i in query_ids if isinstance(i, int)}
    if not ids:
        return {}
    return dict(ScreeningQuery.objects.filter(pk__in=ids).values_list("pk", "input"))


def match_cards(matches: list[dict], *, query: dict | None, threshold: float | None = None
                ) -> list[dict]:
    """Each match's card (`screening.presentation.match_view`) with its listed entry."""
    from screening.presentation import match_view

    entities = match_entities(matches)
    return [match_view(m, query=query, threshold=threshold, entity=entities.get(match_key(m)))
            for m in matches]


def evidence_cards(matches: list[dict], *, customer=None) -> list[dict]:
    """The card of each screening match a case holds as evidence (its summary: the
    logged match plus `query_id`): what its logged query screened next to the listed
    entry. Older evidence without a logged query falls back to the summary's own
    `query_*` fields, then to the case's customer."""
    from screening.presentation import match_view

    entities = match_entities(matches)
    inputs = query_inputs([m.get("query_id") for m in matches])
    cards = []
    for m in matches:
        screened = inputs.get(m.get("query_id")) or {}
        query = {f: screened.get(f) or m.get(f"query_{f}") or getattr(customer, f, "") or ""
                 for f in ("name", "dob", "country")}
        query["entity_type"] = screened.get("entity_type")
        cards.append(match_view(m, query=query, entity=entities.get(match_key(m))))
    return cards


def query_cases(*, query: ScreeningQuery) -> list:
    """The cases that hold this query's hits as evidence (opened or updated by it), with
    their state: what an analyst follows up and an auditor traces to."""
    from cases.models import Case

    if not query.results or query.customer_id is None:
        return []
    keys = [query.hit_evidence_id(m.get("list"), m.get("entity_uid")) for m in query.results]
    return list(Case.objects.filter(evidence__kind="screening_match",
                                    evidence__object_id__in=keys)
                .distinct().order_by("pk"))
