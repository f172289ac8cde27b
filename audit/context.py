"""Who is acting, and on behalf of which request or task.

Services, views, tasks and commands name the actor explicitly by entering an
`audit_context`; the web middleware and the Celery signals do it for requests and tasks.
Writes made with no context at all are attributed to the running process (a system actor),
never silently to nobody.
"""

from __future__ import annotations

import contextvars
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """A user, an API client or a system job."""

    type: str  # user | api_client | system
    id: str
    label: str

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(type="system", id=job[:64], label=job[:150])

    @classmethod
    def user(cls, user) -> Actor:
        return cls(type="user", id=str(user.pk), label=user.get_username()[:150])

    @classmethod
    def api_client(cls, client) -> Actor:
        return cls(type="api_client", id=str(client.pk), label=client.name[:150])

    @classmethod
    def from_user(cls, user) -> Actor:
        """The actor behind a request's user: its API client when it is one."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(type="anonymous", id="", label="anonymous")
        client = getattr(user, "_vigil_api_client", None)
        if client is not None:
            return cls.api_client(client)
        return cls.user(user)

    def as_dict(self) -> dict:
        return {"type": self.type, "id": self.id, "label": self.label}


@dataclass
class AuditContext:
    actor: Actor | None
    correlation_id: str
    reason: str = ""
    task_id: str | None = None
    actor_resolver: Callable[[], Actor] | None = field(default=None, repr=False)
    user: object | None = field(default=None, repr=False)
    user_resolver: Callable[[], object] | None = field(default=None, repr=False)

    def resolve_user(self):
        """The Django user acting, if any (None for system jobs)."""
        if self.user is None and self.user_resolver is not None:
            user = self.user_resolver()
            if user is not None and getattr(user, "is_authenticated", False):
                self.user = user
        return self.user

    def resolve_actor(self) -> Actor:
        if self.actor is None:
            self.actor = self.actor_resolver() if self.actor_resolver else _process_actor()
        return self.actor

    def actor_dict(self) -> dict:
        return self.resolve_actor().as_dict()


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "vigil_audit_context", default=None
)
_PROCESS_CORRELATION = uuid.uuid4().hex


def _process_actor() -> Actor:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:2] if sys.argv else ["python"]
    return Actor.system(" ".join(argv))


def current_context() -> AuditContext | None:
    return _current.get()


def effective_context() -> AuditContext:
    """The context in force, or one naming this process when nobody named an actor."""
    ctx = _current.get()
    if ctx is None:
        return AuditContext(actor=_process_actor(), correlation_id=_PROCESS_CORRELATION)
    return ctx


def push_context(ctx: AuditContext) -> contextvars.Token:
    return _current.set(ctx)


def pop_context(token: contextvars.Token) -> None:
    _current.reset(token)


@contextmanager
def audit_context(
    *,
    actor: Actor | None = None,
    user=None,
    correlation_id: str | None = None,
    reason: str = "",
) -> Iterator[AuditContext]:
    """Run a block as `actor` (or `user`), keeping the outer correlation id unless given."""
    outer = _current.get()
    if actor is None and user is not None:
        actor = Actor.from_user(user)
    if actor is None:
        actor = outer.resolve_actor() if outer else _process_actor()
    ctx = AuditContext(
        actor=actor,
        correlation_id=correlation_id or (outer.correlation_id if outer else uuid.uuid4().hex),
        reason=reason or (outer.reason if outer else ""),
        task_id=outer.task_id if outer else None,
        user=user if user is not None else (outer.resolve_user() if outer else None),
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
