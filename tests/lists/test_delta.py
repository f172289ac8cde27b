"""Deltas by uid and content hash on the real publications (no database)."""

from __future__ import annotations

import functools

import pytest

from screening.lists.delta import compute_delta, content_hash, delta_of_entities, field_diff
from screening.lists.parsers import parse_list
from screening.lists.records import ListedEntity, ListedName


def entity(uid="1", **kwargs) -> ListedEntity:
    base = {
        "list_code": "ofac-sdn",
        "uid": uid,
        "entity_type": "person",
        "names": (ListedName("DOE, John"),),
    }
    return ListedEntity(**{**base, **kwargs})


def test_content_hash_covers_every_published_field_but_not_storage_ids():
    a = entity()
    assert content_hash(a) == content_hash(entity(entity_id=5, version_id=9))
    for change in (
        {"programs": ("SDGT",)},
        {"dates_of_birth": ("1960",)},
        {"names": (ListedName("DOE, John"), ListedName("JD", "aka"))},
        {"extra": {"title": "Mr"}},
        {"remarks": "x"},
        {"uid": "2"},
    ):
        assert content_hash(entity(**change)) != content_hash(a), change


def test_field_diff_lists_added_and_removed_items():
    old = {"names": [["A", "primary", "Latn"]], "programs": ["X"], "remarks": "r"}
    new = {
        "names": [["A", "primary", "Latn"], ["B", "aka", "Latn"]],
        "programs": ["X"],
        "remarks": "s",
    }
    diff = field_diff(old, new)
    assert set(diff) == {"names", "remarks"}
    assert diff["names"]["added"] == [["B", "aka", "Latn"]] and diff["names"]["removed"] == []
    assert diff["remarks"] == {"old": "r", "new": "s"}


def test_compute_delta_by_uid_and_hash():
    delta = compute_delta({"1": "a", "2": "b", "3": "c"}, {"2": "b", "3": "x", "10": "n"})
    assert delta.added == ["10"] and delta.removed == ["1"] and list(delta.changed) == ["3"]


@functools.cache
def _capture(folder, day: str) -> tuple:
    """A parsed history capture, shared by the parametrized cases (parsing is the cost)."""
    return tuple(parse_list("ofac-sdn", folder / f"sdn_{day}.csv").entities)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("2023-11-02", "2024-05-02", {"added": 1827, "removed": 174, "changed": 54}),
        ("2024-05-02", "2024-05-03", {"added": 0, "removed": 8, "changed": 0}),
    ],
)
def test_sdn_history_deltas_match_the_published_figures(sanctions, old, new, expected):
    folder = sanctions / "ofac" / "sdn-csv-history"
    delta = delta_of_entities(_capture(folder, old), _capture(folder, new))
    assert delta.counts == expected
    assert all(delta.changed.values())  # every changed entity says which fields changed


def test_un_delta(sanctions):
    a = parse_list("un", sanctions / "un/UN_consolidated_2025-11-18.xml").entities
    b = parse_list("un", sanctions / "un/UN_consolidated_2026-02-27.xml").entities
    delta = delta_of_entities(a, b)
    assert (len(delta.added), len(delta.removed)) == (4, 1)
