"""Reads of the monitoring app, scoped to what the caller may see.

Every read role (analyst, approver, auditor, admin) sees all monitoring data; integration
clients see alerts only. Anyone else sees nothing (their querysets are empty, so detail
lookups are 404)."""

from __future__ import annotations

from django.db.models import QuerySet

from cases.evidence_display import alert_trace
from config.accounts.roles import READ_ROLES, Role, has_role
from monitoring.models import Alert, Backtest, CtrReport, DeadLetter, Rule, RuleVersion

ALERT_READ_ROLES = READ_ROLES | {Role.INTEGRATION}


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts, newest first, with what list pages and the API show."""
    if not has_role(user, *ALERT_READ_ROLES):
        return Alert.objects.none()
    return Alert.objects.select_related("rule_version__rule", "transaction", "case")


def customer_alerts(*, user, external_id: str, limit: int = 20) -> tuple[list[Alert], int]:
    """A customer's latest alerts (by the bank's customer id the feed carries), and how
    many in all."""
    alerts = alert_list(user=user).filter(customer_id=external_id)
    return list(alerts.order_by("-created_at", "-pk")[:limit]), alerts.count()


def alert_evidence(items) -> list[dict]:
    """What a case page shows of each alert in its evidence (`CaseEvidence` rows of kind
    alert), in order: from the stored trace of the alert the evidence names, else from the
    evidence's own summary (older records). One query; the case page already decided who
    may read the case."""
    def alert_id(item) -> int | None:
        return int(item.object_id) if str(item.object_id).isdigit() else None

    ids = {i for i in map(alert_id, items) if i is not None}
    traces = dict(Alert.objects.filter(pk__in=ids).values_list("pk", "trace")) if ids else {}
    return [alert_trace(dict(item.summary or {}), traces.get(alert_id(item)), alert_id(item))
            for item in items]


def alert_get(*, user, alert_id: int) -> Alert:
    """One alert with its trace (raises Alert.DoesNotExist when not visible)."""
    return alert_list(user=user).get(pk=alert_id)


def rule_list(*, user) -> QuerySet[Rule]:
    if not has_role(user, *READ_ROLES):
        return Rule.objects.none()
    return Rule.objects.select_related("active_version").prefetch_related("versions")


def rule_version_list(*, user, rule: Rule) -> QuerySet[RuleVersion]:
    if not has_role(user, *READ_ROLES):
        return RuleVersion.objects.none()
    return rule.versions.select_related("created_by", "approved_by").order_by("-version")


def dead_letter_list(*, user) -> QuerySet[DeadLetter]:
    if not has_role(user, *READ_ROLES):
        return DeadLetter.objects.none()
    return DeadLetter.objects.all()


def ctr_report_list(*, user) -> QuerySet[CtrReport]:
    if not has_role(user, *READ_ROLES):
        return CtrReport.objects.none()
    return CtrReport.objects.select_related("rule_version__rule")


def backtest_list(*, user) -> QuerySet[Backtest]:
    if not has_role(user, *READ_ROLES):
        return Backtest.objects.none()
    return Backtest.objects.select_related("rule_version__rule", "requested_by")
