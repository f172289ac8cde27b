"""Portal pages: list, form, application page (timeline, document, diff), enrich button."""

from __future__ import annotations

import datetime as dt

import pytest

from enrichment.models import EnrichmentRun, LoanApplication
from enrichment.services import application_create, enrichment_run_request

from .conftest import application_data

pytestmark = [pytest.mark.django_db]


def make_application(index=80):
    return application_create(data=application_data(index), principals=[
        {"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])


def form_post(index=80, **overrides):
    data = {**application_data(index), "form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0",
            "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "4",
            "form-0-full_name": "Maria Keller", "form-0-date_of_birth": "1975-04-02",
            "form-0-nationality": "de", "form-0-role": "owner",
            "form-1-full_name": "", "form-1-date_of_birth": "", "form-1-role": "owner"}
    data.update(overrides)
    return data


def test_pages_need_a_role(client, outsider, portal_as):
    assert client.get("/enrichment/").status_code == 302  # to login
    assert portal_as(outsider).get("/enrichment/").status_code == 403


def test_list_page_shows_applications(portal_as, auditor, django_assert_max_num_queries):
    make_application(80)
    make_application(81)
    page = portal_as(auditor)
    with django_assert_max_num_queries(12):
        response = page.get("/enrichment/")
    assert response.status_code == 200
    assert b"LA-" in response.content and b"New application" not in response.content


def test_form_creates_an_application(portal_as, analyst):
    response = portal_as(analyst).post("/enrichment/applications/new/", form_post())
    assert response.status_code == 302
    application = LoanApplication.objects.get()
    assert application.principals.get().nationality == "DE"


def test_form_shows_field_errors(portal_as, analyst):
    response = portal_as(analyst).post("/enrichment/applications/new/",
                                       form_post(country="Germany", requested_amount="x"))
    assert response.status_code == 400
    assert b"ISO 3166 alpha-2" in response.content
    assert LoanApplication.objects.count() == 0


def test_auditor_cannot_post(portal_as, auditor):
    application = make_application()
    assert portal_as(auditor).post("/enrichment/applications/new/",
                                   form_post()).status_code == 403
    assert portal_as(auditor).post(
        f"/enrichment/applications/{application.pk}/enrich/").status_code == 403
    assert EnrichmentRun.objects.count() == 0


def test_enrich_button_and_detail_pages(portal_as, analyst, enrichment_settings_for_stub,
                                        django_capture_on_commit_callbacks):
    application = make_application(80)
    page = portal_as(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/enrichment/applications/{application.pk}/enrich/")
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        enrichment_run_request(application=application)  # a second run: the diff
    detail = page.get(f"/enrichment/applications/{application.pk}/")
    assert detail.status_code == 200
    assert b"Enrichment document" in detail.content and b"Changes since" in detail.content
    run = EnrichmentRun.objects.order_by("pk").first()
    timeline = page.get(f"/enrichment/runs/{run.pk}/")
    assert timeline.status_code == 200
    assert b"gleif lei_search" in timeline.content and b"patched lei" in timeline.content
    partial = page.get(f"/enrichment/applications/{application.pk}/runs/")
    assert partial.status_code == 200 and b"Succeeded" in partial.content
