"""Portal pages of the lists: freshness, versions, deltas, entity search and detail.

Every page is read-only and open to every read role; an administrator may ask for a
refresh now (POST, audited, queued after commit).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.accounts.roles import ADMIN_ROLES, READ_ROLES, role_required
from screening.lists import selectors
from screening.lists.choices import ChangeKind, ListCode
from screening.lists.filtersets import EntityFilterSet
from screening.lists.models import Entity, ListSource, ListVersion
from screening.lists.services import list_source_ensure

PAGE_SIZE = 50


def _source_or_404(code: str) -> ListSource:
    try:
        return selectors.source_get(code=code)
    except ListSource.DoesNotExist:
        raise Http404("No such list") from None


@role_required(*READ_ROLES)
def index(request):
    """Each list with its active version, freshness and last error."""
    active = {v.source_id: v for v in selectors.active_versions()}
    sources = [(s, active.get(s.pk)) for s in selectors.source_list()]
    return render(request, "lists/index.html", {"sources": sources})


@role_required(*READ_ROLES)
def versions(request, code: str):
    source = _source_or_404(code)
    page = Paginator(selectors.version_list(source=source), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "lists/versions.html", {"source": source, "page": page})


@role_required(*READ_ROLES)
def delta(request, code: str, version_id: int):
    source = _source_or_404(code)
    try:
        version = selectors.version_get(source=source, version_id=version_id)
    except ListVersion.DoesNotExist:
        raise Http404("No such version") from None
    kind = request.GET.get("kind", "")
    if kind not in ChangeKind.values:
        kind = ""
    page = Paginator(selectors.change_list(version=version, kind=kind or None), PAGE_SIZE)
    return render(
        request,
        "lists/delta.html",
        {
            "source": source,
            "version": version,
            "kind": kind,
            "kinds": ChangeKind.choices,
            "page": page.get_page(request.GET.get("page")),
        },
    )


@role_required(*READ_ROLES)
def entity_search(request):
    filterset = EntityFilterSet(request.GET or None)
    results = None
    if request.GET:
        results = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "lists/entity_search.html",
        {
            "filterset": filterset,
            "page": results,
            "query": query.urlencode(),
            "lists": ListCode.choices,
        },
    )


@role_required(*READ_ROLES)
def entity_detail(request, entity_id: int):
    try:
        entity = selectors.entity_get(entity_id=entity_id)
    except Entity.DoesNotExist:
        raise Http404("No such entity") from None
    c = entity.content
    return render(
        request,
        "lists/entity_detail.html",
        {
            "entity": entity,
            "names": c["names"],
            "content": c,
            "history": selectors.entity_history(entity=entity)[:50],
        },
    )


@require_POST
@role_required(*ADMIN_ROLES, write=True)
def refresh(request, code: str):
    from audit.services import audit_record
    from screening.lists.tasks import lists_refresh_source

    if code not in ListCode.values:
        raise Http404("No such list")
    source = list_source_ensure(code=code)
    with transaction.atomic():
        audit_record(
            action="lists.refresh_requested",
            object_type="lists.listsource",
            object_id=str(source.pk),
            data={"source": code},
        )
        transaction.on_commit(lambda: lists_refresh_source.delay(code))
    messages.info(request, f"Refresh of {source.name} queued.")
    return redirect("lists:index")
