"""Case portal pages: the inbox and queues, the case page, the dashboard. Thin: parse with a
form, call one service or selector, render. Every view declares who may use it."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases import charts, services
from cases.choices import CaseSource, CaseState, Disposition, EvidenceKind
from cases.filtersets import AGE_CHOICES, STATUS_CHOICES, CaseFilterSet
from cases.forms import (
    TRANSITIONS,
    AttachmentForm,
    BulkForm,
    CommentForm,
    MatchResolveForm,
    SarForm,
    TransitionForm,
)
from cases.models import Case
from cases.selectors import (
    assignable_users,
    case_evidence,
    case_get,
    case_inbox,
    case_list,
    case_timeline,
    customer_by_external_id,
    customer_cases,
    customer_open_cases,
    dashboard_stats,
    queue_counts,
)
from config.accounts.roles import APPROVE_ROLES, READ_ROLES, WORK_ROLES, can_write, role_required
from enrichment.selectors import customer_applications
from monitoring.selectors import alert_evidence, customer_alerts
from screening.selectors import customer_screening, evidence_cards

PAGE_SIZES = (25, 50, 100)


def _error(request, exc: services.CaseError) -> None:
    messages.error(request, exc.message)


@role_required(*READ_ROLES)
@require_GET
def index(request):
    """The inbox: queues by source, my cases, filters and search, sorted by priority/age."""
    filterset = CaseFilterSet(request.GET, queryset=case_inbox(user=request.user), request=request)
    queryset = filterset.qs if filterset.is_valid() else case_list(user=request.user).none()
    try:
        per_page = int(request.GET.get("page_size", 25))
    except ValueError:
        per_page = 25
    per_page = per_page if per_page in PAGE_SIZES else 25
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "cases/index.html",
        {
            "filterset": filterset,
            "page": page,
            "params": params.urlencode(),
            "queues": _queue_tabs(),
            "current_source": request.GET.get("source", ""),
            "mine": request.GET.get("assignee") == "me",
            "now": timezone.now(),
            "page_sizes": PAGE_SIZES,
            "per_page": per_page,
            "assignees": assignable_users() if can_write(request.user, APPROVE_ROLES) else [],
            # Plain option lists: rendering Django form widgets costs more than the rows.
            "choices": {"status": STATUS_CHOICES, "source": CaseSource.choices, "age": AGE_CHOICES},
        },
    )


def _queue_tabs():
    counts = queue_counts()
    return [(value, label, counts.get(value, 0)) for value, label in CaseSource.choices]


@role_required(*WORK_ROLES)
@require_POST
def claim_next(request):
    """Give me the next case from the queue (compare-and-set, never a case twice)."""
    source = request.POST.get("source") or None
    if source and source not in CaseSource.values:
        messages.error(request, "Unknown queue.")
        return redirect("cases:index")
    try:
        case = services.case_claim_next(actor_user=request.user, source=source)
    except services.CaseError as exc:
        _error(request, exc)
        return redirect("cases:index")
    if case is None:
        messages.info(request, "No unassigned case is waiting in this queue.")
        return redirect("cases:index")
    messages.success(request, f"You claimed {case.reference}.")
    return redirect("cases:detail", pk=case.pk)


@role_required(*APPROVE_ROLES)
@require_POST
def bulk(request):
    """Bulk close or assign: the first post shows what will happen, the second (confirmed)
    does it, all or nothing."""
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(request.POST.get("next") or "cases:index")
    data = form.cleaned_data
    versions = data["versions"]
    if not data["confirm"]:
        cases = list(case_list(user=request.user).filter(pk__in=versions).order_by("pk"))
        return render(
            request,
            "cases/bulk_confirm.html",
            {
                "form": form,
                "cases": cases,
                "versions": versions,
                "action": data["action"],
                "selected": [f"{pk}:{v}" for pk, v in versions.items()],
                "assignee": data.get("assignee"),
                "disposition_label": dict(Disposition.choices).get(data.get("disposition"), ""),
            },
        )
    try:
        if data["action"] == "close":
            result = services.case_bulk_close(
                versions=versions,
                actor_user=request.user,
                disposition=data["disposition"],
                rationale=data["rationale"],
            )
            messages.success(request, f"Closed {len(result.closed)} cases.")
        else:
            if data.get("assignee") is None:
                raise services.CaseError("Choose who gets the cases.", field="assignee")
            done = services.case_bulk_assign(
                versions=versions, actor_user=request.user, assignee=data["assignee"]
            )
            messages.success(request, f"Assigned {len(done)} cases to {data['assignee']}.")
    except services.CaseError as exc:
        _error(request, exc)
    return redirect("cases:index")


def _evidence_views(items, case: Case) -> list[dict]:
    """Each evidence item as the case page shows it: a screening match as the match card
    of the screening pages (what the logged query screened, next to the listed entry the
    match was made on), an alert as its rule, parameters and observed values."""
    views = [{"item": item, "kind": item.kind, "summary": dict(item.summary or {})}
             for item in items]
    alerts = [v for v in views if v["kind"] == EvidenceKind.ALERT]
    for view, trace in zip(alerts, alert_evidence([v["item"] for v in alerts]), strict=True):
        view["trace"] = trace
    matches = [v for v in views if v["kind"] == EvidenceKind.SCREENING_MATCH]
    if matches:
        cards = evidence_cards([v["summary"] for v in matches],
                               customer=case.customer if case.customer_id else None)
        for view, card in zip(matches, cards, strict=True):
            query_id = view["summary"].get("query_id")
            view["card"], view["query_id"] = card, query_id if isinstance(query_id, int) else None
    return views


def _actions(request, case: Case) -> dict:
    """Which controls the page offers; the services check again on submit."""
    user = request.user
    work, approve = can_write(user, WORK_ROLES), can_write(user, APPROVE_ROLES)
    mine = case.assignee_id == user.pk
    state = case.state
    return {
        "claim": work and state == CaseState.NEW and case.assignee_id is None,
        "start": work and mine and state == CaseState.ASSIGNED,
        "escalate": work and mine and state in (CaseState.ASSIGNED, CaseState.INVESTIGATING),
        "resolve": work and mine and state in (CaseState.INVESTIGATING, CaseState.ESCALATED),
        "approve": approve and state == CaseState.PENDING_APPROVAL,
        "reopen": approve and state == CaseState.CLOSED,
        "assign": approve and state not in (CaseState.CLOSED, CaseState.PENDING_APPROVAL),
        "match": work and mine and case.is_open,
        "comment": work and case.is_open,
        "sar": work and case.disposition == Disposition.TRUE_MATCH,
        "same_person": user.pk in {case.investigator_id, case.assignee_id},
    }


@role_required(*READ_ROLES)
@require_GET
def detail(request, pk: int):
    """The case page: triggering evidence first, then decisions, comments, attachments,
    SAR draft and the audit timeline."""
    case = case_get(user=request.user, pk=pk)
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "evidence": _evidence_views(case_evidence(case=case), case),
            "decisions": list(case.decisions.select_related("actor")),
            "comments": list(case.comments.select_related("author")),
            "attachments": list(case.attachments.select_related("uploaded_by")),
            "timeline": case_timeline(case=case),
            "other_open": customer_open_cases(customer=case.customer, exclude=case),
            "actions": _actions(request, case),
            "form": TransitionForm(initial={"expected_version": case.version}),
            "comment_form": CommentForm(),
            "attachment_form": AttachmentForm(),
            "sar": getattr(case, "sar", None),
            "now": timezone.now(),
            "dispositions": Disposition.choices,
            "assignees": assignable_users(),
        },
    )


@role_required(*READ_ROLES)
@require_GET
def customer_index(request):
    """The customer base: who list changes re-screen (active) and who not (offboarded),
    with each customer's open cases."""
    from cases.filtersets import CustomerFilterSet
    from cases.selectors import customer_list

    filterset = CustomerFilterSet(request.GET, queryset=customer_list())
    queryset = filterset.qs if filterset.is_valid() else customer_list().none()
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "cases/customer_list.html", {
        "filterset": filterset, "page": page, "params": params.urlencode(),
    })


