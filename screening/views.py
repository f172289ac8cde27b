"""Portal pages: search with explanations, batch upload with htmx progress, query log."""

from __future__ import annotations

import io
import json

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.context import Actor
from config.accounts.roles import READ_ROLES, WORK_ROLES, can_write, role_required
from screening import selectors
from screening.choices import BatchStatus
from screening.filtersets import QueryFilterSet
from screening.forms import BatchUploadForm, HitWhitelistForm, SearchForm
from screening.models import BatchRun, ScreeningQuery
from screening.services import (
    ScreeningInputError,
    batch_report_write,
    query_log_export,
    screening_batch_reject,
    screening_batch_resume,
    screening_batch_start,
    screening_hit_whitelist,
    screening_query_verify,
    screening_search,
)


@role_required(*READ_ROLES)
def index(request):
    """Search form (work roles) and the latest queries and batches."""
    form = SearchForm(request.GET or None)
    return render(request, "screening/index.html", {
        "form": form, "can_write": can_write(request.user, WORK_ROLES),
        "batches": selectors.batch_list(user=request.user)[:10],
    })


@role_required(*WORK_ROLES, write=True)
def search(request):
    """Run a search and show the ranked matches with their explanations."""
    if request.method != "POST":
        return redirect("screening:index")
    form = SearchForm(request.POST)
    query = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            query = screening_search(
                name=data["name"], dob=data["dob"] or None, country=data["country"] or None,
                entity_type=data["entity_type"] or None, lists=data["lists"] or None,
                threshold=data["threshold"], use=data["use"], customer=data["customer"],
                actor=Actor.from_user(request.user))
        except ScreeningInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
    status = 200 if query is not None or form.is_valid() else 400
    cards = (selectors.match_cards(query.results, query=query.input, threshold=query.threshold)
             if query is not None else [])
    return render(request, "screening/index.html", {
        "form": form, "query": query, "cards": cards, "can_write": True,
        "cases": selectors.query_cases(query=query) if query is not None else [],
        "batches": selectors.batch_list(user=request.user)[:10],
    }, status=status)


@role_required(*READ_ROLES)
def query_list(request):
    """The append-only query log, filtered (QueryFilterSet); `?export=csv` streams the
    filtered log (up to SCREENING_LOG_EXPORT_MAX rows), and the export is on the audit
    trail."""
    filters = QueryFilterSet(request.GET or None, queryset=selectors.query_list(user=request.user))
    if filters.is_bound and not filters.is_valid():
        return render(request, "screening/query_list.html",
                      {"filters": filters, "page": None}, status=400)
    if request.GET.get("export") == "csv":
        return _query_log_csv(request, filters)
    page = Paginator(filters.qs, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "screening/query_list.html", {
        "filters": filters, "page": page, "params": params.urlencode(),
        "filtered": any(v for k, v in request.GET.items() if k != "page"),
    })


def _query_log_csv(request, filters) -> StreamingHttpResponse:
    rows = query_log_export(
        queries=filters.qs, limit=int(getattr(settings, "SCREENING_LOG_EXPORT_MAX", 100_000)),
        filters={k: v for k, v in request.GET.items() if k not in ("export", "page") and v})
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="screening-queries-{stamp}.csv"'
    return response


def _query(request, pk: int) -> ScreeningQuery:
    try:
        return selectors.query_get(user=request.user, pk=pk)
    except ScreeningQuery.DoesNotExist:
        raise Http404 from None


def _query_page(request, query: ScreeningQuery, whitelist_form=None, status: int = 200,
                reproduction: dict | None = None, reproduction_error: str = ""):
    return render(request, "screening/query_detail.html", {
        "reproduction": reproduction, "reproduction_error": reproduction_error,
        "query": query, "config_json": json.dumps(query.config, indent=2),
        "cards": selectors.match_cards(query.results, query=query.input,
                                       threshold=query.threshold),
        "cases": selectors.query_cases(query=query),
        "can_whitelist": query.customer_id is not None and can_write(request.user,
                                                                     WORK_ROLES),
        "whitelist_form": whitelist_form,
        "whitelisted_keys": selectors.query_whitelisted(query=query),
    }, status=status)


@role_required(*READ_ROLES)
def query_detail(request, pk: int):
    """A logged query; work roles may whitelist a customer's hit from here."""
    return _query_page(request, _query(request, pk))


