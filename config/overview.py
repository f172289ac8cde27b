"""What the home page shows a signed-in user: their work, the lists screening uses and the
state of the audit trail. Reads only; a handful of indexed counts whatever the volume."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone


def home_overview(*, user) -> dict:
    from audit.models import Digest, VerificationRun
    from cases.choices import OPEN_STATES, CaseState
    from cases.models import Case
    from monitoring.models import Alert
    from screening.lists.models import ListVersion
    from screening.models import BatchRun

    now = timezone.now()
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    late = Q(due_at__lt=now)
    counts = open_cases.aggregate(
        my_open=Count("pk", filter=Q(assignee=user)),
        my_overdue=Count("pk", filter=Q(assignee=user) & late),
        pending_approval=Count("pk", filter=Q(state=CaseState.PENDING_APPROVAL)),
        overdue=Count("pk", filter=late))
    unassigned = dict(open_cases.filter(assignee__isnull=True).values_list("source")
                      .annotate(n=Count("pk")).order_by())
    return {
        **counts,
        "unassigned": sorted(unassigned.items()),
        "unassigned_total": sum(unassigned.values()),
        "alerts_24h": Alert.objects.filter(created_at__gte=now - timedelta(days=1)).count(),
        "lists": list(ListVersion.objects.filter(is_active=True).select_related("source")
                      .order_by("source__code")),
        "batches": list(BatchRun.objects.order_by("-created_at", "-pk")[:3]),
        "verification": VerificationRun.objects.order_by("-created_at", "-pk").first(),
        "digest": Digest.objects.defer("document").order_by("-period_end", "-pk").first(),
    }
