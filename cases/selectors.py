"""Reads behind the case pages and API, scoped to what the user may see."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth.models import User
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from audit.selectors import entries_with_pending
from cases import deadlines
from cases.choices import (
    OPEN_STATES,
    CaseSource,
    CaseState,
    Disposition,
    EvidenceKind,
    MatchResolution,
)
from cases.models import Case, CaseEvidence, Customer
from config.accounts.roles import READ_ROLES, Role, user_roles

CASE_READ_ROLES = READ_ROLES | {Role.INTEGRATION}


def case_list(*, user) -> QuerySet[Case]:
    """Cases the user may see: every case for portal roles and integration clients, none
    for anyone else. Related rows the list shows are joined, so the query count does not
    grow with the page size."""
    if not (user_roles(user) & CASE_READ_ROLES):
        return Case.objects.none()
    return Case.objects.select_related("customer", "assignee")


def case_inbox(*, user) -> QuerySet[Case]:
    """`case_list` without the long text columns no list row shows."""
    return case_list(user=user).defer("search_text", "summary", "rationale", "dedupe_key")


def case_get(*, user, pk: int) -> Case:
    """One visible case, or 404 (cases the user may not see do not exist for them)."""
    case = case_list(user=user).select_related("investigator", "decided_by").filter(pk=pk).first()
    if case is None:
        raise Http404("No such case")
    return case


def case_evidence(*, case: Case) -> list[CaseEvidence]:
    """The evidence that triggered the case, in arrival order."""
    return list(case.evidence.select_related("resolved_by").order_by("added_at", "pk"))


# Fields that change on every save and say nothing to a reader of the timeline.
_NOISE = {"version", "updated_at", "search_text", "id", "case_id", "history_id"}
_USER_FIELDS = {
    "assignee_id",
    "investigator_id",
    "decided_by_id",
    "resolved_by_id",
    "author_id",
    "uploaded_by_id",
    "actor_id",
}
_LABELS = {
    "cases.case": "Case",
    "cases.caseevidence": "Evidence",
    "cases.casecomment": "Comment",
    "cases.caseattachment": "Attachment",
    "cases.casedecision": "Decision",
    "cases.sardraft": "SAR draft",
}


_ISO_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})[\d:.]*(Z|[+-]\d{2}:?\d{2})?$")


def _readable(value) -> str:
    """Ledger values as a reader wants them: timestamps to the minute, JSON compact."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = "" if value is None else str(value)
    match = _ISO_TS.match(text)
    return f"{match.group(1)} {match.group(2)}" if match else text


