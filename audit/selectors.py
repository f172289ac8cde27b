"""Reads of the audit trail for the auditor portal and the API (read-only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from audit.models import Digest, LedgerEntry, PendingEntry, VerificationRun
from audit.object_types import object_type_names
from config.accounts.roles import READ_ROLES

#: Who may browse the ledger, object histories, digests and runs, export evidence and start
#: a verification: every portal role (the portal shows them the same customers and cases);
#: integration clients may not.
AUDIT_ROLES = READ_ROLES


def ledger_entry_list(*, filters: dict[str, Any] | None = None) -> QuerySet[LedgerEntry]:
    """Entries, newest first, without their (possibly large) bodies."""
    from audit.filtersets import LedgerEntryFilterSet

    qs = LedgerEntry.objects.defer("body", "header").order_by("-seq")
    if filters is not None:
        fs = LedgerEntryFilterSet(filters, queryset=qs)
        if fs.is_valid():
            return fs.qs
        return qs.none()
    return qs


def entries_with_pending(where: Q, *, fields: Sequence[str] = (),
                         limit: int | None = None) -> list[LedgerEntry | PendingEntry]:
    """Chained entries matching ``where`` in chain order (at most ``limit``), then those
    background sealing has not chained yet (PendingEntry rows: no ``seq``), each once.

    A page showing what just happened reads this: a change is on the ledger as a pending
    entry for the fraction of a second before the sealer chains it. Pending rows are read
    first, so an entry chained in between shows up among the chained rows and its
    pending copy is dropped."""
    pending = list(PendingEntry.objects.filter(where).order_by("id").only("id", *fields))
    chained_qs = (LedgerEntry.objects.filter(where).order_by("seq")
                  .only("seq", "pending_id", *fields))
    chained = list(chained_qs[:limit] if limit is not None else chained_qs)
    sealed = {e.pending_id for e in chained if e.pending_id is not None}
    return chained + [p for p in pending if p.id not in sealed]


def ledger_entry_get(*, seq: int) -> LedgerEntry:
    return LedgerEntry.objects.get(seq=seq)


def entry_body(entry: LedgerEntry) -> Any:
    """The entry's data as JSON, or None when it was redacted."""
    if entry.body is None:
        return None
    return json.loads(bytes(entry.body))


@dataclass
class HistoryStep:
    """One ledger entry about an object, with the fields it changed."""

    entry: LedgerEntry
    data: Any
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def shown_data(self) -> str:
        """An event's data for a page: indented JSON."""
        return json.dumps(self.data, ensure_ascii=False, sort_keys=True, indent=2,
                          default=str)

    @property
    def shown_changes(self) -> list[tuple[str, Any, Any]]:
        """The changes for a page: structured values (a JSON field) as JSON text."""
        return [(name, _shown(old), _shown(new)) for name, old, new in self.changes]


def _shown(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def object_history(*, object_type: str, object_id: str, limit: int = 500) -> list[HistoryStep]:
    """Every entry about one object, oldest first, each with field-level before/after
    differences computed from consecutive recorded states."""
    entries = LedgerEntry.objects.filter(object_type__in=object_type_names(object_type),
                                         object_id=str(object_id)).order_by("seq")[:limit]
    steps: list[HistoryStep] = []
    previous: dict[str, Any] | None = None
    for entry in entries:
        data = entry_body(entry)
        step = HistoryStep(entry=entry, data=data)
        state = data.get("state") if isinstance(data, dict) else None
        if isinstance(state, dict):
            before = previous or {}
            for name in sorted(set(before) | set(state)):
                if name.startswith("history_"):
                    continue
                old, new = before.get(name), state.get(name)
                if entry.action == "delete":
                    continue
                if old != new:
                    step.changes.append((name, old, new))
            previous = state
        steps.append(step)
    return steps


def digest_list() -> QuerySet[Digest]:
    return Digest.objects.defer("document").order_by("-last_seq", "kind")


def digest_get(*, pk: int) -> Digest:
    return Digest.objects.get(pk=pk)


def verification_run_list() -> QuerySet[VerificationRun]:
    return VerificationRun.objects.order_by("-created_at", "-id")


def verification_run_get(*, pk: int) -> VerificationRun:
    return VerificationRun.objects.get(pk=pk)
