"""Built matcher indexes kept on disk (screening.index_store): a process loads the index
another built, and never one that another key, another deployment or a damaged file
would give."""

from __future__ import annotations

import logging
import os
import time

import pytest

from screening import index_store
from screening.matcher_cache import current_matcher, matcher_cache_clear, matcher_for_versions
from screening.matching.engine import Matcher
from tests.screening.conftest import SDN, write_sdn

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    settings.SCREENING_INDEX_DIR = str(tmp_path / "index")
    return tmp_path / "index"


def _results(matcher, names=("Osama bin Laden", "Banco Nacional de Cuba", "Kim Jong Un",
                             "Joaquin Guzman", "Nobody Atall")):
    return [repr(matcher.search(n)) for n in names]


def _files(folder):
    return sorted(p.name for p in folder.glob("*.index"))


def _no_entity_reads(monkeypatch):
    """Fail the test if the matcher is built from the database rows."""
    from screening.lists import selectors

    def refuse(*args, **kwargs):
        raise AssertionError("listed entities were read: the index was built, not loaded")

    monkeypatch.setattr(selectors, "listed_entities", refuse)


def test_the_second_process_loads_the_index_the_first_built(active_list, store, monkeypatch):
    built = current_matcher()
    assert len(_files(store)) == 1
    expected = _results(built.matcher)
    assert "BIN LADIN" in expected[0]

    matcher_cache_clear()  # as another process, or this one after a restart
    _no_entity_reads(monkeypatch)
    loaded = current_matcher()
    assert loaded.matcher is not built.matcher
    assert loaded.versions == built.versions
    assert _results(loaded.matcher) == expected
    assert loaded.matcher.search_many([{"name": "Osama bin Laden"}]) == [
        built.matcher.search("Osama bin Laden")]


def test_a_new_version_is_built_not_loaded(active_list, store, tmp_path):
    from audit.context import Actor
    from screening.lists.services import list_import

    first = current_matcher()
    assert first.matcher.search("Zorawar Quillfeather") == []
    rows = [*SDN, ("9999", "QUILLFEATHER, Zorawar", "individual", "SDGT", "", "")]
    outcome = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "next", rows=rows),
                          actor=Actor.system("test"))
    assert outcome.version.is_active
    matcher_cache_clear()
    second = current_matcher()
    assert second.key != first.key
    assert "QUILLFEATHER" in repr(second.matcher.search("Zorawar Quillfeather"))
    assert len(_files(store)) == 2


def test_reproducing_a_past_version_uses_the_store(active_list, store, monkeypatch):
    matcher_for_versions((active_list.pk,))  # no cached matcher: built and stored
    assert len(_files(store)) == 1
    _no_entity_reads(monkeypatch)
    matcher_cache_clear()
    assert "BIN LADIN" in _results(matcher_for_versions((active_list.pk,)))[0]


def test_the_key_names_everything_the_index_depends_on(active_list, settings, monkeypatch):
    from django.db import connection

    base = index_store.index_key([active_list])
    assert index_store.index_key([active_list]) == base  # stable

    def changed(**fields):
        saved = {f: getattr(active_list, f) for f in fields}
        for f, v in fields.items():
            setattr(active_list, f, v)
        try:
            return index_store.index_key([active_list])
        finally:
            for f, v in saved.items():
                setattr(active_list, f, v)

    assert changed(pk=active_list.pk + 1) != base
    assert changed(sha256="0" * 64) != base
    assert changed(imported_at=None) != base
    monkeypatch.setattr(index_store, "ALGORITHM_VERSION", "vigil-match/0.0")
    assert index_store.index_key([active_list]) != base
    monkeypatch.undo()
    monkeypatch.setattr(index_store, "code_fingerprint", lambda: "edited")
    assert index_store.index_key([active_list]) != base
    monkeypatch.undo()
    monkeypatch.setitem(connection.settings_dict, "NAME", "another_database")
    assert index_store.index_key([active_list]) != base
    monkeypatch.undo()
    monkeypatch.setattr(index_store.np, "__version__", "0.0.0")
    assert index_store.index_key([active_list]) != base


def _stored(store, active_list):
    current_matcher()
    matcher_cache_clear()
    (path,) = store.glob("*.index")
    return path


@pytest.mark.parametrize("damage", ["altered", "truncated", "foreign", "other_secret"])
def test_a_file_that_does_not_verify_is_set_aside_and_the_index_built(
        active_list, store, settings, caplog, damage):
    path = _stored(store, active_list)
    data = path.read_bytes()
    if damage == "altered":  # one byte of the pickle changed: the signature fails
        i = len(data) - 100
        path.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1:])
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":
        path.write_bytes(b"\x80\x04K\x01.")  # a bare pickle, not a Vigil index file
    else:  # written by a deployment with another SECRET_KEY
        settings.SECRET_KEY = "another-deployment-" + "x" * 40
    with caplog.at_level(logging.WARNING, logger="screening.index_store"):
        cm = current_matcher()
    assert "BIN LADIN" in _results(cm.matcher)[0]
    reason = "not a Vigil index file" if damage == "foreign" else "signature does not verify"
    assert reason in caplog.text and "not used" in caplog.text
    # set aside, then stored anew by the build, under this deployment's key
    assert index_store.load_index(path.stem) is not None


