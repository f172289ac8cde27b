"""Portal pages of the lists: access, content, query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from screening.lists.models import Entity
from screening.lists.services import list_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def un_versions(un_small):
    old = list_import(source="un", path=un_small[0]).version
    new = list_import(source="un", path=un_small[1]).version
    return old, new


def test_anonymous_is_sent_to_login_and_outsider_refused(client, portal_as, outsider):
    response = client.get(reverse("lists:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert portal_as(outsider).get(reverse("lists:index")).status_code == 403


def test_index_shows_freshness_last_error_and_delta(
    portal_as, auditor, un_versions, django_assert_max_num_queries
):
    portal = portal_as(auditor)
    with django_assert_max_num_queries(6):
        response = portal.get(reverse("lists:index"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "UN Security Council Consolidated" in body and "+4 / −1" in body
    assert "Refresh now" not in body  # auditors never see write actions


def test_versions_and_delta_pages(portal_as, analyst, un_versions, django_assert_max_num_queries):
    old, new = un_versions
    portal = portal_as(analyst)
    with django_assert_max_num_queries(8):
        versions = portal.get(reverse("lists:versions", args=["un"]))
    assert f"#{new.pk}" in versions.content.decode() and "Superseded" in versions.content.decode()
    with django_assert_max_num_queries(8):
        delta = portal.get(reverse("lists:delta", args=["un", new.pk]) + "?kind=added")
    body = delta.content.decode()
    assert delta.status_code == 200 and body.count("change-added") == 4
    assert portal.get(reverse("lists:delta", args=["uk", new.pk])).status_code == 404


def test_entity_search_and_detail(portal_as, analyst, un_versions, django_assert_max_num_queries):
    portal = portal_as(analyst)
    with django_assert_max_num_queries(8):
        response = portal.get(reverse("lists:entity_search") + "?q=allied+democratic")
    assert "ADF" in response.content.decode()
    entity = Entity.objects.get(version=un_versions[1], uid="6908402")
    detail = portal.get(reverse("lists:entity_detail", args=[entity.pk])).content.decode()
    assert "NALU" in detail and "DRC" in detail and "Democratic Republic of the Congo" in detail
    bad = portal.get(reverse("lists:entity_search") + "?type=ghost").content.decode()
    assert "Select a valid choice" in bad


def test_refresh_button_is_admin_only(portal_as, auditor, admin_user, monkeypatch, un_versions):
    queued: list[str] = []
    monkeypatch.setattr("screening.lists.tasks.lists_refresh_source.delay", queued.append)
    url = reverse("lists:refresh", args=["un"])
    assert portal_as(auditor).post(url).status_code == 403
    assert "Refresh now" in portal_as(admin_user).get(reverse("lists:index")).content.decode()
    assert portal_as(admin_user).post(url).status_code == 302


def test_entity_search_puts_whole_word_matches_first(tmp_path):
    """'cali' finds CALI, Maxamed and CALIBER WEALTH alike (names contain the words); an
    analyst looking up a name reads the whole-word matches first, each part by name, and
    an entity whose list id is the query before all."""
    from screening.lists.selectors import entity_search
    from tests.screening.conftest import write_sdn

    rows = [("1", "CALIBER WEALTH MANAGEMENT LTD", "-0- ", "RUSSIA", "", ""),
            ("2", "YARE, Cali", "individual", "SDGT", "", ""),
            ("3", "ACALI TRADING", "-0- ", "SDGT", "", ""),
            ("4", "CALI, Maxamed", "individual", "SDGT", "", "")]
    list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn", rows,
                                                  [("4", "9", "aka", "CALI, Mohamed")]))
    assert [e.primary_name for e in entity_search(query="cali")] == [
        "CALI, Maxamed", "YARE, Cali", "ACALI TRADING", "CALIBER WEALTH MANAGEMENT LTD"]
    assert [e.uid for e in entity_search(query="3")] == ["3"]
