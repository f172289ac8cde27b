"""Rule versions need a second person's approval; backtests; the demo feed."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.context import Actor
from monitoring.choices import BacktestStatus, RuleVersionStatus
from monitoring.models import Alert, Backtest, Rule
from monitoring.rules.schema import validate_event
from monitoring.services import (
    RuleError,
    rule_version_approve,
    rule_version_create,
    transactions_ingest,
)
from tests.monitoring.conftest import make_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_new_version_takes_effect_only_after_another_user_approves(seeded, analyst, approver):
    rule = Rule.objects.get(code="T6")
    draft = rule_version_create(
        rule=rule,
        params={"min_count": 2},
        severity="medium",
        note="two is enough",
        actor_user=approver,
    )
    assert draft.status == RuleVersionStatus.DRAFT and draft.version == 2
    events = [
        make_event(account="R", amount=a, direction="out", at=dt.timedelta(days=i))
        for i, a in enumerate(["7000", "9000"])
    ]
    transactions_ingest(events=[validate_event(e) for e in events])
    assert not Alert.objects.filter(rule_code="T6").exists()  # draft is not evaluated
    with pytest.raises(RuleError, match="author"):
        rule_version_approve(version=draft, actor_user=approver)
    from tests.conftest import _make_user

    second = _make_user("t_approver2", "approver")
    rule_version_approve(version=draft, actor_user=second)
    rule.refresh_from_db()
    assert rule.active_version_id == draft.pk
    assert rule.versions.get(version=1).status == RuleVersionStatus.SUPERSEDED
    third = make_event(account="R", amount="5000", direction="out", at=dt.timedelta(days=3))
    transactions_ingest(events=[validate_event(third)])
    alert = Alert.objects.get(rule_code="T6")
    assert alert.rule_version_id == draft.pk and alert.trace["rule"]["version"] == 2


def test_bad_parameters_are_refused(seeded, analyst):
    rule = Rule.objects.get(code="T1")
    with pytest.raises(RuleError) as exc:
        rule_version_create(
            rule=rule, params={"band_mn": 1, "week_days": -1}, severity="medium", actor_user=analyst
        )
    assert set(exc.value.errors) == {"params.band_mn", "params.week_days"}


def test_backtest_counts_what_a_draft_would_raise(seeded, analyst):
    events = [
        make_event(account=f"B{i % 3}", amount="9500", channel="cash", at=dt.timedelta(hours=i))
        for i in range(9)
    ]
    transactions_ingest(events=[validate_event(e) for e in events])
    rule = Rule.objects.get(code="T1")
    draft = rule_version_create(
        rule=rule, params={"day_min_count": 3}, severity="high", actor_user=analyst
    )
    from monitoring.services import backtest_request

    run = backtest_request(version=draft, actor_user=analyst)
    run.refresh_from_db()  # tasks run in process (eager) on commit in tests
    from monitoring.services import backtest_execute

    if run.status == BacktestStatus.QUEUED:
        run = backtest_execute(backtest_id=run.pk)
    assert run.status == BacktestStatus.DONE
    assert run.transactions_scanned == 9 and run.accounts_scanned == 3
    # Each account has 3 in-band deposits in one day: one anchor per account fires.
    assert run.alert_count == 3
    assert {row["customer_id"] for row in run.by_customer} == {"C-B0", "C-B1", "C-B2"}
    assert Backtest.objects.get(pk=run.pk).status == BacktestStatus.DONE


def test_demo_load_creates_alerts_and_cases(db):
    from cases.models import Case
    from monitoring.services import demo_monitoring_load

    result = demo_monitoring_load(actor=Actor.system("demo"), accounts=10, days=40)
    assert result.inserted > 500 and result.alert_ids
    cases = Case.objects.filter(source="monitoring")
    # the feed's own cases, worked into every state (none is made up)
    assert {c.state for c in cases} >= {"new", "assigned", "investigating", "escalated",
                                        "closed", "pending_approval"}
    assert all(e.object_id.isdigit() for c in cases for e in c.evidence.all())
    worked = {c.pk for c in cases.exclude(state="new")}
    demo_monitoring_load(actor=Actor.system("demo"), accounts=10, days=40)
    assert {c.pk for c in cases.exclude(state="new")} == worked  # worked once