@role_required(*READ_ROLES)
@require_GET
def query_reproduce(request, pk: int):
    """Re-run a logged query against its logged list versions and show whether the
    result is the same (auditors too: it changes no record; the check is on the ledger)."""
    query = _query(request, pk)
    try:
        outcome = screening_query_verify(query=query)
    except ScreeningInputError as exc:
        return _query_page(request, query, reproduction_error=str(exc), status=409)
    return _query_page(request, query, reproduction=outcome)


@role_required(*WORK_ROLES, write=True)
def hit_whitelist(request, pk: int):
    """Whitelist one hit of a customer's query (reviewed false positive, with reason)."""
    if request.method != "POST":
        return redirect("screening:query_detail", pk=pk)
    query = _query(request, pk)
    form = HitWhitelistForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            screening_hit_whitelist(query=query, list_code=data["list_code"],
                                    entity_uid=data["entity_uid"], reason=data["reason"],
                                    reviewer=request.user, actor=Actor.from_user(request.user))
        except ScreeningInputError as exc:
            form.add_error("reason" if exc.field == "reason" else None, str(exc))
        else:
            messages.success(request, f"{data['list_code']} {data['entity_uid']} whitelisted "
                                      f"for customer {query.customer.external_id}.")
            return redirect("screening:query_detail", pk=pk)
    return _query_page(request, query, whitelist_form=form, status=400)


@role_required(*WORK_ROLES, write=True)
def batch_upload(request):
    """Upload a customer CSV; the batch runs in the background."""
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    max_bytes = int(getattr(settings, "SCREENING_BATCH_MAX_BYTES", 50 * 2**20))
    if request.method == "POST" and form.is_valid():
        f = form.cleaned_data["file"]
        if f.size > max_bytes:
            reason = f"file is too large ({f.size:,} bytes, maximum {max_bytes:,})"
            screening_batch_reject(file_name=f.name, size=f.size, reason=reason,
                                   actor=Actor.from_user(request.user), user=request.user)
            form.add_error("file", reason)
        else:
            try:
                batch = screening_batch_start(
                    file_name=f.name, data=f.read(), threshold=form.cleaned_data["threshold"],
                    lists=form.cleaned_data["lists"] or None, use=form.cleaned_data["use"],
                    keep_customers=form.cleaned_data["keep_customers"],
                    actor=Actor.from_user(request.user), user=request.user)
                return redirect("screening:batch_detail", pk=batch.pk)
            except ScreeningInputError as exc:
                form.add_error("file", str(exc))
    return render(request, "screening/batch_upload.html",
                  {"form": form, "max_mb": max_bytes // 2**20},
                  status=400 if form.errors else 200)


def _batch(request, pk: int) -> BatchRun:
    try:
        return selectors.batch_get(user=request.user, pk=pk)
    except BatchRun.DoesNotExist:
        raise Http404 from None


@role_required(*READ_ROLES)
def batch_detail(request, pk: int):
    """A batch's progress (refreshed while it runs) and its rows with hits, in file
    order, each with what it matched and a link to its logged query."""
    batch = _batch(request, pk)
    context = {
        "batch": batch,
        "can_resume": batch.status == BatchStatus.FAILED and can_write(request.user, WORK_ROLES),
    }
    if request.htmx:
        return render(request, "screening/partials/batch_progress.html", context)
    context["hits"] = Paginator(selectors.batch_hits(batch=batch), 50).get_page(
        request.GET.get("page"))
    return render(request, "screening/batch_detail.html", context)


@role_required(*WORK_ROLES, write=True)
def batch_resume(request, pk: int):
    """Queue a failed batch again: only its rows not yet logged are screened."""
    batch = _batch(request, pk)
    if request.method != "POST":
        return redirect("screening:batch_detail", pk=batch.pk)
    try:
        screening_batch_resume(batch_id=batch.pk, actor=Actor.from_user(request.user))
    except ScreeningInputError as exc:
        messages.error(request, str(exc))
    else:
        left = batch.total - batch.processed
        messages.success(request, f"Batch #{batch.pk} resumed: the {left:,} rows not yet "
                                  "screened are queued.")
    return redirect("screening:batch_detail", pk=batch.pk)


@role_required(*READ_ROLES)
def batch_report(request, pk: int):
    batch = _batch(request, pk)
    fmt = "json" if request.GET.get("format") == "json" else "csv"
    buf = io.StringIO()
    batch_report_write(batch, buf, fmt=fmt)
    resp = HttpResponse(buf.getvalue(),
                        content_type="application/json" if fmt == "json" else "text/csv")
    resp["Content-Disposition"] = f'attachment; filename="screening-batch-{batch.pk}.{fmt}"'
    return resp
