"""Re-running a logged query against its logged list versions, compared with the log:
the service, the query page (an auditor may run it) and the API."""

from __future__ import annotations

import json

import pytest

from audit.context import Actor
from screening.services import (
    ScreeningInputError,
    screening_query_verify,
    screening_search,
    whitelist_add,
)
from tests.conftest import sealed_ledger

ACTOR = Actor.system("test")


def _ledger(query):
    entries = sealed_ledger().filter(action="screening.query_reproduced",
                                     object_id=str(query.pk))
    return [json.loads(bytes(e.body)) for e in entries]


def test_a_logged_query_reproduces_identically_and_the_check_is_on_the_ledger(active_list):
    q = screening_search(name="Usama Bin Laden", dob="1957", actor=ACTOR)
    outcome = screening_query_verify(query=q)
    assert outcome["identical"] and outcome["differences"] == []
    assert outcome["matches"] == q.hit_count >= 1
    assert outcome["list_versions"] == {"ofac-sdn": active_list.pk}
    assert [e["identical"] for e in _ledger(q)] == [True]


def test_a_different_result_is_reported_rank_by_rank(active_list, monkeypatch):
    """What the re-run gives is compared with the log, score and explanation included:
    one point of score, or one word of the explanation, is a difference."""
    import screening.services as services

    q = screening_search(name="Usama Bin Laden", actor=ACTOR)
    changed = [dict(m) for m in q.results]
    changed[0]["score"] = changed[0]["score"] - 1
    monkeypatch.setattr(services, "screening_query_reproduce", lambda *, query: changed)
    outcome = screening_query_verify(query=q)
    assert not outcome["identical"]
    top = q.results[0]
    assert outcome["differences"][0] == {
        "rank": 1, "logged": f"ofac-sdn 6365 at {top['score']}",
        "reproduced": f"ofac-sdn 6365 at {top['score'] - 1}"}
    explained = [dict(m) for m in q.results]
    explained[0]["explanation"] = {**top["explanation"], "coverage": {}}
    monkeypatch.setattr(services, "screening_query_reproduce", lambda *, query: explained)
    assert not screening_query_verify(query=q)["identical"]
    monkeypatch.setattr(services, "screening_query_reproduce", lambda *, query: [])
    assert screening_query_verify(query=q)["differences"][0]["reproduced"] == "none"
    assert [e["identical"] for e in _ledger(q)] == [False, False, False]


def test_matches_the_whitelist_suppressed_are_compared_by_score(active_list, customer,
                                                                analyst):
    first = screening_search(name="Usama Bin Laden", customer=customer, actor=ACTOR)
    hit = next(m for m in first.results if m["entity_uid"] == "6365")
    whitelist_add(customer=customer, list_code="ofac-sdn", entity_uid="6365",
                  content_hash=hit["content_hash"], reason="different person",
                  reviewer=analyst, actor=ACTOR)
    q = screening_search(name="Usama Bin Laden", customer=customer, actor=ACTOR)
    assert q.suppressed and all(m["entity_uid"] != "6365" for m in q.results)
    outcome = screening_query_verify(query=q)
    assert outcome["identical"] and outcome["suppressed"] == len(q.suppressed)


def test_a_query_of_another_algorithm_version_is_refused_not_compared(active_list):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    q.algorithm_version = "vigil-match/1.1"
    with pytest.raises(ScreeningInputError, match="cannot be reproduced exactly"):
        screening_query_verify(query=q)
    assert _ledger(q) == []


def test_an_auditor_reproduces_from_the_query_page(active_list, portal_as, auditor):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    client = portal_as(auditor)
    page = client.get(f"/screening/queries/{q.pk}/").content.decode()
    assert f'href="/screening/queries/{q.pk}/reproduce"' in page
    done = client.get(f"/screening/queries/{q.pk}/reproduce")
    assert done.status_code == 200
    assert "Reproduced: identical" in done.content.decode()
    assert _ledger(q)[0]["identical"] is True
    assert client.post(f"/screening/queries/{q.pk}/reproduce").status_code == 403  # read-only


def test_the_api_reproduces_a_query_for_its_readers(active_list, api_as, auditor):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    response = api_as(auditor).get(f"/api/v1/screening/queries/{q.pk}/reproduce")
    assert response.status_code == 200
    body = response.json()
    assert body["identical"] is True and body["query_id"] == q.pk
    assert body["algorithm_version"] == q.algorithm_version
    assert api_as(auditor).get("/api/v1/screening/queries/999999/reproduce").status_code == 404
    assert api_as().get(f"/api/v1/screening/queries/{q.pk}/reproduce").status_code == 401
