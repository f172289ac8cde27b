"""Management commands and the demo data hook."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from audit.context import Actor
from enrichment.models import EnrichmentDocument, EnrichmentRun, LoanApplication
from enrichment.services import application_create, demo_enrichment_load

from .conftest import application_data

pytestmark = [pytest.mark.django_db]


def make_application(index=80):
    return application_create(data=application_data(index), principals=[
        {"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])


@pytest.mark.django_db(transaction=True)
def test_enrich_command_runs_and_reports(enrichment_settings_for_stub, capsys):
    # Committed for real: the in-process task runs when the run row commits.
    application = make_application()
    call_command("enrich", application.reference, "--wait", "5")
    out = capsys.readouterr().out
    assert "status: succeeded" in out
    assert EnrichmentRun.objects.get().status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_enrich_command_fails_loudly(enrichment_settings_for_stub, stub):
    application = make_application()
    stub.configure(script=[{"match": "v1/search", "fault": "503", "times": 10}], retry_after=0)
    with pytest.raises(CommandError, match=r"enrichment failed: .*HTTP 503.*status 503, "
                                           r"attempts 4"):
        call_command("enrich", str(application.pk), "--wait", "5")


def test_enrich_command_rejects_unknown_application():
    with pytest.raises(CommandError, match="no loan application"):
        call_command("enrich", "LA-999999")
    with pytest.raises(CommandError, match="APPLICATION_ID"):
        call_command("enrich")


def test_run_stub_providers_refuses_bad_options():
    with pytest.raises(CommandError, match="fault-rate"):
        call_command("run_stub_providers", "--fault-rate", "2")
    with pytest.raises(CommandError, match="loopback"):
        call_command("run_stub_providers", "--host", "0.0.0.0")


def test_demo_load_enriches_the_demo_set_once():
    """14 applications enriched; the 15th's credit report arrives cut off (a real failed
    run through the stub), which opens a case an analyst has taken up."""
    from cases.models import Case

    applications = demo_enrichment_load(actor=Actor.system("test demo"))
    assert len(applications) == LoanApplication.objects.count() == 15
    assert EnrichmentRun.objects.filter(status="succeeded").count() == 14
    failed = EnrichmentRun.objects.get(status="failed")
    assert failed.case_reference and "malformed" in str(failed.error)
    case = Case.objects.get(reference=failed.case_reference)
    assert case.source == "enrichment" and case.state == "investigating"
    assert case.evidence.get().object_id == str(failed.pk)
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="analyst"))
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert f'Enrichment run <a href="/enrichment/runs/{failed.pk}/">#{failed.pk}</a>' in page
    run_page = client.get(f"/enrichment/runs/{failed.pk}/").content.decode()
    assert f'case <a href="/cases/{case.pk}/">{case.reference}</a>' in run_page
    assert '"results": [{"bin": "70000' in failed.error["excerpt"]  # the bureau's own, cut off
    demo_enrichment_load(actor=Actor.system("test demo"))
    assert EnrichmentRun.objects.count() == 15
    assert EnrichmentDocument.objects.count() == 14