def case_timeline(*, case: Case, limit: int = 300) -> list[dict]:
    """Everything that happened to the case and its evidence, comments, attachments,
    decisions and SAR draft, read back from the audit ledger (newest first)."""
    related = {
        "cases.caseevidence": list(case.evidence.values_list("pk", flat=True)),
        "cases.casecomment": list(case.comments.values_list("pk", flat=True)),
        "cases.caseattachment": list(case.attachments.values_list("pk", flat=True)),
        "cases.casedecision": list(case.decisions.values_list("pk", flat=True)),
        "cases.sardraft": [case.sar.pk] if hasattr(case, "sar") else [],
    }
    where = Q(object_type="cases.case", object_id=str(case.pk))
    for object_type, pks in related.items():
        if pks:
            where |= Q(object_type=object_type, object_id__in=[str(p) for p in pks])
    # Entries not chained yet too: an analyst sees their own action after the redirect.
    entries = entries_with_pending(
        where, fields=("ts", "actor_label", "action", "object_type", "object_id", "body"),
        limit=limit * 2)
    user_ids: set[int] = set()
    decoded = []
    for entry in entries:
        try:
            data = json.loads(bytes(entry.body)) if entry.body is not None else {}
        except ValueError:
            data = {}
        state = data.get("state") if isinstance(data.get("state"), dict) else None
        if state:
            user_ids.update(v for k, v in state.items() if k in _USER_FIELDS and v)
        decoded.append((entry, data, state))
    names = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
    last: dict[tuple[str, str], dict] = {}
    items = []
    for entry, data, state in decoded:
        key = (entry.object_type, entry.object_id)
        changes = []
        if state is not None:
            before = last.get(key, {})
            for field, value in state.items():
                if (
                    field in _NOISE
                    or field.endswith("_at")
                    and field not in ("closed_at", "due_at", "review_due_at")
                ):
                    continue
                if field in before and before[field] == value:
                    continue
                if entry.action == "create" and value in ("", None, [], {}):
                    continue
                if field in _USER_FIELDS:
                    value = names.get(value, value) if value else "—"
                    shown_before = before.get(field)
                    shown_before = names.get(shown_before, shown_before) if shown_before else "—"
                else:
                    shown_before = before.get(field, "")
                text = _readable(value)
                changes.append(
                    {
                        "field": field.removesuffix("_id"),
                        "before": "" if entry.action == "create" else _readable(shown_before),
                        "after": text[:300],
                    }
                )
            last[key] = state
        elif data:
            changes = [
                {"field": k, "before": "", "after": str(v)[:300] if v not in ("", None) else "—"}
                for k, v in data.items()
                if k not in ("reference", "decision_id")
            ]
        items.append(
            {
                "seq": getattr(entry, "seq", None),  # None: pending, not yet chained
                "ts": entry.ts,
                "actor": entry.actor_label,
                "action": entry.action,
                "object": _LABELS.get(entry.object_type, entry.object_type),
                "reason": data.get("reason", "") if state is not None else "",
                "changes": changes,
            }
        )
    items.reverse()
    return items[:limit]


