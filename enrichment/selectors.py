"""Reads used by the portal and the API, scoped to what the actor may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from audit.object_types import object_type_names
from audit.selectors import entries_with_pending
from config.accounts.roles import READ_ROLES, Role, has_role
from enrichment.choices import ACTIVE_RUN_STATUSES, StepStatus
from enrichment.document import document_diff
from enrichment.models import (
    DataPatch,
    EnrichmentDocument,
    EnrichmentRun,
    LoanApplication,
    ProviderCall,
    ProviderStep,
)
from enrichment.store import RUN_OBJECT_TYPE

#: who may read loan applications and their enrichment (integration clients included)
APPLICATION_READ_ROLES = READ_ROLES | {Role.INTEGRATION}


def _may_read(user) -> bool:
    return has_role(user, *APPLICATION_READ_ROLES)


def customer_applications(*, user, customer) -> list[LoanApplication]:
    """The loan applications of a customer, newest first."""
    return list(application_list(user=user).filter(customer=customer))


def application_list(*, user) -> QuerySet[LoanApplication]:
    """Applications the user may see (all of them for any reading role)."""
    if not _may_read(user):
        return LoanApplication.objects.none()
    return LoanApplication.objects.annotate(run_count=Count("runs")).order_by("-created_at",
                                                                               "-id")


def application_get(*, user, pk: int) -> LoanApplication:
    """One application with its principals; 404 when missing or not visible."""
    try:
        return (application_list(user=user).prefetch_related("principals")
                .select_related("customer").get(pk=pk))
    except LoanApplication.DoesNotExist:
        raise Http404("No such loan application") from None


def run_get(*, user, pk: int) -> EnrichmentRun:
    if not _may_read(user):
        raise Http404("No such enrichment run")
    try:
        return EnrichmentRun.objects.select_related("application").get(pk=pk)
    except EnrichmentRun.DoesNotExist:
        raise Http404("No such enrichment run") from None


def run_list_for_application(*, application: LoanApplication) -> QuerySet[EnrichmentRun]:
    return application.runs.annotate(call_count=Count("calls", distinct=True),
                                     patch_count=Count("patches", distinct=True))


def run_timeline(*, run: EnrichmentRun) -> list[dict[str, Any]]:
    """Calls (with retries), patches and run events in time order, for the portal."""
    events: list[dict[str, Any]] = [
        {"at": run.created_at, "kind": "run", "label": "run requested",
         "detail": run.requested_by},
    ]
    if run.started_at:
        events.append({"at": run.started_at, "kind": "run",
                       "label": f"attempt {run.attempts} started", "detail": run.task_id})
    for call in ProviderCall.objects.filter(run=run).order_by("started_at", "id"):
        events.append({"at": call.started_at, "kind": "call", "call": call,
                       "label": f"{call.provider} {call.operation}", "detail": call.url})
    for patch in DataPatch.objects.filter(run=run):
        events.append({"at": patch.applied_at, "kind": "patch", "patch": patch,
                       "label": f"patched {patch.field}", "detail": ""})
    if run.finished_at:
        events.append({"at": run.finished_at, "kind": "run", "label": f"run {run.status}",
                       "detail": (run.error or {}).get("message", "")})
    events.sort(key=lambda e: e["at"])
    return events


def unknown_outcome_steps(*, application: LoanApplication | None = None,
                          run: EnrichmentRun | None = None) -> list[ProviderStep]:
    """Billable requests whose outcome nobody knows (sent, no answer) of finished runs:
    they block the request until a human releases them after asking the provider."""
    steps = ProviderStep.objects.filter(status__in=[StepStatus.UNKNOWN, StepStatus.SENT]
                                        ).exclude(run__status__in=ACTIVE_RUN_STATUSES)
    if application is not None:
        steps = steps.filter(run__application=application)
    if run is not None:
        steps = steps.filter(run=run)
    return list(steps.select_related("run").order_by("id"))


def run_ledger_count(*, run: EnrichmentRun) -> int:
    """The run's ledger entries, counting those background sealing has not chained yet."""
    return len(entries_with_pending(Q(object_type__in=object_type_names(RUN_OBJECT_TYPE),
                                             object_id=str(run.pk))))


def application_documents(*, application: LoanApplication, limit: int | None = None
                          ) -> list[EnrichmentDocument]:
    """The application's documents, newest first (the newest `limit` of them)."""
    qs = (EnrichmentDocument.objects.filter(application=application)
          .select_related("run").order_by("-created_at", "-id"))
    return list(qs[:limit] if limit else qs)


def document_diff_latest(*, application: LoanApplication,
                         documents: list[EnrichmentDocument] | None = None
                         ) -> list[dict[str, Any]]:
    """What the latest document changed compared with the one before it (`documents`:
    the application's newest first, if the caller has them already)."""
    if documents is None:
        documents = application_documents(application=application, limit=2)
    documents = documents[:2]
    if not documents:
        return []
    previous = documents[1].document if len(documents) > 1 else None
    return document_diff(previous, documents[0].document)
