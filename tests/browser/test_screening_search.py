"""An analyst screens a name in a real browser and reads the match: the card's words,
what the list says next to what was screened, the qualifier that moved the score, the
word-by-word table, and the listed entry behind it."""

from __future__ import annotations

import pytest

from audit.context import Actor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def small_list(transactional_db, tmp_path):
    from screening.lists.services import list_import
    from screening.matcher_cache import matcher_cache_clear
    from tests.screening.conftest import write_sdn

    matcher_cache_clear()
    list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"), actor=Actor.system("test"))
    yield
    matcher_cache_clear()


def test_analyst_reads_a_match_and_opens_the_listed_entry(login, live_server, small_list):
    from tests.browser.conftest import SCREENSHOTS

    page = login("analyst")
    page.goto(f"{live_server.url}/screening/")
    page.fill("#id_name", "Jong Un Kim")
    page.fill("#id_dob", "1984-01-08")
    page.click("form.screen-form button[type=submit]")
    card = page.locator("[data-testid=match-card]")
    card.wait_for()
    assert card.count() == 1
    assert "3 of 3 words equal; date of birth +" in card.locator(".explain").inner_text()
    assert card.locator(".tokens .tok-same").count() == 6  # three words on each side
    facts = card.locator("[data-testid=match-facts]").inner_text()
    assert "1984-01-08" in facts and "agrees" in facts
    table = card.locator("details.word-table")
    assert not table.locator("table").is_visible()
    table.locator("summary").click()
    assert table.locator("table").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "screening-search.png"), full_page=True)
    entity_url = card.locator("h3 a").get_attribute("href")

    # a date that is not a date: the field says so, nothing is screened
    page.fill("#id_dob", "1984-02-30")
    page.click("form.screen-form button[type=submit]")
    page.wait_for_selector(".field-dob .field-error")
    assert "not a calendar date" in page.locator(".field-dob .field-error").inner_text()
    assert page.locator("[data-testid=match-card]").count() == 0

    page.goto(f"{live_server.url}{entity_url}")
    page.wait_for_selector("h1:has-text('KIM, Jong Un')")
    assert "DPRK2" in page.content()