def queue_counts() -> dict:
    """Open cases per queue (source) and per state, for the inbox tabs."""
    # COUNT(*) over (state, source) is answered from the index alone.
    rows = (
        Case.objects.filter(state__in=OPEN_STATES)
        .values("source")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {row["source"]: row["n"] for row in rows}


def dashboard_stats(*, now=None, days: int = 14) -> dict:
    """The figures behind the dashboard: cases by state and queue, ageing of open cases,
    SLA (SAR deadline) breaches, alerts per rule per day and screening outcome rates."""
    now = now or timezone.now()
    by_state = dict(Case.objects.values_list("state").annotate(n=Count("*")).order_by())
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    by_queue = dict(open_cases.values_list("source").annotate(n=Count("*")).order_by())
    ageing = {}
    for key, _label, _low, _high in deadlines.AGE_BUCKETS:
        after, before = deadlines.age_bucket_bounds(key, now=now)
        condition = Q(opened_at__lte=before) & (Q(opened_at__gt=after) if after else Q())
        ageing[key] = Count("pk", filter=condition)
    ageing_counts = open_cases.aggregate(**ageing)
    overdue = open_cases.filter(due_at__lt=now)
    breaches = overdue.count()
    due_soon = open_cases.filter(due_at__gte=now, due_at__lt=now + timedelta(days=7)).count()
    since = (now - timedelta(days=days - 1)).date()
    since_start = datetime.combine(since, time.min, tzinfo=UTC)
    per_rule: dict[str, dict] = defaultdict(dict)
    rows = (
        CaseEvidence.objects.filter(kind=EvidenceKind.ALERT, added_at__gte=since_start)
        .annotate(day=TruncDate("added_at"))
        .values_list("summary__rule_code", "summary__rule", "day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for code, rule, day, n in rows:
        # Evidence recorded before alerts carried `rule_code` names it as "T1 v2".
        key = str(code or (str(rule).split(" v")[0] if rule else "") or "?")
        per_rule[key][day] = per_rule[key].get(day, 0) + n
    day_list = [since + timedelta(days=i) for i in range(days)]
    decided = dict(
        Case.objects.filter(source=CaseSource.SCREENING, state=CaseState.CLOSED)
        .values_list("disposition")
        .annotate(n=Count("pk"))
        .order_by()
    )
    decided_total = sum(decided.values())
    matches = dict(
        CaseEvidence.objects.filter(kind=EvidenceKind.SCREENING_MATCH)
        .values_list("resolution")
        .annotate(n=Count("pk"))
        .order_by()
    )
    resolved = matches.get(MatchResolution.FALSE_POSITIVE, 0) + matches.get(
        MatchResolution.TRUE_MATCH, 0
    )

    def rate(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    return {
        "by_state": [(CaseState(s).label, by_state.get(s, 0)) for s in CaseState.values],
        "by_queue": [(CaseSource(s).label, by_queue.get(s, 0)) for s in CaseSource.values],
        "ageing": [
            (label, ageing_counts[key] or 0) for key, label, _l, _h in deadlines.AGE_BUCKETS
        ],
        "breaches": breaches,
        "due_soon": due_soon,
        "overdue_cases": list(
            overdue.select_related("customer", "assignee").order_by("due_at")[:10]
        ),
        "alert_days": day_list,
        "alerts_per_rule": {
            rule: [per_day.get(d, 0) for d in day_list]
            for rule, per_day in sorted(per_rule.items())
        },
        "screening_decided": decided_total,
        "screening_hit_rate": rate(decided.get(Disposition.TRUE_MATCH, 0), decided_total),
        "screening_fp_rate": rate(decided.get(Disposition.FALSE_POSITIVE, 0), decided_total),
        "matches_total": sum(matches.values()),
        "matches_resolved": resolved,
        "match_fp_rate": rate(matches.get(MatchResolution.FALSE_POSITIVE, 0), resolved),
    }


def assignable_users() -> QuerySet[User]:
    """People an approver may hand a case to (those who can work cases)."""
    return (
        User.objects.filter(
            is_active=True, groups__name__in=[Role.ANALYST, Role.APPROVER, Role.ADMIN]
        )
        .exclude(groups__name=Role.AUDITOR)
        .distinct()
        .order_by("username")
    )


def customer_cases(*, customer: Customer) -> list[Case]:
    """Every case about the customer, open ones first, then newest first."""
    return list(
        Case.objects.filter(customer=customer)
        .select_related("assignee")
        .order_by(F("closed_at").asc(nulls_first=True), "-opened_at", "-pk")
    )


def case_pk_for_reference(reference: str) -> int | None:
    """The id of the case with this reference (C-000034), None when there is none."""
    if not reference:
        return None
    return Case.objects.filter(reference=reference).values_list("pk", flat=True).first()


def customer_names(external_ids) -> dict[str, str]:
    """The stored customers' names by the bank's own ids (ids not stored are left out)."""
    ids = {str(i) for i in external_ids if i}
    return dict(Customer.objects.filter(external_id__in=ids).values_list("external_id", "name"))


def customer_open_cases(*, customer: Customer | None, exclude: Case | None = None
                        ) -> list[Case]:
    """The customer's open cases, newest first (less `exclude`, the case being read)."""
    if customer is None:
        return []
    cases = (Case.objects.filter(customer=customer).exclude(state=CaseState.CLOSED)
             .select_related("assignee").order_by("-opened_at", "-pk"))
    return list(cases.exclude(pk=exclude.pk) if exclude is not None else cases)


def customers_rescreened() -> QuerySet[Customer]:
    """The customers list changes re-screen: every stored customer not offboarded."""
    return Customer.objects.filter(offboarded_at__isnull=True)


def customer_list() -> QuerySet[Customer]:
    """The customer base, each with the number of their open cases, by name."""
    return Customer.objects.annotate(
        open_cases=Count("cases", filter=Q(cases__state__in=OPEN_STATES), distinct=True)
    ).order_by("name", "pk")


def customer_by_external_id(external_id: str) -> Customer | None:
    """The stored customer with this id of the bank's own, if any."""
    return Customer.objects.filter(external_id=str(external_id)).first()
