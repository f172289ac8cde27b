"""The query log as an auditor reads it: filters (page and API), the CSV export and its
ledger entry, and who sees which queries."""

from __future__ import annotations

import csv
import io
import json

import pytest

from audit.context import Actor
from screening.models import ScreeningQuery
from screening.services import screening_search
from tests.conftest import sealed_ledger

ACTOR = Actor.system("test")
URL = "/screening/queries/"


@pytest.fixture
def logged(active_list, customer):
    """Four logged queries: a customer's hit, a plain hit, a miss, a hostile miss."""
    return {
        "customer_hit": screening_search(name=customer.name, customer=customer, actor=ACTOR),
        "cuba": screening_search(name="Banco Nacional de Cuba", actor=ACTOR),
        "miss": screening_search(name="Maria Lopez Garcia", actor=ACTOR),
        "formula": screening_search(name="=HYPERLINK(evil) Smith", actor=ACTOR),
    }


def _ids(html: str) -> set[int]:
    import re

    return {int(i) for i in re.findall(r'<a href="/screening/queries/(\d+)/">', html)}


def test_filters_narrow_the_page(portal_as, auditor, logged):
    c = portal_as(auditor)
    every = _ids(c.get(URL).content.decode())
    assert every == {q.pk for q in logged.values()}
    # another spelling the matcher folds alike finds the logged OSAMA BIN LADEN
    assert _ids(c.get(URL, {"name": "Usama bin Ladin"}).content.decode()) == {
        logged["customer_hit"].pk}
    assert _ids(c.get(URL, {"hits": "on"}).content.decode()) == {
        logged["customer_hit"].pk, logged["cuba"].pk}
    assert _ids(c.get(URL, {"customer": "C-1"}).content.decode()) == {logged["customer_hit"].pk}
    assert _ids(c.get(URL, {"entity": "306"}).content.decode()) == {logged["cuba"].pk}
    assert _ids(c.get(URL, {"min_score": "99", "name": "cuba"}).content.decode()) == {
        logged["cuba"].pk}
    assert _ids(c.get(URL, {"until": "2000-01-01"}).content.decode()) == set()


def test_the_entity_filter_without_json_containment(portal_as, auditor, logged, monkeypatch):
    # SQLite (make run) has no JSON containment: the text form of the stored results is
    # searched instead; PostgreSQL's text form of jsonb has the same `"key": "value"` shape
    from screening import filtersets

    monkeypatch.setattr(filtersets.connection, "vendor", "sqlite")
    html = portal_as(auditor).get(URL, {"entity": "306"}).content.decode()
    assert _ids(html) == {logged["cuba"].pk}


def test_a_bad_filter_value_is_a_400_naming_it(portal_as, api_as, analyst, logged):
    resp = portal_as(analyst).get(URL, {"min_score": "lots", "since": "yesterday"})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert 'field-min_score has-error' in html and 'field-since has-error' in html
    api = api_as(analyst).get("/api/v1/screening/queries", {"origin": "teleport"})
    assert api.status_code == 400
    assert "origin" in api.json()["error"]["fields"]


def test_csv_export_is_complete_safe_and_on_the_ledger(portal_as, auditor, logged):
    resp = portal_as(auditor).get(URL, {"hits": "on", "export": "csv"})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    assert "attachment;" in resp["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert {int(r["query_id"]) for r in rows} == {logged["customer_hit"].pk, logged["cuba"].pk}
    cuba = next(r for r in rows if int(r["query_id"]) == logged["cuba"].pk)
    assert cuba["matches"].startswith("ofac-sdn:306:") and cuba["hit_count"] == "1"
    everything = portal_as(auditor).get(URL, {"export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))
    formula = next(r for r in rows if int(r["query_id"]) == logged["formula"].pk)
    assert formula["name"] == "'=HYPERLINK(evil) Smith"  # never run as a formula
    entries = sealed_ledger().filter(action="screening.query_log_exported").order_by("seq")
    assert [json.loads(bytes(e.body))["filters"] for e in entries] == [{"hits": "on"},
                                                                         {}]
    assert entries[0].actor_label == "t_auditor"


def test_api_lists_and_filters_and_integrations_see_their_own(api_as, analyst, logged,
                                                             integration_client):
    body = api_as(analyst).get("/api/v1/screening/queries", {"hits": "true"}).json()
    assert {r["query_id"] for r in body["results"]} == {logged["customer_hit"].pk,
                                                        logged["cuba"].pk}
    _client, token = integration_client
    client = api_as(token=token)
    mine = client.post("/api/v1/screening/search", {"name": "Kim Jong Un"}, format="json")
    assert mine.status_code == 201
    listed = client.get("/api/v1/screening/queries").json()["results"]
    assert [r["query_id"] for r in listed] == [mine.json()["query_id"]]
    assert ScreeningQuery.objects.count() == 5
