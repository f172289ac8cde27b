"""ledger_batch (one pending INSERT per block) and the history rows' direct INSERT."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext

from audit.context import Actor, audit_context
from audit.models import PendingEntry
from audit.sealer import sealer_stop
from audit.services import audit_record, ledger_batch, ledger_seal_pending
from audit.verification import verify_ledger
from cases.models import Customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def background(audit_env):
    audit_env.AUDIT_SEAL_MODE = "background"
    yield audit_env
    sealer_stop()


def _pending_inserts(queries) -> int:
    return sum(1 for q in queries
               if q["sql"].replace('"', "").startswith("INSERT INTO audit_pendingentry"))


def test_a_batch_writes_its_entries_in_one_insert_inside_the_transaction(background):
    with audit_context(actor=Actor.system("t"), correlation_id="corr-batch"):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            with ledger_batch():
                customer = Customer.objects.create(external_id="LB1", name="Batched")
                customer.name = "Batched Jr"
                customer.save(update_fields=["name"])
                entry = audit_record(action="test.note", object_type="cases.customer",
                                     object_id=str(customer.pk), data={"n": 1})
                assert entry.id is None  # written when the block ends
                assert not PendingEntry.objects.exists()
            assert entry.id is not None
            pending = list(PendingEntry.objects.order_by("id"))
    assert _pending_inserts(queries) == 1
    assert [p.action for p in pending] == ["create", "update", "test.note"]
    assert pending[-1].id == entry.id
    ledger_seal_pending()
    result = verify_ledger()
    assert result.ok, result.summary()


def test_an_exception_caught_inside_the_transaction_keeps_changes_and_entries(background):
    with transaction.atomic():
        try:
            with ledger_batch():
                Customer.objects.create(external_id="LB2", name="Kept")
                raise ValueError("handled by the caller")
        except ValueError:
            pass
    assert Customer.objects.filter(external_id="LB2").exists()
    assert PendingEntry.objects.filter(action="create", object_type="cases.customer").count() == 1
    ledger_seal_pending()
    assert verify_ledger().ok


def test_a_savepoint_rolled_back_inside_a_batch_takes_only_its_own_entries(background):
    with transaction.atomic(), ledger_batch():
        kept = Customer.objects.create(external_id="LB3", name="Kept")
        try:
            with transaction.atomic():
                Customer.objects.create(external_id="LB4", name="Rolled back")
                raise ValueError("undo the savepoint")
        except ValueError:
            pass
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["LB3"]
    assert list(PendingEntry.objects.values_list("object_id", flat=True)) == [str(kept.pk)]
    ledger_seal_pending()
    assert verify_ledger().ok


def test_a_rolled_back_batch_leaves_no_entry(background):
    with pytest.raises(RuntimeError), transaction.atomic(), ledger_batch():
        Customer.objects.create(external_id="LB5", name="Never Was")
        raise RuntimeError("abort")
    assert not Customer.objects.exists() and not PendingEntry.objects.exists()


def test_outside_a_batch_every_append_is_its_own_insert(background):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        Customer.objects.create(external_id="LB6", name="One")
        Customer.objects.create(external_id="LB7", name="Two")
    assert _pending_inserts(queries) == 2


def _history_values(customer) -> dict:
    row = customer.history.order_by("-history_id").values().first()
    return {k: v for k, v in row.items() if k not in {"id", "history_id", "history_date",
                                                     "external_id", "created_at"}}


def test_history_rows_written_directly_match_the_orms(audit_env, monkeypatch):
    import audit.models

    direct_inserts = []
    insert_objects = audit.models.insert_objects
    monkeypatch.setattr(audit.models, "insert_objects",
                        lambda objs, **kw: (direct_inserts.extend(objs),
                                            insert_objects(objs, **kw))[1])
    data = {"lei": "529900T8BM49AURSDO55", "nested": {"list": [1, 2.5, None, "é"]}}
    direct = Customer.objects.create(external_id="HR1", name="Direct", country="DE",
                                     data=data)
    assert [type(row) for row in direct_inserts] == [Customer.history.model]

    def listener(**_kwargs):
        pass

    # A save listener on the historical model sends its rows through the ORM's save.
    pre_save.connect(listener, sender=Customer.history.model)
    try:
        via_orm = Customer.objects.create(external_id="HR2", name="Direct", country="DE",
                                          data=data)
    finally:
        pre_save.disconnect(listener, sender=Customer.history.model)
    assert len(direct_inserts) == 1  # the second row went through the ORM's save
    assert _history_values(direct) == _history_values(via_orm)
    assert _history_values(direct)["data"] == data
    assert direct.history.get().history_type == "+"
