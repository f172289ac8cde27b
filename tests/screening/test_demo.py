"""The demo's screening cases are real hits on the shipped lists, worked into every state."""

from __future__ import annotations

import pytest

from audit.context import Actor
from cases.choices import CaseState, MatchResolution
from cases.models import Case, CaseEvidence
from screening.models import ScreeningQuery, Whitelist

pytestmark = [pytest.mark.slow]


@pytest.fixture
def demo(db):
    from cases.services import demo_customers_load
    from screening.lists.services import demo_lists_load
    from screening.matcher_cache import matcher_cache_clear
    from screening.services import demo_screening_load

    actor = Actor.system("test")
    matcher_cache_clear()
    demo_customers_load()
    demo_lists_load(actor=actor)
    screened = demo_screening_load(actor=actor)
    yield screened
    matcher_cache_clear()


def test_demo_screening_cases_are_real_hits_in_every_state(demo, portal_as, analyst):
    from screening.selectors import match_entities

    cases = list(Case.objects.filter(source="screening").select_related("customer"))
    assert demo == ScreeningQuery.objects.count() >= 17  # every customer screened, logged
    assert {c.state for c in cases} >= {
        CaseState.NEW, CaseState.ASSIGNED, CaseState.INVESTIGATING, CaseState.ESCALATED,
        CaseState.CLOSED, CaseState.PENDING_APPROVAL}
    evidence = list(CaseEvidence.objects.filter(case__in=cases))
    assert len(evidence) == len(cases)
    # each hit is the logged match of a logged query, on an entry of a loaded list
    found = match_entities([e.summary for e in evidence])
    for e in evidence:
        s = e.summary
        assert ScreeningQuery.objects.filter(pk=s["query_id"]).exists()
        assert (s["list"], s["entity_uid"], s["content_hash"]) in found, s["matched_name"]
    by_name = {c.customer.name: c for c in cases}
    # a name in Cyrillic found the listed transliteration
    assert "MORDASHOV, Kirill Alekseyevich" in by_name["Кирилл Алексеевич Мордашов"].title
    # the reviewed false positive closed its case and whitelisted the pair
    fp = by_name["Ali Habib Mahmoud"]
    assert fp.state == CaseState.CLOSED
    assert fp.evidence.get().resolution == MatchResolution.FALSE_POSITIVE
    assert Whitelist.objects.filter(customer=fp.customer, entity_uid="12738").exists()
    # one customer on two lists: one case per listed entity
    assert {c.summary.split(" of ")[1].split(" with")[0]
            for c in cases if c.customer.external_id == "CUST-2007"} == {
        "ofac-sdn 15527", "un 6907999"}
    # the case page shows the listed entry of the hit, not a stand-in
    html = portal_as(analyst).get(f"/cases/{by_name['Oleg Deripaska'].pk}/").content.decode()
    assert 'data-testid="match-card"' in html
    assert "was not found in the stored list versions" not in html
    assert "1968-01-02" in html  # screened and listed date of birth side by side
