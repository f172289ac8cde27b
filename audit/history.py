"""The hook that turns every django-simple-history row into a ledger entry.

This is the one place where a signal is the right tool: it guarantees that no save of an
audited model, from any code path, escapes the ledger. It runs inside the transaction of
the save (AuditedModel wraps save/delete in `atomic`)."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from audit.context import effective_context

_ACTIONS = {"+": "create", "~": "update", "-": "delete"}


def context_user():
    """The Django user behind the current audit context, for history_user."""
    return effective_context().resolve_user()


def history_defaults():
    ctx = effective_context()
    return context_user(), ctx.reason or None


def history_state(model, row) -> dict:
    state = {}
    for field in model._meta.concrete_fields:
        value = getattr(row, field.attname, None)
        if isinstance(value, FieldFile):
            value = value.name or ""
        state[field.attname] = value
    return state


def _entry_for(model, row) -> tuple[str, str, str, dict]:
    object_type = model._meta.label_lower
    data = {
        "history_id": row.pk,
        "history_type": row.history_type,
        "reason": row.history_change_reason or "",
        "state": history_state(model, row),
    }
    object_id = str(getattr(row, model._meta.pk.attname))
    return (_ACTIONS.get(row.history_type, "change"), object_type, object_id, data)


def ledger_for_history_rows(model, rows) -> None:
    from audit.services import ledger_append_many

    ledger_append_many([_entry_for(model, row) for row in rows])


@receiver(pre_create_historical_record)
def _set_reason(sender, instance, history_instance, **kwargs):
    reason = effective_context().reason
    if reason and not history_instance.history_change_reason:
        history_instance.history_change_reason = reason[:100]


@receiver(post_create_historical_record)
def _seal_history_row(sender, instance, history_instance, **kwargs):
    ledger_for_history_rows(type(instance)._meta.concrete_model, [history_instance])


@receiver(m2m_changed)
def _refuse_unaudited_m2m(sender, instance, action, **kwargs):
    """An auto-created m2m table has no history: refuse changes through it on an audited
    model (declare an AuditedModel `through=` model instead, whose rows are versioned)."""
    from audit.models import AuditedModel

    if (action.startswith("pre_") and sender._meta.auto_created
            and isinstance(instance, AuditedModel)):
        raise PermissionError(
            f"{type(instance).__name__}: many-to-many changes through an auto-created table "
            "escape the audit trail; use an audited through model"
        )