@role_required(*READ_ROLES)
@require_GET
def customer(request, external_id: str):
    """Everything Vigil holds about one customer: cases, screening queries and reviewed
    false positives, monitoring alerts and loan applications."""
    found = customer_by_external_id(external_id)
    if found is None:
        raise Http404("No such customer")
    alerts, alert_count = customer_alerts(user=request.user, external_id=found.external_id)
    return render(request, "cases/customer.html", {
        "customer": found,
        "cases": customer_cases(customer=found),
        "screening": customer_screening(user=request.user, customer=found),
        "alerts": alerts,
        "alert_count": alert_count,
        "applications": customer_applications(user=request.user, customer=found),
        "can_offboard": can_write(request.user, WORK_ROLES),
    })


@role_required(*WORK_ROLES, write=True)
@require_POST
def customer_state(request, external_id: str, verb: str):
    """Offboard a customer (list changes stop re-screening them) or reinstate one, with a
    reason; refusals are shown as messages on the customer page."""
    from cases.customers import CustomerInputError, customer_offboard, customer_reinstate

    found = customer_by_external_id(external_id)
    if found is None or verb not in ("offboard", "reinstate"):
        raise Http404("No such customer")
    service = customer_offboard if verb == "offboard" else customer_reinstate
    try:
        service(customer=found, reason=request.POST.get("reason", ""))
    except CustomerInputError as exc:
        messages.error(request, "Nothing changed: give a reason (at most 500 characters)."
                       if exc.field == "reason" else f"Nothing changed: {exc.problem}.")
    else:
        messages.success(request, f"{found.external_id} offboarded: list changes no longer "
                                  "re-screen them." if verb == "offboard" else
                                  f"{found.external_id} reinstated: list changes re-screen "
                                  "them again.")
    return redirect("cases:customer", external_id=found.external_id)


