"""Portal pages: application list, form, application page with enrichment timeline and
document diff, run page, and the enrich button."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cases.selectors import case_pk_for_reference
from config.accounts.roles import READ_ROLES, WORK_ROLES, can_write, role_required
from enrichment import selectors, services
from enrichment.api.serializers import ApplicationInputSerializer
from enrichment.choices import ACTIVE_RUN_STATUSES
from enrichment.filtersets import LoanApplicationFilterSet
from enrichment.forms import (
    ApplicationForm,
    PrincipalFormSet,
    UnknownOutcomeReleaseForm,
    payload_from_post,
)
from enrichment.models import EnrichmentDocument
from enrichment.presentation import document_sections


@role_required(*READ_ROLES)
def index(request):
    filterset = LoanApplicationFilterSet(
        request.GET, queryset=selectors.application_list(user=request.user))
    page = Paginator(filterset.qs, 25).get_page(request.GET.get("page"))
    return render(request, "enrichment/index.html", {
        "filterset": filterset, "page": page,
        "can_write": can_write(request.user, WORK_ROLES),
    })


@role_required(*WORK_ROLES, write=True)
def application_new(request):
    errors: dict = {}
    if request.method == "POST":
        form = ApplicationForm(request.POST)
        formset = PrincipalFormSet(request.POST)
        serializer = ApplicationInputSerializer(data=payload_from_post(request.POST))
        if serializer.is_valid():
            data = dict(serializer.validated_data)
            principals = [dict(p) for p in data.pop("principals")]
            application = services.application_create(data=data, principals=principals,
                                                       created_by=request.user)
            messages.success(request, f"Application {application.reference} registered.")
            return redirect("enrichment:application_detail", pk=application.pk)
        errors = serializer.errors
        messages.error(request, "The application was not saved: please correct the "
                                "fields marked below.")
    else:
        form = ApplicationForm()
        formset = PrincipalFormSet()
    principal_errors = errors.get("principals") if isinstance(errors, dict) else None
    return render(request, "enrichment/application_form.html", {
        "form": form, "formset": formset, "errors": errors,
        "principal_errors": principal_errors if isinstance(principal_errors, list) else [],
        "principal_message": principal_errors if isinstance(principal_errors, dict) else None,
    }, status=400 if errors else 200)


@role_required(*READ_ROLES)
def application_detail(request, pk: int):
    application = selectors.application_get(user=request.user, pk=pk)
    return _application_page(request, application)


def _application_page(request, application, *, release_form=None, release_run_id=None,
                      status: int = 200):
    runs = list(selectors.run_list_for_application(application=application))
    # the two newest are all the page shows (the latest and what it changed)
    documents = selectors.application_documents(application=application, limit=2)
    latest = documents[0] if documents else None
    return render(request, "enrichment/application_detail.html", {
        "application": application, "runs": runs,
        "active": any(r.status in ACTIVE_RUN_STATUSES for r in runs),
        "document": latest,
        "document_sections": document_sections(latest.document) if latest else [],
        "document_json": json.dumps(latest.document, indent=2, ensure_ascii=False)
        if latest else "",
        "diff": selectors.document_diff_latest(application=application, documents=documents),
        "has_previous": len(documents) > 1,
        "can_write": can_write(request.user, WORK_ROLES),
        **_unknown_outcome_context(request, selectors.unknown_outcome_steps(
            application=application), release_form, release_run_id),
    }, status=status)


def _unknown_outcome_context(request, steps, release_form, release_run_id) -> dict:
    """Steps of unknown outcome, and the release form for those who may write."""
    may_release = can_write(request.user, WORK_ROLES)
    return {
        "unknown_steps": steps,
        "can_release": may_release,
        "release_form": (release_form or UnknownOutcomeReleaseForm()) if may_release else None,
        "release_run_id": release_run_id,
    }


@role_required(*READ_ROLES)
def application_runs_partial(request, pk: int):
    """htmx: the run table, polled while a run is active."""
    application = selectors.application_get(user=request.user, pk=pk)
    runs = list(selectors.run_list_for_application(application=application))
    return render(request, "enrichment/partials/runs.html", {
        "application": application, "runs": runs,
        "active": any(r.status in ACTIVE_RUN_STATUSES for r in runs),
    })


@require_POST
@role_required(*WORK_ROLES, write=True)
def application_enrich(request, pk: int):
    application = selectors.application_get(user=request.user, pk=pk)
    run, created = services.enrichment_run_request(
        application=application, requested_by=request.user.get_username(),
        idempotency_key=request.POST.get("idempotency_key") or None)
    if created:
        messages.success(request, f"Enrichment run {run.pk} started.")
    else:
        messages.info(request, f"Enrichment run {run.pk} is already in progress.")
    return redirect("enrichment:application_detail", pk=application.pk)


@require_POST
@role_required(*WORK_ROLES, write=True)
def run_release_unknown(request, pk: int):
    """After checking with the provider, release a billable request of unknown outcome
    (optionally starting a new run); the reason goes on the audit trail."""
    run = selectors.run_get(user=request.user, pk=pk)
    form = UnknownOutcomeReleaseForm(request.POST)
    if form.is_valid():
        retry = form.cleaned_data["action"] == UnknownOutcomeReleaseForm.RETRY
        try:
            result = services.enrichment_unknown_outcome_release(
                run_id=run.pk, note=form.cleaned_data["reason"], retry=retry,
                requested_by=request.user.get_username())
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            text = f"Released {result.released} request(s) of run {run.pk}."
            if result.run is not None:
                text += f" Enrichment run {result.run.pk} started."
            messages.success(request, text)
        return redirect(reverse("enrichment:application_detail", args=[run.application_id])
                        + "#unknown-outcome")
    messages.error(request, "Nothing was released: please correct the fields marked below.")
    return _application_page(request, run.application, release_form=form,
                             release_run_id=run.pk, status=400)


@role_required(*READ_ROLES)
def run_detail(request, pk: int):
    run = selectors.run_get(user=request.user, pk=pk)
    document = EnrichmentDocument.objects.filter(run=run).first()
    return render(request, "enrichment/run_detail.html", {
        **_unknown_outcome_context(request, selectors.unknown_outcome_steps(run=run), None,
                                   None),
        "run": run, "application": run.application,
        "timeline": selectors.run_timeline(run=run),
        "error_json": json.dumps(run.error, indent=2) if run.error else "",
        "document_sections": document_sections(document.document) if document else [],
        "document_json": json.dumps(document.document, indent=2, ensure_ascii=False)
        if document else "",
        "ledger_count": selectors.run_ledger_count(run=run),
        "case_pk": case_pk_for_reference(run.case_reference or ""),
    })
