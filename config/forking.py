"""Database connections across `fork`: a forked child must never use its parent's.

A child forked from a process with an open connection holds a copy of the parent's
socket; if both use it, their messages interleave on one PostgreSQL session (a hang, or
worse, one process reading the other's rows). Closing the parent's connections before
forking is not always enough: Django keeps connections in asgiref's thread-critical
`Local`, which switches to a per-context store while an event loop runs in the thread
(e.g. after Playwright's sync API started one), so `connections.close_all()` then closes
only that store's connections, and the forked child (where no loop runs) sees the plain
thread-local store, with whatever connection it still holds open.
"""

from __future__ import annotations

# The wrappers a forked child inherited, kept alive for the child's lifetime: letting them
# be collected would finish their libpq connections, which ends the *parent's* sessions
# (the Terminate message goes down the shared socket). Pool children leave by os._exit.
_INHERITED: list = []


def forget_inherited_connections() -> None:
    """In a freshly forked child (e.g. a multiprocessing Pool initializer): every database
    alias gets a new, unopened connection; the inherited ones are set aside unclosed."""
    from django.db import connections

    for alias in connections:
        _INHERITED.append(connections[alias])
        connections[alias] = connections.create_connection(alias)
