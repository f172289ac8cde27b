"""The home page: a user's work, the queues, the lists in use and the audit trail."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from cases import services
from cases.models import Case
from tests.cases.factories import monitoring_case, screening_case


def _kpi(html: str, label: str) -> int:
    found = re.search(r'<div class="value">(\d+)</div><div class="label">' + re.escape(label),
                      html)
    assert found, label
    return int(found.group(1))


def test_home_counts_the_users_work_and_the_queues(portal_as, analyst, auditor,
                                                   django_assert_max_num_queries):
    mine = screening_case()
    services.case_claim(case=mine, actor_user=analyst, expected_version=mine.version)
    Case.objects.filter(pk=mine.pk).update(due_at=timezone.now() - timedelta(days=1))
    screening_case()
    monitoring_case()
    client = portal_as(analyst)
    with django_assert_max_num_queries(15):
        html = client.get("/").content.decode()
    assert _kpi(html, "my open cases") == 1
    assert _kpi(html, "of mine past the SAR deadline") == 1
    assert _kpi(html, "unassigned: monitoring 1, screening 1") == 2
    assert _kpi(html, "open cases past the SAR deadline") == 1
    assert 'href="/cases/?assignee=me&amp;overdue=true"' in html
    assert "No list is active" in html
    auditor_html = portal_as(auditor).get("/").content.decode()
    assert "my open cases" not in auditor_html  # an auditor has no cases of their own
    assert _kpi(auditor_html, "unassigned: monitoring 1, screening 1") == 2


def test_home_names_the_active_lists_and_the_last_verification(portal_as, analyst, tmp_path):
    from audit.context import Actor
    from audit.models import VerificationRun
    from screening.lists.services import list_import
    from tests.screening.conftest import write_sdn

    active_list = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"),
                              actor=Actor.system("test")).version

    run = VerificationRun.objects.create(status="passed", checked=12, requested_by="t")
    html = portal_as(analyst).get("/").content.decode()
    assert f"#{active_list.pk} " in html and "OFAC SDN" in html
    assert f'href="/audit/verifications/{run.pk}/">Passed</a>' in html
