"""config.forking: a forked child opens its own database session and leaves its parent's
alone (real PostgreSQL, real fork)."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing

import pytest
from django.db import connection

from config.forking import forget_inherited_connections

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_loop")]


@pytest.fixture
def no_loop():
    """No event loop runs in this thread during the test (Playwright's sync API leaves one
    running in a test process that ran browser tests: Django's connections then live in a
    per-context store), so the parent starts from the store its children see."""
    running = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    yield
    asyncio.events._set_running_loop(running)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _in_child(_: int) -> tuple[bool, int]:
    # open before the first task: only what the child inherited
    inherited = connection.connection is not None
    pid = _backend_pid()
    gc.collect()  # nothing inherited may be finalized (that would end the parent's session)
    return inherited, pid


def _children(initializer) -> list[tuple[bool, int]]:
    # one process, so even without the initializer two children never talk at once on a
    # shared socket (the control below fails instead of hanging)
    with multiprocessing.get_context("fork").Pool(1, initializer=initializer) as pool:
        return pool.map(_in_child, range(3))


def test_a_forked_child_opens_its_own_session_and_the_parents_survives():
    parent = _backend_pid()
    found = _children(forget_inherited_connections)
    assert found[0][0] is False  # later tasks reuse the child's own session
    assert parent not in {pid for _, pid in found}
    assert len({pid for _, pid in found}) == 1  # the child's own session, reused
    assert _backend_pid() == parent  # the parent's session was not ended by the child


def test_without_it_a_child_would_talk_on_its_parents_session():
    # the control: what the initializer prevents (the child uses the parent's socket)
    parent = _backend_pid()
    found = _children(None)
    assert found[0] == (True, parent)


def test_a_child_forked_while_an_event_loop_runs_in_the_thread(monkeypatch):
    # After Playwright's sync API (or any loop) runs in this thread, Django's connections
    # live in a per-context store; close_all() closes those, while the child, where no
    # loop runs, sees the plain thread-local store with its connection still open.
    from django.db import connections

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as tests/browser sets it
    thread_local = _backend_pid()
    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)
    try:
        in_context = _backend_pid()
        connections.close_all()  # closes only the per-context connection
        found = _children(forget_inherited_connections)
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    assert in_context != thread_local
    assert found[0][0] is False
    assert len({pid for _, pid in found}) == 1
    assert thread_local not in {pid for _, pid in found}
    assert _backend_pid() == thread_local
