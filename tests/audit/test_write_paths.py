"""One parametrised test per write path: every path that changes an audited row leaves a
history row *and* a ledger entry in the same transaction, or is refused."""

from __future__ import annotations

import pytest
from celery import shared_task
from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.auth.models import User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import m2m_changed
from django.test import RequestFactory

from audit.context import audit_context
from audit.models import LedgerEntry
from audit.services import audit_record, ledger_seal_pending
from audit.verification import verify_ledger
from cases.models import Customer

pytestmark = pytest.mark.django_db


@shared_task(name="tests.audit.rename_customer")
def rename_customer(pk: int, name: str) -> None:
    customer = Customer.objects.get(pk=pk)
    customer.name = name
    customer.save(update_fields=["name"])


def _save_create(c):
    Customer.objects.create(external_id="NEW", name="New")
    return 1, "create"


def _save_update(c):
    c[0].name = "Renamed"
    c[0].save(update_fields=["name"])
    return 1, "update"


def _delete(c):
    c[0].delete()
    return 1, "delete"


def _bulk_create(c):
    Customer.objects.bulk_create([Customer(external_id=f"B{i}", name=f"B{i}") for i in range(3)])
    return 3, "create"


def _bulk_update(c):
    for x in c[:2]:
        x.country = "FR"
    Customer.objects.bulk_update(c[:2], ["country"])
    return 2, "update"


def _queryset_update(c):
    Customer.objects.filter(pk__in=[x.pk for x in c[:3]]).update(country="DE")
    return 3, "update"


def _queryset_delete(c):
    Customer.objects.filter(pk__in=[x.pk for x in c[:2]]).delete()
    return 2, "delete"


def _admin_action(c):
    request = RequestFactory().post("/admin/", {"post": "yes"})
    request.user = User.objects.create_superuser("root", password="x-Pa55word!long")
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = admin.ModelAdmin(Customer, admin.site)
    delete_selected(model_admin, request, Customer.objects.filter(pk=c[0].pk))
    return 1, "delete"


def _command(c):
    call_command(
        "shell",
        command=(
            "from cases.models import Customer; "
            f"Customer.objects.filter(pk={c[0].pk}).update(name='by command')"
        ),
    )
    return 1, "update"


def _celery_task(c):
    rename_customer.delay(c[0].pk, "by task")
    return 1, "update"


WRITE_PATHS = {
    "save-create": _save_create,
    "save-update": _save_update,
    "delete": _delete,
    "bulk_create": _bulk_create,
    "bulk_update": _bulk_update,
    "queryset-update": _queryset_update,
    "queryset-delete": _queryset_delete,
    "admin-action": _admin_action,
    "command": _command,
    "celery-task": _celery_task,
}


@pytest.mark.parametrize("path", sorted(WRITE_PATHS))
def test_write_path_records_history_and_ledger(customers, path):
    history_before = Customer.history.count()
    seq_before = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    expected, action = WRITE_PATHS[path](customers)
    ledger_seal_pending()  # background sealing: entries are chained after commit
    new_history = list(Customer.history.order_by("history_id")[history_before:])
    new_entries = list(
        LedgerEntry.objects.filter(seq__gt=seq_before, object_type="cases.customer").order_by("seq")
    )
    assert len(new_history) == expected
    assert len(new_entries) == expected
    assert {e.action for e in new_entries} == {action}
    assert sorted(e.object_id for e in new_entries) == sorted(str(h.id) for h in new_history)
    result = verify_ledger()
    assert result.ok, result.summary()


def test_task_entries_name_the_task_as_actor_and_correlation(customers):
    seq_before = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    result = rename_customer.delay(customers[1].pk, "by task")
    ledger_seal_pending()
    entry = LedgerEntry.objects.get(seq=seq_before + 1)
    assert entry.actor_type == "system" and entry.actor_label == "tests.audit.rename_customer"
    assert entry.correlation_id == result.id


def test_entry_and_change_share_one_transaction(customers):
    seq_before = LedgerEntry.objects.count()
    history_before = Customer.history.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        customers[0].name = "rolled back"
        customers[0].save(update_fields=["name"])
        audit_record(
            action="screening.query", object_type="screening.query", object_id="1", data={"q": "x"}
        )
        raise RuntimeError("abort")
    ledger_seal_pending()  # background sealing: a rolled-back entry must not be pending either
    assert LedgerEntry.objects.count() == seq_before
    assert Customer.history.count() == history_before


