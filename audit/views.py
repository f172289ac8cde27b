"""Auditor portal: read-only pages over the ledger, histories, digests and verification
runs. The one POST, "Verify now", starts a verification run: auditors may, because it
changes no business data and its outcome is sealed in the ledger."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.digests import DigestError, covering_digest, digest_envelope_bytes, inclusion_proof
from audit.evidence import EvidenceError, evidence_bundle_export, resolve_object_type
from audit.filtersets import LedgerEntryFilterSet
from audit.models import Digest, LedgerEntry, VerificationMode, VerificationRun
from audit.object_types import canonical_object_type, object_kind
from audit.selectors import (
    AUDIT_ROLES,
    digest_list,
    entry_body,
    ledger_entry_list,
    object_history,
    verification_run_list,
)
from audit.verification import verification_run_request
from config.accounts.roles import has_role, role_required


def audit_roles_may_post(view):
    """Like role_required(AUDIT_ROLES) but lets the audit roles (auditors included) POST:
    only for actions that change no business data."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not has_role(request.user, *AUDIT_ROLES):
            raise PermissionDenied("Your role does not give access to this page.")
        return view(request, *args, **kwargs)

    wrapped.vigil_roles = AUDIT_ROLES
    wrapped.vigil_write = False
    return wrapped


@require_GET
@role_required(*AUDIT_ROLES)
def index(request):
    """Browse and filter the ledger."""
    filterset = LedgerEntryFilterSet(request.GET or None, queryset=ledger_entry_list())
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else (
        ledger_entry_list() if not filterset.is_bound else LedgerEntry.objects.none())
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/index.html", {
        "filterset": filterset, "page": page, "query": query.urlencode(),
        "latest_run": verification_run_list().first(),
        "latest_digest": digest_list().first(),
    })


@require_GET
@role_required(*AUDIT_ROLES)
def entry_detail(request, seq: int):
    entry = get_object_or_404(LedgerEntry, seq=seq)
    digest = covering_digest(entry.seq)
    proof = None
    if digest is not None:
        try:
            proof = inclusion_proof(entry, digest)
        except DigestError as exc:
            messages.error(request, str(exc))
    return render(request, "audit/entry_detail.html", {
        "entry": entry, "header": bytes(entry.header).decode("utf-8"),
        "data": entry_body(entry), "digest": digest, "proof": proof,
    })


@require_GET
@role_required(*AUDIT_ROLES)
def object_detail(request, object_type: str, object_id: str):
    object_type = canonical_object_type(object_type)  # a former name shows the same page
    steps = object_history(object_type=object_type, object_id=object_id)
    if not steps:
        raise Http404("No ledger entries about this object.")
    return render(request, "audit/object_history.html", {
        "object_type": object_type, "object_id": object_id, "steps": steps,
        "kind": object_kind(object_type),
    })


@require_GET
@role_required(*AUDIT_ROLES)
def digests(request):
    page = Paginator(digest_list(), 50).get_page(request.GET.get("page"))
    return render(request, "audit/digests.html", {"page": page})


@require_GET
@role_required(*AUDIT_ROLES)
def digest_download(request, pk: int):
    digest = get_object_or_404(Digest, pk=pk)
    response = HttpResponse(digest_envelope_bytes(digest), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{digest.file_name}"'
    return response


@require_GET
@role_required(*AUDIT_ROLES)
def verifications(request):
    page = Paginator(verification_run_list(), 25).get_page(request.GET.get("page"))
    return render(request, "audit/verifications.html", {"page": page})


@require_POST
@audit_roles_may_post
def verification_start(request):
    mode = request.POST.get("mode", VerificationMode.FULL)
    if mode not in VerificationMode.values:
        messages.error(request, f"Unknown verification mode {mode!r}.")
        return redirect("audit:verifications")
    run = verification_run_request(mode=mode)
    messages.success(request, f"Verification #{run.pk} started.")
    return redirect("audit:verification_detail", pk=run.pk)


@require_GET
@role_required(*AUDIT_ROLES)
def verification_detail(request, pk: int):
    run = get_object_or_404(VerificationRun, pk=pk)
    template = ("audit/partials/verification_status.html" if request.htmx
                else "audit/verification_detail.html")
    return render(request, template, {"run": run})


@require_GET
@role_required(*AUDIT_ROLES)
def evidence_download(request):
    """Evidence bundle for ?kind=case&id=7 or ?object_type=...&object_id=..."""
    try:
        if request.GET.get("kind"):
            object_type = resolve_object_type(request.GET["kind"])
            object_id = request.GET.get("id", "")
        else:
            object_type = resolve_object_type(request.GET.get("object_type", ""))
            object_id = request.GET.get("object_id", "")
        if not object_id:
            raise EvidenceError("name the object (id)")
        data, name = evidence_bundle_export(object_type=object_type, object_id=object_id)
    except (EvidenceError, DigestError) as exc:
        messages.error(request, f"Cannot export evidence: {exc}")
        return redirect("audit:index")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
