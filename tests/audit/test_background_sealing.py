"""AUDIT_SEAL_MODE=background: entries are written with their change, chained after commit."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.chain import Damage
from audit.context import Actor, audit_context
from audit.models import LedgerEntry, PendingEntry
from audit.sealer import sealer_stop
from audit.services import audit_record, ledger_pending_stats, ledger_seal_pending
from audit.verification import verify_ledger
from cases.models import Customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def background(audit_env):
    audit_env.AUDIT_SEAL_MODE = "background"
    yield audit_env
    sealer_stop()  # the thread's connection must not outlive the test database


def _wait_until_sealed(timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while PendingEntry.objects.exists():
        assert time.monotonic() < deadline, "the sealer did not chain pending entries"
        time.sleep(0.02)


def test_entries_are_pending_inside_the_transaction_and_chained_after_commit(background):
    with audit_context(actor=Actor.system("t"), correlation_id="corr-bg"):
        with transaction.atomic():
            customer = Customer.objects.create(external_id="BG1", name="Pending Person")
            pending = list(PendingEntry.objects.all())
            assert [p.action for p in pending] == ["create"]
            assert pending[0].object_id == str(customer.pk)
            assert not LedgerEntry.objects.filter(object_type="cases.customer").exists()
    _wait_until_sealed()
    entry = LedgerEntry.objects.get(object_type="cases.customer", object_id=str(customer.pk))
    assert entry.pending_id == pending[0].id
    assert entry.correlation_id == "corr-bg" and entry.actor_label == "t"
    assert bytes(entry.body) == bytes(pending[0].body)
    result = verify_ledger()
    assert result.ok, result.summary()
    assert result.pending == 0


def test_a_rolled_back_transaction_leaves_neither_entry_nor_pending_row(background):
    with pytest.raises(RuntimeError), transaction.atomic():
        Customer.objects.create(external_id="BG2", name="Never Was")
        raise RuntimeError("abort")
    ledger_seal_pending()
    assert not PendingEntry.objects.exists()
    assert not LedgerEntry.objects.filter(object_type="cases.customer").exists()


def test_sealing_many_transactions_keeps_one_gapless_chain(background):
    with audit_context(actor=Actor.system("t")):
        for i in range(30):
            with transaction.atomic():
                audit_record(action="test.bg", object_type="test.item", object_id=str(i),
                             data={"i": i})
    _wait_until_sealed()
    seqs = list(LedgerEntry.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert sorted(int(o) for o in LedgerEntry.objects.filter(action="test.bg")
                  .values_list("object_id", flat=True)) == list(range(30))
    assert verify_ledger().ok


def test_the_database_refuses_to_update_or_drop_an_unchained_pending_entry(audit_env):
    # No sealer: the row is written directly, as a crashed process would leave it.
    row = PendingEntry.objects.create(
        ts=timezone.now(), actor_type="system", actor_id="x", actor_label="x",
        action="test.stuck", object_type="test.item", object_id="1", correlation_id="c",
        body=b"{}", body_sha256="44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    for sql in ("UPDATE audit_pendingentry SET action = 'forged' WHERE id = %s",
                "DELETE FROM audit_pendingentry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="Vigil audit"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [row.id])
    assert ledger_seal_pending() == 1  # once chained, the sealer's delete is allowed
    assert not PendingEntry.objects.exists()
    assert LedgerEntry.objects.get(pending_id=row.id).action == "test.stuck"


def test_verification_reports_a_stalled_sealer_until_the_entries_are_chained(audit_env,
                                                                             capsys):
    old = timezone.now() - dt.timedelta(seconds=audit_env.AUDIT_SEAL_MAX_LAG_SECONDS + 30)
    PendingEntry.objects.create(
        ts=old, actor_type="system", actor_id="x", actor_label="x", action="test.stuck",
        object_type="test.item", object_id="1", correlation_id="c", body=b"{}",
        body_sha256="44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert ledger_pending_stats()[0] == 1
    result = verify_ledger()
    assert not result.ok
    assert result.problems[0].kind == Damage.UNSEALED
    call_command("audit_seal")
    assert "chained now: 1; pending after: 0" in capsys.readouterr().out
    result = verify_ledger()
    assert result.ok, result.summary()
    entry = LedgerEntry.objects.get(action="test.stuck")
    assert entry.ts == old  # the time of the change, not of the sealing


def test_a_recent_pending_entry_is_reported_but_is_not_damage(audit_env):
    PendingEntry.objects.create(
        ts=timezone.now(), actor_type="system", actor_id="x", actor_label="x",
        action="test.fresh", object_type="test.item", object_id="1", correlation_id="c",
        body=b"{}", body_sha256="44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    result = verify_ledger()
    assert result.ok and result.pending == 1
    assert "1 pending entries not chained yet" in result.summary()


def test_a_digest_chains_pending_entries_first(background):
    from audit.digests import digest_create

    with audit_context(actor=Actor.system("t")), transaction.atomic():
        audit_record(action="test.bg", object_type="test.item", object_id="d", data={})
    with audit_context(actor=Actor.system("digest")):
        digest = digest_create()
    assert digest is not None
    assert digest.last_seq >= LedgerEntry.objects.get(action="test.bg").seq


def test_reconciliation_counts_entries_still_pending(background, monkeypatch):
    """A history row whose entry is written but not chained yet is not a missing entry."""
    import audit.sealer

    monkeypatch.setattr(audit.sealer._SEALER, "wake", lambda: None)  # the sealer is late
    with audit_context(actor=Actor.system("t")), transaction.atomic():
        Customer.objects.create(external_id="BG9", name="Not Yet Chained")
    assert PendingEntry.objects.filter(object_type="cases.customer").count() == 1
    result = verify_ledger()
    assert result.reconciliation_ok, result.reconciliation
    assert result.ok and result.pending == 1
    # ...but a history row with no entry at all is still caught.
    with transaction.atomic(), connection.cursor() as cursor:  # an attacker, triggers off
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_pendingentry")
    assert not verify_ledger().reconciliation_ok


def test_with_a_sealer_process_writers_leave_sealing_to_it(background, settings):
    """AUDIT_SEALER=process: commits wake no thread; run_sealer (the audit_sealer command's
    loop) chains them, and stops after a last pass."""
    import threading

    from audit.sealer import run_sealer

    settings.AUDIT_SEALER = "process"
    with audit_context(actor=Actor.system("t")):
        for i in range(5):
            with transaction.atomic():
                audit_record(action="t.write", object_type="t.item", object_id=str(i),
                             data={"i": i})
    time.sleep(0.3)  # longer than a thread sealer's gather delay
    assert PendingEntry.objects.count() == 5
    assert not LedgerEntry.objects.filter(object_type="t.item").exists()
    stop = threading.Event()
    passes = []
    thread = threading.Thread(target=run_sealer, kwargs={
        "poll_ms": 10, "stop": stop, "on_pass": lambda: passes.append(1)})
    thread.start()
    try:
        _wait_until_sealed()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and passes
    assert LedgerEntry.objects.filter(object_type="t.item").count() == 5
    assert verify_ledger().ok


def test_audit_sealer_command_refuses_inline_mode(audit_env):
    from django.core.management.base import CommandError

    audit_env.AUDIT_SEAL_MODE = "inline"
    with pytest.raises(CommandError, match="AUDIT_SEAL_MODE=background"):
        call_command("audit_sealer")


def test_history_manager_class_is_built_once(db):
    """instance.history must not rebuild its manager class on every save (it costs about a
    quarter of an audited save's CPU), and must still be a working history manager."""
    with audit_context(actor=Actor.system("t")):
        customer = Customer.objects.create(external_id="HM1", name="Manager Once")
        customer.name = "Manager Twice"
        customer.save()
    assert type(customer.history) is type(Customer.objects.get(pk=customer.pk).history)
    assert [h.history_type for h in customer.history.order_by("history_id")] == ["+", "~"]