def test_entries_carry_actor_reason_and_before_after(customers, analyst):
    with audit_context(user=analyst, correlation_id="req-42", reason="KYC refresh"):
        customers[0].country = "IE"
        customers[0].save(update_fields=["country"])
    ledger_seal_pending()
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert (entry.actor_type, entry.actor_label, entry.correlation_id) == (
        "user",
        analyst.username,
        "req-42",
    )
    import json

    body = json.loads(bytes(entry.body))
    assert body["state"]["country"] == "IE" and body["reason"] == "KYC refresh"


def test_unaudited_m2m_change_is_refused(customers):
    with pytest.raises(PermissionError, match="many-to-many"):
        m2m_changed.send(
            sender=User.groups.through,
            instance=customers[0],
            action="pre_add",
            reverse=False,
            model=User,
            pk_set={1},
            using="default",
        )


def test_ledger_rows_cannot_be_changed_through_the_orm(customers):
    entry = LedgerEntry.objects.first()
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        LedgerEntry.objects.filter(seq=1).update(actor_label="x")
    with pytest.raises(PermissionError):
        LedgerEntry.objects.all().delete()


@pytest.mark.postgres
def test_ledger_and_history_tables_carry_no_like_prefix_indexes(db):
    """Every audited write maintains these tables' indexes; none may be a LIKE-prefix twin
    (migrate drops them from history tables; the ledger declares its indexes in Meta)."""
    from django.db import connection

    from audit.immutability import drop_history_like_indexes, protected_models

    tables = [m._meta.db_table for m in protected_models()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = ANY(%s) "
            "AND pg_get_indexdef(i.indexrelid) LIKE %s",
            [tables, "%pattern_ops%"],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "CREATE INDEX cases_historicalcustomer_name_x_like ON "
            "cases_historicalcustomer (name varchar_pattern_ops)"
        )
    assert drop_history_like_indexes() == ["cases_historicalcustomer_name_x_like"]
    assert drop_history_like_indexes() == []


def test_a_large_bulk_write_is_versioned_row_by_row_as_a_small_one(analyst):
    """bulk_create and its history rows and entries go in by COPY on PostgreSQL: each row
    stored as the ORM stores it, one history row and one chained entry per row, with the
    actor and reason of the context."""
    from audit.selectors import entry_body
    from config.rows import COPY_FROM_ROWS

    n = COPY_FROM_ROWS * 3
    seq_before = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    with audit_context(user=analyst, reason="bulk load"), transaction.atomic():
        made = Customer.objects.bulk_create([
            Customer(external_id=f"BULK-{i}", name=f"Bülk\t{i}", country="DE",
                     data={"k": [i, None]}) for i in range(n)])
        one = Customer.objects.create(external_id="ONE", name="Bülk\t0", country="DE",
                                      data={"k": [0, None]})
    ledger_seal_pending()
    keys = [c.pk for c in made]
    assert keys == sorted(keys) and None not in keys and keys[-1] < one.pk
    stored = {c.pk: c for c in Customer.objects.filter(pk__in=keys)}
    assert stored[keys[0]].name == "Bülk\t0" and stored[keys[0]].data == {"k": [0, None]}
    assert stored[keys[0]].created_at == made[0].created_at is not None
    history = {h.id: h for h in Customer.history.filter(id__in=keys)}
    assert len(history) == n
    first, single = history[keys[0]], Customer.history.get(id=one.pk)
    for field in ("history_type", "history_user_id", "history_change_reason", "name",
                  "country", "data"):
        assert getattr(first, field) == getattr(single, field), field
    entries = list(LedgerEntry.objects.filter(seq__gt=seq_before, object_type="cases.customer")
                   .order_by("seq"))
    assert [e.object_id for e in entries] == [str(k) for k in keys] + [str(one.pk)]
    assert entry_body(entries[0])["state"]["name"] == "Bülk\t0"
    assert {e.actor_label for e in entries} == {analyst.username}
    result = verify_ledger()
    assert result.ok, result.summary()