@role_required(*WORK_ROLES)
@require_POST
def transition(request, pk: int, verb: str):
    """Run one workflow transition; refusals (stale version, four-eyes, wrong state) are
    shown as messages on the case page."""
    if verb not in TRANSITIONS:
        raise Http404("Unknown transition")
    case = case_get(user=request.user, pk=pk)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("cases:detail", pk=pk)
    data = form.cleaned_data
    common = {
        "case": case,
        "actor_user": request.user,
        "expected_version": data["expected_version"],
    }
    try:
        if verb == "claim":
            services.case_claim(**common)
        elif verb == "start":
            services.case_start(**common)
        elif verb == "escalate":
            services.case_escalate(**common, reason=data["reason"])
        elif verb == "resolve":
            services.case_resolve(
                **common,
                disposition=data["disposition"],
                rationale=data["rationale"],
                suspect_identified=data["suspect_identified"],
            )
        elif verb == "approve":
            services.case_approve(**common, rationale=data["rationale"])
        elif verb == "reject":
            services.case_reject(**common, reason=data["reason"])
        elif verb == "reopen":
            services.case_reopen(**common, reason=data["reason"])
        elif verb == "assign":
            if data["assignee"] is None:
                raise services.CaseError("Choose who gets the case.", field="assignee")
            services.case_assign(**common, assignee=data["assignee"])
    except services.CaseError as exc:
        _error(request, exc)
    else:
        case.refresh_from_db(fields=["state"])
        messages.success(
            request, f"{case.reference}: {verb} done — now {case.get_state_display().lower()}."
        )
    return redirect("cases:detail", pk=pk)


