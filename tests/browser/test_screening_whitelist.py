"""An analyst whitelists a customer's screening hit from the query page, with a reason, in a
real browser; the next screening of that customer is suppressed; an auditor sees the same
page without the button and cannot post it."""

from __future__ import annotations

import pytest

from audit.context import Actor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def customer_hit(transactional_db, tmp_path):
    from cases.services import customer_upsert
    from screening.lists.services import list_import
    from screening.matcher_cache import matcher_cache_clear
    from screening.services import screening_search
    from tests.screening.conftest import write_sdn

    matcher_cache_clear()
    list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"),
                actor=Actor.system("test"))
    customer = customer_upsert(external_id="W-1", name="Kim Jong Un")
    yield screening_search(name=customer.name, customer=customer, actor=Actor.system("test"))
    matcher_cache_clear()


def test_analyst_whitelists_a_hit_and_the_auditor_cannot(login, live_server, customer_hit):
    from screening.models import Whitelist
    from screening.services import screening_search

    url = f"{live_server.url}/screening/queries/{customer_hit.pk}/"
    page = login("analyst")
    page.goto(url)
    form = page.locator("form.whitelist-hit")
    assert form.count() == 1
    # the reason is required: the browser refuses an empty one and nothing is stored
    form.locator("button[type=submit]").click()
    assert not Whitelist.objects.exists()
    form.locator("textarea[name=reason]").fill("Different person: born 1990, Seoul")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Whitelisted for this customer")
    assert "whitelisted for customer W-1" in page.content()
    w = Whitelist.objects.get()
    assert (w.entity_uid, w.reason, w.reviewer.username) == (
        "20157", "Different person: born 1990, Seoul", "analyst")
    again = screening_search(name="Kim Jong Un", customer=customer_hit.customer,
                             actor=Actor.system("test"))
    assert again.hit_count == 0 and again.suppressed[0]["entity_uid"] == "20157"

    auditor = login("auditor")
    auditor.goto(url)
    auditor.wait_for_selector("h1")
    assert auditor.locator("form.whitelist-hit").count() == 0
    status = auditor.evaluate(
        """async (url) => {
            const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken='));
            const body = new URLSearchParams({list_code: 'ofac-sdn', entity_uid: '306',
                                              reason: 'not allowed'});
            const r = await fetch(url + 'whitelist', {method: 'POST', body,
                headers: {'X-CSRFToken': csrf ? csrf.split('=')[1] : ''}});
            return r.status;
        }""", url)
    assert status == 403
    assert Whitelist.objects.count() == 1
