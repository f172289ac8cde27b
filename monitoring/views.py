"""Portal pages of the monitoring app (thin: parse, call a service/selector, render)."""

from __future__ import annotations

import json

import redis
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime

from cases.selectors import customer_names
from config.accounts.roles import APPROVE_ROLES, READ_ROLES, WORK_ROLES, role_required
from monitoring import selectors, services
from monitoring.choices import DeadLetterStatus, RuleVersionStatus
from monitoring.filtersets import AlertFilterSet, DeadLetterFilterSet
from monitoring.forms import BacktestForm, DeadLetterReplayForm, RuleVersionForm
from monitoring.models import Alert, DeadLetter, RuleVersion
from monitoring.rules.typologies import TYPOLOGIES


def _page(request, queryset, per_page: int = 50):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


@role_required(*READ_ROLES)
def index(request):
    return render(
        request,
        "monitoring/index.html",
        {
            "alert_count": selectors.alert_list(user=request.user).count(),
            "open_dead_letters": selectors.dead_letter_list(user=request.user)
            .filter(status=DeadLetterStatus.OPEN)
            .count(),
            "rules": selectors.rule_list(user=request.user),
            "ctr_pending": selectors.ctr_report_list(user=request.user)
            .filter(status="pending")
            .count(),
        },
    )


@role_required(*READ_ROLES)
def alert_list(request):
    filterset = AlertFilterSet(request.GET, queryset=selectors.alert_list(user=request.user))
    page = _page(request, filterset.qs)
    names = customer_names(alert.customer_id for alert in page)
    for alert in page:
        alert.customer_name = names.get(alert.customer_id, "")
    return render(request, "monitoring/alert_list.html", {"filter": filterset, "page": page})


@role_required(*READ_ROLES)
def alert_detail(request, alert_id: int):
    try:
        alert = selectors.alert_get(user=request.user, alert_id=alert_id)
    except Alert.DoesNotExist:
        raise Http404 from None
    alert.customer_name = customer_names([alert.customer_id]).get(alert.customer_id, "")
    window = alert.trace.get("window") if isinstance(alert.trace, dict) else None
    window = window if isinstance(window, dict) else {}  # ISO strings: the template's times
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            "alert": alert,
            "window": {k: parse_datetime(str(window.get(k) or "")) for k in ("start", "end")},
            "trace": alert.trace,
            "trace_json": json.dumps(alert.trace, indent=2, sort_keys=True),
        },
    )


@role_required(*READ_ROLES)
def rule_list(request):
    return render(
        request, "monitoring/rule_list.html", {"rules": selectors.rule_list(user=request.user)}
    )


@role_required(*READ_ROLES)
def rule_detail(request, rule_id: int):
    rule = selectors.rule_list(user=request.user).filter(pk=rule_id).first()
    if rule is None:
        raise Http404
    base = rule.active_version.params if rule.active_version else TYPOLOGIES[rule.typology].defaults
    form = RuleVersionForm(
        initial={
            "params": json.dumps(base, indent=2),
            "severity": rule.active_version.severity if rule.active_version else "medium",
        }
    )
    return render(
        request,
        "monitoring/rule_detail.html",
        {
            "rule": rule,
            "versions": selectors.rule_version_list(user=request.user, rule=rule),
            "form": form,
            "typology": TYPOLOGIES.get(rule.typology),
            "backtests": selectors.backtest_list(user=request.user).filter(rule_version__rule=rule)[
                :20
            ],
            "draft": RuleVersionStatus.DRAFT,
        },
    )


@role_required(*WORK_ROLES, write=True)
def rule_version_create(request, rule_id: int):
    rule = selectors.rule_list(user=request.user).filter(pk=rule_id).first()
    if rule is None or request.method != "POST":
        raise Http404
    form = RuleVersionForm(request.POST)
    if form.is_valid():
        try:
            version = services.rule_version_create(
                rule=rule,
                params=form.cleaned_data["params"],
                severity=form.cleaned_data["severity"],
                note=form.cleaned_data["note"],
                actor_user=request.user,
            )
            messages.success(
                request, f"Draft v{version.version} created; it needs approval by another user."
            )
        except services.RuleError as exc:
            messages.error(request, f"Not saved: {exc}")
    else:
        messages.error(
            request,
            "Not saved: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()),
        )
    return redirect("monitoring:rule-detail", rule_id=rule.pk)


def _version_or_404(version_id: int) -> RuleVersion:
    version = RuleVersion.objects.select_related("rule").filter(pk=version_id).first()
    if version is None:
        raise Http404
    return version


