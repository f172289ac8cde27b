"""Offboarding: a customer the bank no longer serves is left out of re-screening when a
list changes; their records stay; reinstating brings them back. Portal and API."""

from __future__ import annotations

import pytest

from audit.selectors import entry_body
from cases.customers import CustomerInputError, CustomerStateError, customer_offboard
from cases.models import Case, Customer
from cases.selectors import customer_open_cases
from cases.services import customer_upsert
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def erika(db):
    return customer_upsert(external_id="C/77", name="Erika Mustermann", country="DE")


def test_offboarding_needs_a_reason_and_happens_once(erika):
    with pytest.raises(CustomerInputError, match="reason"):
        customer_offboard(customer=erika, reason="  ")
    done = customer_offboard(customer=erika, reason="account closed")
    assert done.is_offboarded and done.offboarding_reason == "account closed"
    with pytest.raises(CustomerStateError, match="was offboarded on"):
        customer_offboard(customer=erika, reason="again")
    entry = sealed_ledger().get(action="cases.customer_offboarded")
    assert entry_body(entry) == {"external_id": "C/77", "reason": "account closed"}
    assert Customer.history.filter(id=erika.pk).count() == 2  # created, offboarded


def test_analyst_offboards_and_reinstates_on_the_customer_page(portal_as, analyst, auditor,
                                                               erika):
    url = "/cases/customers/C/77/"
    page = portal_as(analyst).get(url).content.decode()
    assert "Active" in page and "Offboard this customer" in page
    assert "Offboard this customer" not in portal_as(auditor).get(url).content.decode()
    assert portal_as(auditor).post(url + "do/offboard", {"reason": "x"}).status_code == 403
    resp = portal_as(analyst).post(url + "do/offboard", {"reason": ""}, follow=True)
    assert "give a reason" in resp.content.decode()
    resp = portal_as(analyst).post(url + "do/offboard", {"reason": "account closed"},
                                   follow=True)
    page = resp.content.decode()
    assert "Offboarded" in page and "account closed" in page and "Reinstate" in page
    erika.refresh_from_db()
    assert erika.is_offboarded
    entry = sealed_ledger().get(action="cases.customer_offboarded")
    assert entry.actor_label == analyst.username
    resp = portal_as(analyst).post(url + "do/reinstate", {"reason": "relationship resumed"},
                                   follow=True)
    erika.refresh_from_db()
    assert not erika.is_offboarded and "reinstated" in resp.content.decode()


def test_integration_offboards_through_the_api(api_as, integration_client, erika):
    client = api_as(token=integration_client[1])
    resp = client.post("/api/v1/customers/C/77/offboard", {"reason": "closed"}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["offboarded_at"] and resp.json()["offboarding_reason"] == "closed"
    again = client.post("/api/v1/customers/C/77/offboard", {"reason": "closed"}, format="json")
    assert again.status_code == 409 and "external_id" in again.json()["error"]["fields"]
    for body, field in (({"reason": "back", "x": 1}, "x"), ({"reason": ""}, "reason"),
                        ({}, "reason")):
        bad = client.post("/api/v1/customers/C/77/reinstate", body, format="json")
        assert bad.status_code == 400 and field in bad.json()["error"]["fields"], body
    assert client.get("/api/v1/customers/C/77").json()["offboarded_at"]
    ok = client.post("/api/v1/customers/C/77/reinstate", {"reason": "back"}, format="json")
    assert ok.status_code == 200 and ok.json()["offboarded_at"] is None
    missing = client.post("/api/v1/customers/NOPE/offboard", {"reason": "x"}, format="json")
    assert missing.status_code == 404


def test_the_customer_base_page_and_api_list_filter_by_state(portal_as, auditor, api_as,
                                                             integration_client, erika):
    customer_upsert(external_id="C-2", name="Acme Trading LLC", entity_type="organisation",
                    country="AE")
    customer_offboard(customer=erika, reason="account closed")
    page = portal_as(auditor).get("/cases/customers/").content.decode()
    assert "2 customers" in page and "Acme Trading LLC" in page and "Offboarded" in page
    assert "invalid name" not in page  # every filter has its label
    page = portal_as(auditor).get("/cases/customers/?state=active").content.decode()
    assert "1 customer" in page and "Erika" not in page
    page = portal_as(auditor).get("/cases/customers/?q=c/7").content.decode()
    assert "Erika Mustermann" in page and "Acme" not in page  # id prefix

    client = api_as(token=integration_client[1])
    body = client.get("/api/v1/customers?state=offboarded").json()
    assert body["count"] == 1
    assert body["results"][0]["external_id"] == "C/77"
    assert body["results"][0]["offboarded_at"] and body["results"][0]["open_cases"] == 0
    both = client.get("/api/v1/customers?q=acme").json()
    assert [c["external_id"] for c in both["results"]] == ["C-2"]
    bad = client.get("/api/v1/customers?state=gone")
    assert bad.status_code == 400 and "state" in bad.json()["error"]["fields"]



def test_a_case_names_the_customers_other_open_cases_and_their_offboarding(portal_as,
                                                                            analyst):
    from tests.cases.factories import monitoring_case, screening_case

    first = screening_case(customer=customer_upsert(external_id="C-9", name="Sultani Makenga"))
    second = screening_case(customer=first.customer, list_code="un", entity_uid="6907999")
    third = monitoring_case(customer=first.customer)
    customer_offboard(customer=first.customer, reason="account closed")
    page = portal_as(analyst).get(f"/cases/{first.pk}/").content.decode()
    assert f">{second.reference}</a>" in page and f">{third.reference}</a>" in page
    assert f">{first.reference}</a>" not in page.split('data-testid="other-open-cases"')[1][:600]
    assert "offboarded " in page
    # a closed case is not among the open ones, on the case page or in the customer API
    Case.objects.filter(pk=third.pk).update(state="closed", closed_at=third.opened_at)
    page = portal_as(analyst).get(f"/cases/{first.pk}/").content.decode()
    assert f">{third.reference}</a>" not in page.split('data-testid="other-open-cases"')[1]
    assert [c.reference for c in customer_open_cases(customer=first.customer)] == [
        second.reference, first.reference]
