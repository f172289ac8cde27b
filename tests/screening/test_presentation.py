"""How a match is shown: the card on the screening page, a logged query's page and a
case's evidence (screening.presentation, screening.selectors.match_cards)."""

from __future__ import annotations

import re

import pytest

from audit.context import Actor
from cases.models import Case
from screening.models import ScreeningQuery
from screening.presentation import match_view
from screening.services import screening_search

ACTOR = Actor.system("test")


def _card(query, **kw):
    from screening.selectors import match_cards

    return match_cards(query.results, query=query.input, threshold=query.threshold, **kw)


def test_card_reads_the_alignment_and_the_qualifiers(active_list):
    q = screening_search(name="Kim Jong Un", dob="1984-01-08", actor=ACTOR)
    [card] = [c for c in _card(q) if c["entity_uid"] == "20157"]
    assert card["structured"] and card["entity_found"] and card["entity_current"]
    assert card["query_tokens"] == [("KIM", "same", ""), ("JONG", "same", ""),
                                    ("UN", "same", "")]
    assert {st for _, st, _ in card["listed_tokens"]} == {"same"}
    assert card["matched_name"] == "KIM, Jong Un"
    assert card["matched_name_label"] == "primary name"
    assert card["programs"] == ["DPRK2"]
    assert card["summary"].startswith("3 of 3 words equal; date of birth +")
    dob = next(f for f in card["facts"] if f["label"] == "Date of birth")
    assert (dob["query"], dob["listed"], dob["verdict"]) == ("1984-01-08", "1984-01-08",
                                                            "agrees")
    assert card["qualifiers"][0]["direction"] == "up"
    assert card["band"] == "high" and card["threshold"] == q.threshold


def test_card_shows_a_differing_date_and_an_unmatched_word(active_list):
    q = screening_search(name="Kim Jong Un Park", dob="1960-05-05", threshold=50,
                         actor=ACTOR)
    [card] = [c for c in _card(q) if c["entity_uid"] == "20157"]
    assert ("PARK", "diff", "") in card["query_tokens"]
    assert "1 without a counterpart" in card["summary"]
    dob = next(f for f in card["facts"] if f["label"] == "Date of birth")
    assert dob["verdict"] == "differs"
    assert card["qualifiers"][0]["effect_text"].startswith("\u2212")
    assert any(r["how"] == "no counterpart" and r["query"] == "PARK" for r in card["aligned"])


def test_a_similar_spelling_is_tagged_similar(active_list):
    q = screening_search(name="Joaquin Guzmen Loera", threshold=60, actor=ACTOR)
    card = next(c for c in _card(q) if c["entity_uid"] == "7001")
    statuses = {word: st for word, st, _ in card["query_tokens"]}
    assert statuses["LOERA"] == "same" and statuses["GUZMEN"] == "similar"
    assert "2 of 3 words equal, 1 similar" in card["summary"]
    assert any(r["how"] == "similar spelling" for r in card["aligned"])


def test_the_card_shows_words_as_written_and_what_they_were_compared_as(active_list):
    """The explanation logs the folded tokens (BANKO NAKIONAL DE KUBA); the analyst reads
    the words as written, with the compared form beside them where folding changed it.
    A log the normaliser no longer reproduces falls back to the logged tokens."""
    q = screening_search(name="Banco Nacional de Cuba", actor=ACTOR)
    match = next(m for m in q.results if m["entity_uid"] == "306")
    card = match_view(match, query=q.input)
    assert [(w, c) for w, _, c in card["query_tokens"]] == [
        ("BANCO", "BANKO"), ("NACIONAL", "NAKIONAL"), ("DE", ""), ("CUBA", "KUBA")]
    assert [w for w, _, _ in card["listed_tokens"]] == ["BANCO", "NACIONAL", "DE", "CUBA"]
    cuba = next(r for r in card["aligned"] if r["query"] == "CUBA")
    assert (cuba["query_compared"], cuba["listed"], cuba["listed_compared"]) == (
        "KUBA", "CUBA", "KUBA")
    other = match_view(match, query={**q.input, "name": "Someone Else"})
    assert [w for w, _, _ in other["query_tokens"]] == ["BANKO", "NAKIONAL", "DE", "KUBA"]