def test_a_signed_file_that_is_not_an_index_is_refused(active_list, store, caplog):
    import pickle

    store.mkdir(parents=True)
    payload = pickle.dumps({"not": "an index"})
    path = store / "k.index"
    path.write_bytes(index_store.MAGIC + index_store._mac(payload) + payload)
    with caplog.at_level(logging.WARNING, logger="screening.index_store"):
        assert index_store.load_index("k") is None
    assert "holds no matcher index" in caplog.text
    assert not path.exists()


def test_an_unwritable_store_only_costs_the_build(active_list, settings, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.SCREENING_INDEX_DIR = str(blocker / "index")
    with caplog.at_level(logging.WARNING, logger="screening.index_store"):
        cm = current_matcher()
    assert "BIN LADIN" in _results(cm.matcher)[0]
    assert "not stored" in caplog.text


def test_the_store_off_writes_nothing(active_list, settings, tmp_path):
    settings.SCREENING_INDEX_DIR = ""
    cm = current_matcher()
    assert index_store.save_index("k", cm.matcher.index) is None
    assert index_store.load_index("k") is None


def test_files_are_private_and_pruned_to_the_most_recently_used(active_list, store, settings):
    settings.SCREENING_INDEX_KEEP = 2
    index = Matcher([]).index
    old = time.time() - 7200
    for i, key in enumerate(["a", "b"]):
        path = index_store.save_index(key, index)
        os.utime(path, (old + i, old + i))
    assert index_store.load_index("a") is not None  # used now: the most recent
    abandoned = store / ".writing-dead.partial"
    abandoned.write_bytes(b"half")
    os.utime(abandoned, (old, old))
    fresh = store / ".writing-live.partial"  # another process writing right now
    fresh.write_bytes(b"half")
    index_store.save_index("d", index)
    assert _files(store) == ["a.index", "d.index"]
    assert not abandoned.exists() and fresh.exists()
    assert (store.stat().st_mode & 0o777) == 0o700
    assert (os.stat(store / "d.index").st_mode & 0o777) == 0o600


def test_an_index_already_stored_is_not_written_again(active_list, store):
    index = Matcher([]).index
    assert index_store.save_index("k", index) is not None
    assert index_store.save_index("k", index) is None


def test_an_activation_builds_and_keeps_the_new_index(db, store, settings, tmp_path,
                                                      django_capture_on_commit_callbacks):
    from audit.context import Actor
    from screening.lists.services import list_import

    settings.SCREENING_DELTA_ON_ACTIVATION = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    matcher_cache_clear()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"),
                              actor=Actor.system("test"))
    assert outcome.version.is_active
    assert len(_files(store)) == 1  # built by the warm-up task, not by a query
    assert index_store.load_index(index_store.index_key([outcome.version])) is not None
    matcher_cache_clear()


def test_activations_batched_store_one_index_for_the_lists_active_at_the_end(
        db, store, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    """The demo activates three versions in a row: one index is built and stored, the
    one of the versions active at the end; without the batching, one per activation."""
    from audit.context import Actor
    from screening import tasks
    from screening.lists.services import list_import
    from screening.services import matcher_warm_batched

    settings.SCREENING_DELTA_ON_ACTIVATION = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    matcher_cache_clear()
    warmed = []
    real = tasks.screening_matcher_warm_task.delay
    monkeypatch.setattr(tasks.screening_matcher_warm_task, "delay",
                        lambda *a, **k: (warmed.append(1), real(*a, **k))[1])
    rows = list(SDN)
    with matcher_warm_batched(), django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            rows.append((f"92{n:02d}", f"EXAMPLE, Beta {n}", "individual", "SDGT", "", ""))
            last = list_import(source="ofac-sdn", actor=Actor.system("test"),
                               path=write_sdn(tmp_path / f"v{n}", rows)).version
            assert last.is_active
    assert len(warmed) == 1 and len(_files(store)) == 1
    assert index_store.load_index(index_store.index_key([last])) is not None

    with django_capture_on_commit_callbacks(execute=True):
        rows.append(("9299", "EXAMPLE, Gamma", "individual", "SDGT", "", ""))
        assert list_import(source="ofac-sdn", actor=Actor.system("test"),
                           path=write_sdn(tmp_path / "v9", rows)).version.is_active
    assert warmed == [1, 1]  # outside the block: one per activation, as before
    matcher_cache_clear()


@pytest.mark.celery_worker
@pytest.mark.slow
def test_a_real_worker_builds_the_index_this_process_then_loads(
        transactional_db, settings, tmp_path, monkeypatch):
    """Production's path: an activation queues the warm-up, a Celery worker process
    builds and stores the index, and another process (this one) finds it under the same
    key and loads it without reading an entity row."""
    from audit.context import Actor
    from screening.lists.services import list_import
    from tests.conftest import celery_worker_running

    store = tmp_path / "index"
    settings.SCREENING_INDEX_DIR = str(store)
    settings.SCREENING_DELTA_ON_ACTIVATION = False
    matcher_cache_clear()
    with celery_worker_running(tmp_path, env={"SCREENING_INDEX_DIR": str(store)}):
        outcome = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "sdn"),
                              actor=Actor.system("test"))
        assert outcome.version.is_active
        deadline = time.monotonic() + 90
        while not _files(store) and time.monotonic() < deadline:
            time.sleep(0.25)
    log = (tmp_path / "worker.log").read_text()
    assert "screening.matcher_warm" in log and "succeeded" in log, log[-3000:]
    assert _files(store) == [f"{index_store.index_key([outcome.version])}.index"]
    _no_entity_reads(monkeypatch)
    loaded = current_matcher()
    assert "BIN LADIN" in _results(loaded.matcher)[0]
    matcher_cache_clear()