@role_required(*WORK_ROLES)
@require_POST
def comment(request, pk: int):
    case = case_get(user=request.user, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.case_comment_add(
                case=case, actor_user=request.user, body=form.cleaned_data["body"]
            )
            messages.success(request, "Comment added.")
        except services.CaseError as exc:
            _error(request, exc)
    else:
        messages.error(request, "A comment cannot be empty.")
    return redirect(reverse("cases:detail", args=[pk]) + "#comments")


@role_required(*WORK_ROLES)
@require_POST
def attachment_upload(request, pk: int):
    case = case_get(user=request.user, pk=pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to attach.")
        return redirect("cases:detail", pk=pk)
    upload = form.cleaned_data["file"]
    if upload.size > services.ATTACHMENT_MAX_BYTES:
        messages.error(request, "The file is larger than 10 MB.")
        return redirect("cases:detail", pk=pk)
    try:
        attachment = services.case_attachment_add(
            case=case, actor_user=request.user, filename=upload.name, content=upload.read()
        )
        messages.success(
            request, f"Attached {attachment.filename} (SHA-256 {attachment.sha256[:12]}…)."
        )
    except services.CaseError as exc:
        _error(request, exc)
    return redirect(reverse("cases:detail", args=[pk]) + "#attachments")


@role_required(*READ_ROLES)
@require_GET
def attachment_download(request, pk: int, attachment_id: int):
    case = case_get(user=request.user, pk=pk)
    attachment = case.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404("No such attachment")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-SHA256"] = attachment.sha256
    return response


@role_required(*WORK_ROLES)
@require_POST
def match_resolve(request, pk: int, evidence_id: int):
    case = case_get(user=request.user, pk=pk)
    evidence = case.evidence.filter(pk=evidence_id).first()
    if evidence is None:
        raise Http404("No such evidence")
    form = MatchResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a resolution and explain it.")
        return redirect("cases:detail", pk=pk)
    try:
        services.case_match_resolve(evidence=evidence, actor_user=request.user, **form.cleaned_data)
        messages.success(request, "Match resolved.")
    except services.CaseError as exc:
        _error(request, exc)
    return redirect("cases:detail", pk=pk)


@role_required(*READ_ROLES)
def sar(request, pk: int):
    """The SAR draft: editable by those who work cases, read-only for everyone else."""
    case = case_get(user=request.user, pk=pk)
    draft = getattr(case, "sar", None)
    editable = can_write(request.user, WORK_ROLES) and case.disposition == Disposition.TRUE_MATCH
    if request.method == "POST":
        form = SarForm(request.POST)
        if form.is_valid():
            try:
                services.case_sar_save(case=case, actor_user=request.user, **form.cleaned_data)
                messages.success(request, "SAR draft saved.")
                return redirect("cases:sar", pk=pk)
            except services.CaseError as exc:
                _error(request, exc)
    else:
        initial = (
            {f: getattr(draft, f) for f in services.SAR_FIELDS}
            if draft
            else {
                "subject_name": case.customer.name if case.customer_id else case.title,
                "subject_id": case.customer.external_id if case.customer_id else "",
                "currency": "USD",
            }
        )
        form = SarForm(initial=initial)
    document = errors = None
    if draft is not None:
        from cases import sar as sar_module

        document = sar_module.sar_document(draft)
        errors = sar_module.sar_validate(document)
    return render(
        request,
        "cases/sar.html",
        {"case": case, "form": form, "draft": draft, "editable": editable, "errors": errors},
    )


@role_required(*WORK_ROLES)
@require_POST
def sar_export(request, pk: int, fmt: str):
    case = case_get(user=request.user, pk=pk)
    try:
        content, content_type, filename = services.case_sar_export(
            case=case, actor_user=request.user, fmt=fmt
        )
    except services.CaseError as exc:
        _error(request, exc)
        return redirect("cases:sar", pk=pk)
    response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*READ_ROLES)
@require_GET
def dashboard(request):
    """Cases by state and queue, ageing, SLA breaches, alerts per rule per day, screening
    outcome rates; charts drawn on the server as SVG."""
    stats = dashboard_stats()
    labels = [d.strftime("%d %b") for d in stats["alert_days"]]
    return render(
        request,
        "cases/dashboard.html",
        {
            "stats": stats,
            "chart_state": charts.bar_chart(stats["by_state"], title="Cases by state"),
            "chart_queue": charts.bar_chart(stats["by_queue"], title="Open cases by queue"),
            "chart_ageing": charts.bar_chart(stats["ageing"], title="Age of open cases"),
            "chart_alerts": charts.stacked_columns(
                stats["alerts_per_rule"],
                labels=labels,
                title="Alerts per rule per day (last 14 days)",
            ),
        },
    )
