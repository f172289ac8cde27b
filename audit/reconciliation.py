"""Reconciliation: every audited row must equal its latest history row, and every
history row must have its ledger entry. Catches changes made with raw SQL (even with
triggers disabled) that never went through the application."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction
from django.db.models import Max

from audit.models import AuditedModel, LedgerEntry, PendingEntry

HISTORY_ACTIONS = ("create", "update", "delete")
MAX_EXAMPLES = 5


@dataclass
class ModelReconciliation:
    """Findings for one audited model."""

    model: str
    rows: int = 0
    changed_outside: int = 0
    without_history: int = 0
    deleted_outside: int = 0
    resurrected: int = 0
    history_rows: int = 0
    ledger_entries: int = 0
    examples: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not (self.changed_outside or self.without_history or self.deleted_outside
                    or self.resurrected or self.history_rows != self.ledger_entries)

    def as_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items()}, "ok": self.ok}


def audited_models() -> list[type]:
    return [
        m for m in apps.get_models()
        if issubclass(m, AuditedModel) and not m._meta.abstract and not m._meta.proxy
        and hasattr(m, "history")
    ]


def reconcile_model(model) -> ModelReconciliation:
    history_model = model.history.model
    pk = model._meta.pk.attname
    tracked = {f.attname for f in history_model._meta.concrete_fields}
    fields = [f.attname for f in model._meta.concrete_fields if f.attname in tracked]
    result = ModelReconciliation(model=model._meta.label_lower, examples=[])

    latest_ids = (history_model.objects.values(pk).annotate(last=Max("history_id"))
                  .values_list("last", flat=True))
    latest = {
        row[pk]: row
        for row in history_model.objects.filter(history_id__in=latest_ids).values(
            *fields, "history_type", "history_id")
    }
    current = {row[pk]: row for row in model._base_manager.values(*fields)}
    result.rows = len(current)

    def example(text: str) -> None:
        if len(result.examples) < MAX_EXAMPLES:
            result.examples.append(text)

    for key, row in current.items():
        hist = latest.get(key)
        if hist is None:
            result.without_history += 1
            example(f"{result.model} {key}: row has no history (inserted outside the app)")
        elif hist["history_type"] == "-":
            result.resurrected += 1
            example(f"{result.model} {key}: row exists but its history says deleted")
        else:
            differing = [f for f in fields if row[f] != hist[f]]
            if differing:
                result.changed_outside += 1
                example(f"{result.model} {key}: {', '.join(differing)} differ from history "
                        f"#{hist['history_id']} (changed outside the app)")
    for key, hist in latest.items():
        if key not in current and hist["history_type"] != "-":
            result.deleted_outside += 1
            example(f"{result.model} {key}: row missing but never deleted through the app")

    result.history_rows = history_model.objects.count()
    # Background sealing: a history row's entry may still be pending (written with the
    # change, not chained yet); it counts, as long as it exists.
    result.ledger_entries = sum(
        m.objects.filter(object_type=result.model, action__in=HISTORY_ACTIONS).count()
        for m in (LedgerEntry, PendingEntry))
    if result.history_rows != result.ledger_entries:
        example(f"{result.model}: {result.history_rows} history rows but "
                f"{result.ledger_entries} ledger entries")
    return result


def reconcile_all() -> list[ModelReconciliation]:
    """Reconcile every audited model of every installed app, from one snapshot of the
    database (on PostgreSQL), so writes committed meanwhile, or a sealer moving entries
    from pending to chained, cannot make rows, history and entries disagree."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return [reconcile_model(m) for m in audited_models()]
    return [reconcile_model(m) for m in audited_models()]
