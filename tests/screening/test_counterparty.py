"""The monitoring sanctions rule's view of the screening engine."""

import pytest

from screening.models import ScreeningQuery
from screening.services import screen_counterparty

pytestmark = pytest.mark.django_db


def test_counterparty_hit_returns_list_entity_and_unit_score(active_list):
    hits = screen_counterparty("Banco Nacional de Cuba", "CU")
    assert hits, "a listed bank must be found"
    best = max(hits, key=lambda h: h["score"])
    assert best["list"] == "ofac-sdn" and best["uid"] == "306"
    assert 0.85 <= best["score"] <= 1.0
    assert best["list_version"] == active_list.pk
    assert ScreeningQuery.objects.count() == 0  # the alert trace records the hit instead


def test_counterparty_clean_and_empty_names(active_list):
    assert screen_counterparty("Acme Groceries Ltd", "GB") == []
    assert screen_counterparty("   ", None) == []


def test_monitoring_uses_screening_by_default(active_list):
    from monitoring import services

    services._configured_screen.cache_clear()
    screen = services.default_screen()
    assert screen is not None
    assert screen("KIM, Jong Un", "KP")[0]["uid"] == "20157"
    services._configured_screen.cache_clear()


def test_counterparty_results_are_memoised_per_refresh_not_per_process(monkeypatch):
    from monitoring import services

    calls = []

    def fake(name, country):
        calls.append(name)
        return [{"score": 0.95, "list": "ofac-sdn", "uid": str(len(calls)), "name": name}]

    monkeypatch.setattr(services, "_configured_screen", lambda: fake)
    first = services.default_screen()
    assert first("Acme", "GB") == first("Acme", "GB")
    assert calls == ["Acme"]  # repeated counterparties are screened once per refresh
    refreshed = services.default_screen()
    assert refreshed("Acme", "GB")[0]["uid"] == "2"  # a refresh asks the engine again
    assert calls == ["Acme", "Acme"]