def test_two_words_that_fold_alike_each_show_as_written():
    """MOHAMMED and MUHAMMAD are both compared as MUHAMAD: each chip keeps its own word."""
    explanation = {"format": 1, "query_form": {"text": "MUHAMAD MUHAMAD ALI"},
                   "listed_form": "MUHAMAD ALI",
                   "aligned": [{"query": "MUHAMAD", "listed": "MUHAMAD", "similarity": 1.0,
                                "how": "equal"}]}
    card = match_view({"score": 90, "explanation": explanation,
                       "matched_name": "Muhammad Ali"},
                      query={"name": "Mohammed Muhammad Ali"})
    assert [(w, c) for w, _, c in card["query_tokens"]] == [
        ("MOHAMMED", "MUHAMAD"), ("MUHAMMAD", "MUHAMAD"), ("ALI", "")]
    assert [w for w, _, _ in card["listed_tokens"]] == ["MUHAMMAD", "ALI"]


def test_an_entity_of_an_earlier_version_is_found_by_its_content(active_list):
    from screening.selectors import match_entities

    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    match = dict(next(m for m in q.results if m["entity_uid"] == "20157"))
    del match["entity_id"]  # a case's evidence of an older release names no row
    found = match_entities([match])
    [(key, entity)] = found.items()
    assert key == ("ofac-sdn", "20157", match["content_hash"])
    assert entity["content"]["dates_of_birth"] == ["1984-01-08"]
    assert match_entities([{**match, "content_hash": "0" * 64}]) == {}


@pytest.mark.parametrize("explanation", [
    None, "plain words", ["a", "list"], {"format": 1, "aligned": "not a list",
                                         "qualifiers": [1, "x", None],
                                         "query_form": "oops", "coverage": 3},
    {"format": 1, "aligned": [{"query": None, "similarity": "high"}],
     "unmatched_query": [None, {"token": 5}]},
])
def test_odd_shapes_never_raise(explanation):
    card = match_view({"score": "not a number", "explanation": explanation,
                       "programs": None}, query={"name": None})
    assert card["score"] == 0.0 and card["band"] == "low"


def test_an_explanation_in_another_shape_shows_its_reasons_not_a_dump():
    card = match_view({"score": 95, "matched_name": "PETROV, Ivan", "matched_dob": "1970",
                       "explanation": {"name": "token match 95%", "dob": "differs",
                                       "nested": {"a": [1, 2]}}},
                      query={"name": "Ivan Petrov", "dob": "1971"})
    assert not card["structured"]
    assert card["legacy_reasons"] == [("name", "token match 95%"), ("dob", "differs")]
    assert ("Ivan", "same", "") in card["query_tokens"]
    assert card["facts"][0]["listed"] == "1970"


def test_search_page_shows_the_card_and_escapes_the_input(portal_as, analyst, active_list,
                                                          django_assert_max_num_queries):
    c = portal_as(analyst)
    with django_assert_max_num_queries(30):
        resp = c.post("/screening/search", {"name": "Kim Jong Un <script>x</script>",
                                            "dob": "1984-01-08", "threshold": "50",
                                            "use": "onboarding"})
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert 'data-testid="match-card"' in html and 'data-testid="match-facts"' in html
    entity_link = re.search(r'href="/lists/entities/(\d+)/">KIM, Jong Un</a>', html)
    assert entity_link, "the match links to the listed entry"
    assert c.get(f"/lists/entities/{entity_link.group(1)}/").status_code == 200
    assert re.search(r"Why it matched:</strong> 3 of \d+ words equal", html)
    assert '<span class="verdict verdict-agrees">agrees</span>' in html


def test_search_form_errors_are_shown_by_their_field(portal_as, analyst, active_list):
    resp = portal_as(analyst).post("/screening/search", {"name": "Kim", "dob": "1984-13-45",
                                                         "use": "onboarding"})
    assert resp.status_code == 400
    html = resp.content.decode()
    field = re.search(r'<div class="field field-dob has-error">(.*?)</div>', html, re.S)
    assert field and 'class="field-error"' in field.group(1)


