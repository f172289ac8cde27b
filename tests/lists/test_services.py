"""Importing versions: idempotence, activation, deltas, sanity band, refusals (PostgreSQL)."""

from __future__ import annotations

import pytest

from cases.models import Case
from screening.lists import selectors
from screening.lists.choices import VersionStatus
from screening.lists.models import Entity, EntityChange, EntityName, ListSource, ListVersion
from screening.lists.services import (
    ListImportError,
    demo_lists_load,
    list_import,
    list_version_activate,
)
from screening.lists.signals import list_version_activated
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def activations():
    """Signals received (on-commit callbacks are run with `committed(...)`)."""
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    list_version_activated.connect(receiver)
    yield seen
    list_version_activated.disconnect(receiver)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """committed(fn, **kw): call fn, then run its on-commit callbacks as a commit would."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(**kwargs)
        return result

    return run


def test_import_creates_an_active_version_with_entities_names_and_one_audit_record(
    sanctions, activations, committed
):
    before = sealed_ledger().filter(action="lists.version_imported").count()
    outcome = committed(
        list_import, source="ofac-cons", path=sanctions / "ofac/consolidated-2018-04"
    )
    version = outcome.version
    assert outcome.created and outcome.activated
    assert version.is_active and version.status == VersionStatus.ACTIVE
    assert version.entity_count == Entity.objects.filter(version=version).count() == 639
    assert version.name_count == EntityName.objects.filter(version=version).count() > 639
    assert len(version.sha256) == 64 and version.size > 0 and version.format == "ofac-csv"
    assert version.importer_version
    entries = sealed_ledger().filter(action="lists.version_imported")
    assert entries.count() == before + 1
    assert activations == [
        {
            "signal": list_version_activated,
            "version_id": version.pk,
            "source": "ofac-cons",
            "previous_version_id": None,
        }
    ]


def test_same_file_twice_is_a_no_op(sanctions):
    path = sanctions / "un/UN_consolidated_2025-11-18.xml"
    first = list_import(source="un", path=path)
    second = list_import(source="un", path=path)
    assert second.version.pk == first.version.pk and not second.created
    assert ListVersion.objects.count() == 1 and Entity.objects.count() == 1000


def test_new_version_records_its_delta_and_supersedes_the_previous(
    sanctions, activations, committed
):
    old = list_import(source="un", path=sanctions / "un/UN_consolidated_2025-11-18.xml").version
    new = committed(
        list_import, source="un", path=sanctions / "un/UN_consolidated_2026-02-27.xml"
    ).version
    old.refresh_from_db()
    assert new.is_active and not old.is_active and old.status == VersionStatus.SUPERSEDED
    assert (new.added_count, new.removed_count) == (4, 1)
    assert new.publication_date.isoformat() == "2026-02-27"
    delta = selectors.version_delta(new.pk)
    assert delta.previous_version_id == old.pk and delta.counts["added"] == 4
    assert len(delta.removed) == 1 and delta.counts["changed"] == new.changed_count
    rescreen = list(delta.entities_to_rescreen())
    assert {e.uid for e in rescreen} == set(delta.added) | set(delta.changed)
    assert all(e.version_id == new.pk and e.entity_id and e.content_hash for e in rescreen)
    for change in EntityChange.objects.filter(version=new, kind="changed"):
        assert change.diff and change.old_entity.version_id == old.pk
    assert activations[-1]["version_id"] == new.pk
    assert activations[-1]["previous_version_id"] == old.pk


def test_sharp_drop_is_held_previous_stays_active_and_a_case_opens(sanctions, tmp_path):
    list_import(source="un", path=sanctions / "un/UN_consolidated_2025-11-18.xml")
    text = (sanctions / "un/UN_consolidated_2026-02-27.xml").read_text()
    start, end = text.index("<INDIVIDUALS>") + len("<INDIVIDUALS>"), text.index("</INDIVIDUALS>")
    partial = tmp_path / "un_partial.xml"
    partial.write_text(text[:start] + text[end:])  # every individual missing
    outcome = list_import(source="un", path=partial)
    assert outcome.created and not outcome.activated
    assert (
        outcome.version.status == VersionStatus.HELD
        and "fell from" in outcome.version.status_reason
    )
    active = selectors.active_versions()
    assert [v.pk for v in active] != [outcome.version.pk] and active[0].entity_count == 1000
    source = ListSource.objects.get(code="un")
    assert "held" in source.last_error
    case = Case.objects.get(source="lists")
    assert case.subject_id == "un" and case.evidence.count() == 1
    # An administrator may still decide to activate it, atomically.
    list_version_activate(version_id=outcome.version.pk, reason="reviewed")
    assert selectors.active_versions()[0].pk == outcome.version.pk


@pytest.mark.parametrize("damage", ["truncate", "empty", "encoding"])
def test_refused_file_leaves_database_unchanged_and_raises_alert(sanctions, tmp_path, damage):
    first = list_import(source="ofac-sdn", path=sanctions / "ofac/sdn-csv-small").version
    data = (sanctions / "ofac/sdn-csv-history/sdn_2022-11-01.csv").read_bytes()
    bad = tmp_path / "sdn.csv"
    bad.write_bytes(
        {
            "truncate": data[: len(data) // 2],
            "empty": b"",
            "encoding": data[:5000].replace(b"CUBA", "CUBÁ".encode("cp1252")),
        }[damage]
    )
    entities, versions = Entity.objects.count(), ListVersion.objects.count()
    with pytest.raises(ListImportError) as info:
        list_import(source="ofac-sdn", path=bad)
    assert "sdn.csv" in str(info.value)
    assert (Entity.objects.count(), ListVersion.objects.count()) == (entities, versions)
    assert selectors.active_versions()[0].pk == first.pk
    source = ListSource.objects.get(code="ofac-sdn")
    assert source.last_error == str(info.value) and source.last_error_at
    assert Case.objects.filter(source="lists", subject_id="ofac-sdn").count() == 1
    assert sealed_ledger().filter(action="lists.import_refused").count() == 1


def test_listed_entities_round_trip_the_parsed_records(sanctions):
    from screening.lists.delta import content_hash
    from screening.lists.parsers import parse_list

    path = sanctions / "ofac/consolidated-2018-04"
    version = list_import(source="ofac-cons", path=path).version
    stored = {e.uid: e for e in selectors.listed_entities([version.pk])}
    parsed = {e.uid: e for e in parse_list("ofac-cons", path).entities}
    assert stored.keys() == parsed.keys()
    for uid, entity in parsed.items():
        assert stored[uid].content_hash == content_hash(entity)
        assert stored[uid].names == entity.names and stored[uid].identifiers == entity.identifiers
        assert stored[uid].list_code == "ofac-cons" and stored[uid].entity_id


def test_entity_rows_are_insert_only(sanctions):
    list_import(source="ofac-sdn", path=sanctions / "ofac/sdn-csv-small")
    entity = Entity.objects.first()
    with pytest.raises(PermissionError):
        Entity.objects.filter(pk=entity.pk).update(remarks="edited")
    with pytest.raises(PermissionError):
        entity.save()
    with pytest.raises(PermissionError):
        EntityName.objects.all().delete()


def test_demo_loader_is_idempotent(activations):
    import json

    from audit.context import Actor

    actor = Actor.system("demo")
    first = demo_lists_load(actor=actor)
    again = demo_lists_load(actor=actor)
    assert all(s["created"] for s in first.values()) and not any(
        s["created"] for s in again.values()
    )
    json.dumps(again)  # the summary goes into the audit record of `load_demo`
    codes = {v.source.code: v for v in selectors.active_versions()}
    assert codes["ofac-sdn"].entity_count == 14965 and codes["un"].entity_count == 1003
    assert codes["un"].added_count == 4


def test_older_publication_is_held_not_activated(un_small):
    newer = list_import(source="un", path=un_small[1]).version
    older = list_import(source="un", path=un_small[0])
    assert not older.activated and "older than the active" in older.version.status_reason
    assert selectors.active_versions()[0].pk == newer.pk
