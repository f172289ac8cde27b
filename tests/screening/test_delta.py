"""Delta re-screening when a list version activates."""

from __future__ import annotations

from audit.context import Actor
from cases.models import Case
from cases.services import customer_upsert
from screening.lists.services import list_import
from screening.matcher_cache import current_matcher
from screening.models import ScreeningQuery, Whitelist
from screening.services import screening_rescreen_delta, screening_search, whitelist_add
from tests.screening.conftest import ALT, SDN, write_sdn

ACTOR = Actor.system("test")


def test_new_and_changed_entities_are_screened_against_customers(active_list, tmp_path,
                                                                 analyst):
    customer_upsert(external_id="C-K", name="Kim Jong Un", dob="1984")
    cuba = customer_upsert(external_id="C-B", name="National Bank of Cuba",
                           entity_type="organisation")
    customer_upsert(external_id="C-N", name="Erika Mustermann")
    # the analyst reviewed the Cuba hit as a false positive for this customer
    q = screening_search(name=cuba.name, customer=cuba, actor=ACTOR)
    hit = next(m for m in q.results if m["entity_uid"] == "306")
    whitelist_add(customer=cuba, list_code="ofac-sdn", entity_uid="306",
                  content_hash=hit["content_hash"], reason="not the bank", reviewer=analyst)
    cases_before = Case.objects.count()

    # v2: a new entity matching a customer, the bank's record changed, Kim unchanged
    rows = [r if r[0] != "306" else (*r[:4], "Formerly state bank", r[5]) for r in SDN]
    rows.append(("9001", "MUSTERMAN, Erika", "individual", "SDGT", "", ""))
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version
    assert v2.is_active
    assert current_matcher().versions == {"ofac-sdn": v2.pk}

    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary["entities"] == 2  # added 9001 + changed 306; Kim (unchanged) not re-run
    delta_queries = ScreeningQuery.objects.filter(origin="delta")
    screened = {(q.customer.external_id, m["entity_uid"])
                for q in delta_queries for m in q.results}
    assert ("C-B", "306") in screened  # whitelist reopened: the entity changed
    assert not any(uid == "20157" for _, uid in screened)
    assert not Whitelist.objects.get(entity_uid="306").active
    new_cases = Case.objects.filter(source="screening").count() - cases_before
    assert new_cases >= 1
    assert Case.objects.filter(dedupe_key="screening:C-B:ofac-sdn:306").exists()


def test_a_delta_with_no_customers_builds_no_matcher_and_is_still_recorded(
        active_list, tmp_path, monkeypatch):
    """A new deployment activates its lists before it stores a customer: nothing to
    screen, so no index is built (seconds per list), and the run is on the audit trail."""
    from screening import services
    from tests.conftest import sealed_ledger

    assert not services.Customer.objects.exists()
    rows = [*SDN, ("9002", "EXAMPLE, Delta", "individual", "SDGT", "", "")]
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version

    def refuse(*args, **kwargs):
        raise AssertionError("a matcher was built with no customer to screen")

    monkeypatch.setattr(services, "Matcher", refuse)
    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary == {"version_id": v2.pk, "list": "ofac-sdn", "mode": "delta",
                       "entities": 1, "customers": 0, "hits": 0}
    entry = sealed_ledger().filter(action="screening.delta_rescreen",
                                   object_id=str(v2.pk)).get()
    assert entry is not None