def test_case_page_shows_the_card_of_a_real_hit(portal_as, analyst, active_list, customer,
                                               django_assert_max_num_queries):
    q = screening_search(name=customer.name, dob=customer.dob, country=customer.country,
                         customer=customer, actor=ACTOR)
    case = Case.objects.get(customer=customer)
    client = portal_as(analyst)
    with django_assert_max_num_queries(40):
        html = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-testid="match-card"' in html
    assert f'logged query #{q.pk}' in html
    assert "BIN LADIN, Usama" in html and "SDGT" in html
    assert "Why it matched:</strong>" in html
    assert "{&#x27;" not in html and "[{" not in html  # no raw dump of the explanation
    dob = re.search(r"<th scope=\"row\">Date of birth</th><td>(.*?)</td><td>(.*?)</td>", html)
    assert dob and dob.groups() == ("1957", "1957-07-30")


def test_screening_a_stored_customer_opens_their_case_and_links_it(portal_as, analyst,
                                                                   active_list, customer):
    c = portal_as(analyst)
    # the customer's stored name, date of birth and country are used when left empty
    resp = c.post("/screening/search", {"customer_id": "C-1", "use": "onboarding"})
    assert resp.status_code == 200
    q = ScreeningQuery.objects.get()
    assert (q.customer_id, q.input["name"], q.input["dob"], q.input["country"]) == (
        customer.pk, "Osama bin Laden", "1957", "SA")
    case = Case.objects.get(customer=customer)
    html = resp.content.decode()
    assert f'<a href="/cases/{case.pk}/">{case.reference}</a>' in html
    detail = c.get(f"/screening/queries/{q.pk}/").content.decode()
    assert f'<a href="/cases/{case.pk}/">{case.reference}</a>' in detail
    # a plain search opens no case and says so
    resp = c.post("/screening/search", {"name": "Osama bin Laden", "use": "onboarding"})
    assert "No case is opened for a name screened without a customer id" in resp.content.decode()
    assert Case.objects.count() == 1


def test_an_unknown_customer_or_no_name_is_a_field_error(portal_as, analyst, active_list):
    c = portal_as(analyst)
    resp = c.post("/screening/search", {"customer_id": "NOPE", "use": "onboarding"})
    assert resp.status_code == 400
    assert "No stored customer has the id &#x27;NOPE&#x27;." in resp.content.decode()
    resp = c.post("/screening/search", {"name": "", "use": "onboarding"})
    assert resp.status_code == 400
    assert "Enter a name, or the id of a stored customer." in resp.content.decode()
    assert not ScreeningQuery.objects.exists()


def test_screen_now_from_the_customer_page(portal_as, analyst, auditor, active_list):
    from cases.services import customer_upsert
    from screening.models import ScreeningQuery

    customer_upsert(external_id="C-CUBA", name="Banco Nacional de Cuba",
                    entity_type="organisation")
    page = portal_as(analyst).get("/cases/customers/C-CUBA/").content.decode()
    assert "Screen now" in page
    assert "Screen now" not in portal_as(auditor).get("/cases/customers/C-CUBA/").content.decode()
    resp = portal_as(analyst).post("/screening/search",
                                   {"customer_id": "C-CUBA", "use": "onboarding"})
    assert resp.status_code == 200 and "BANCO NACIONAL DE CUBA" in resp.content.decode()
    query = ScreeningQuery.objects.get(customer__external_id="C-CUBA")
    assert query.hit_count >= 1 and query.input["name"] == "Banco Nacional de Cuba"
    # the customer page marks a case whose SAR deadline has passed, as the inbox does
    from django.utils import timezone

    def page() -> str:
        return portal_as(analyst).get("/cases/customers/C-CUBA/").content.decode()

    assert "badge overdue" not in page()
    Case.objects.filter(customer__external_id="C-CUBA").update(
        due_at=timezone.now() - timezone.timedelta(days=1))
    assert '<span class="badge overdue">overdue</span>' in page()
