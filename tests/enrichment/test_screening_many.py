"""Enrichment screens an application's subjects with one call of the screening engine
(`screening_search_many`): each subject must still be logged, audited and turned into
cases exactly as separate `screening_search` calls would do it."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.context import Actor
from cases.models import CaseEvidence
from screening.matcher_cache import current_matcher
from screening.services import screening_search, screening_search_many
from tests.conftest import sealed_ledger
from tests.screening.conftest import active_list, customer  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
LOGGED_FIELDS = ("origin", "use", "actor_type", "actor_id", "customer_id", "input",
                 "normalized", "list_versions", "algorithm_version", "config", "threshold",
                 "results", "suppressed", "hit_count", "top_score")


def _subjects(client_customer):
    return [
        {"name": client_customer.name, "entity_type": "person", "country": "SA",
         "customer": client_customer},
        {"name": "Kim Jong Un", "entity_type": "person", "dob": "1984-01-08",
         "use": "onboarding"},
        {"name": "Harmless Trading Ltd", "entity_type": "organisation", "country": "GB"},
    ]


def _ledger_body(query) -> dict:
    entry = sealed_ledger().get(action="screening.query", object_id=str(query.pk))
    return json.loads(bytes(entry.body))


def test_each_subject_is_logged_and_audited_as_a_single_search(active_list, customer):  # noqa: F811
    many = screening_search_many(subjects=_subjects(customer), actor=ACTOR)
    singles = [screening_search(**subject, actor=ACTOR) for subject in _subjects(customer)]
    assert [q.hit_count > 0 for q in many] == [True, True, False]
    for batched, single in zip(many, singles, strict=True):
        assert batched.pk != single.pk
        for field in LOGGED_FIELDS:
            assert getattr(batched, field) == getattr(single, field), field
        assert _ledger_body(batched) == _ledger_body(single)
    # The customer's hit opened (or added evidence to) its case, citing the batched query.
    assert CaseEvidence.objects.filter(
        object_id__startswith=f"{many[0].pk}:ofac-sdn:").exists()


def test_one_lookup_of_list_versions_and_one_insert_for_all_subjects(active_list, customer):  # noqa: F811
    current_matcher()  # built already: only the per-call statements are counted below
    with CaptureQueriesContext(connection) as captured:
        queries = screening_search_many(subjects=_subjects(customer), actor=ACTOR)
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(queries) == 3
    assert sum('FROM "lists_listversion"' in s for s in statements) == 1
    assert sum(s.startswith('INSERT INTO "screening_screeningquery"') for s in statements) == 1


def test_invalid_subject_logs_nothing(active_list):  # noqa: F811
    from screening.models import ScreeningQuery
    from screening.services import ScreeningInputError

    before = ScreeningQuery.objects.count()
    with pytest.raises(ScreeningInputError):
        screening_search_many(subjects=[{"name": "Kim Jong Un"},
                                        {"name": "X", "country": "not a country"}],
                              actor=ACTOR)
    assert ScreeningQuery.objects.count() == before