@role_required(*APPROVE_ROLES, write=True)
def rule_version_approve(request, version_id: int):
    version = _version_or_404(version_id)
    if request.method != "POST":
        raise Http404
    decision = request.POST.get("decision", "approve")
    try:
        if decision == "reject":
            services.rule_version_reject(version=version, actor_user=request.user)
            messages.success(request, f"v{version.version} rejected.")
        else:
            services.rule_version_approve(version=version, actor_user=request.user)
            messages.success(request, f"v{version.version} is now active.")
    except services.RuleError as exc:
        messages.error(request, str(exc))
    return redirect("monitoring:rule-detail", rule_id=version.rule_id)


@role_required(*WORK_ROLES, write=True)
def backtest_start(request, version_id: int):
    version = _version_or_404(version_id)
    if request.method != "POST":
        raise Http404
    form = BacktestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Invalid dates.")
        return redirect("monitoring:rule-detail", rule_id=version.rule_id)
    run = services.backtest_request(
        version=version,
        actor_user=request.user,
        since=form.cleaned_data["since"],
        until=form.cleaned_data["until"],
    )
    return redirect("monitoring:backtest-detail", backtest_id=run.pk)


@role_required(*READ_ROLES)
def backtest_detail(request, backtest_id: int):
    run = selectors.backtest_list(user=request.user).filter(pk=backtest_id).first()
    if run is None:
        raise Http404
    return render(request, "monitoring/backtest_detail.html", {"run": run})


@role_required(*READ_ROLES)
def dead_letter_list(request):
    filterset = DeadLetterFilterSet(
        request.GET or {"status": "open"}, queryset=selectors.dead_letter_list(user=request.user)
    )
    return render(
        request,
        "monitoring/dead_letter_list.html",
        {"filter": filterset, "page": _page(request, filterset.qs)},
    )


@role_required(*READ_ROLES)
def dead_letter_detail(request, letter_id: int):
    letter = selectors.dead_letter_list(user=request.user).filter(pk=letter_id).first()
    if letter is None:
        raise Http404
    if request.method == "POST":
        return _dead_letter_action(request, letter)
    return render(
        request,
        "monitoring/dead_letter_detail.html",
        {"letter": letter, "form": DeadLetterReplayForm(initial={"payload": letter.payload})},
    )


@role_required(*WORK_ROLES, write=True)
def _dead_letter_action(request, letter: DeadLetter):
    try:
        if request.POST.get("action") == "discard":
            services.dead_letter_discard(letter=letter, actor_user=request.user)
            messages.success(request, "Dead letter discarded.")
        else:
            form = DeadLetterReplayForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Payload is required (at most 16 KB).")
                return redirect("monitoring:dead-letter-detail", letter_id=letter.pk)
            if not settings.REDIS_URL:
                messages.error(request, "No Redis configured: cannot replay to the stream.")
                return redirect("monitoring:dead-letter-detail", letter_id=letter.pk)
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
            services.dead_letter_replay(
                letter=letter,
                actor_user=request.user,
                redis_client=client,
                payload=form.cleaned_data["payload"],
            )
            messages.success(request, "Replayed to the stream.")
    except services.RuleError as exc:
        messages.error(request, str(exc))
    except redis.RedisError as exc:
        messages.error(request, f"Redis error, nothing changed: {exc}")
    return redirect("monitoring:dead-letter-detail", letter_id=letter.pk)


@role_required(*READ_ROLES)
def ctr_list(request):
    return render(
        request,
        "monitoring/ctr_list.html",
        {"page": _page(request, selectors.ctr_report_list(user=request.user))},
    )


@role_required(*APPROVE_ROLES, write=True)
def rule_toggle(request, rule_id: int):
    """Switch a rule on or off (approvers only: it changes what is monitored)."""
    rule = selectors.rule_list(user=request.user).filter(pk=rule_id).first()
    if rule is None or request.method != "POST":
        raise Http404
    rule = services.rule_set_enabled(
        rule=rule, enabled=request.POST.get("enabled") == "1", actor_user=request.user
    )
    messages.success(request, f"{rule.code} is now {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("monitoring:rule-detail", rule_id=rule.pk)


@role_required(*WORK_ROLES, write=True)
def ctr_file(request, report_id: int):
    """Record that the CTR of this account-day was filed."""
    report = selectors.ctr_report_list(user=request.user).filter(pk=report_id).first()
    if report is None or request.method != "POST":
        raise Http404
    services.ctr_mark_filed(report=report, actor_user=request.user)
    messages.success(request, "CTR marked as filed.")
    return redirect("monitoring:ctr-list")
