"""The tamper catalogue: raw-SQL attacks on a seeded PostgreSQL database, each detected by
verification and named by its first bad sequence number and kind of damage."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from audit.chain import Damage, canonical_bytes, entry_hash, entry_header, sha256_hex
from audit.digests import digest_create
from audit.models import LedgerEntry
from audit.services import ledger_seal_pending
from audit.verification import verify_ledger
from tests.audit.conftest import raw_sql

pytestmark = [pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]


def first(result):
    assert result.problems, "tampering went undetected"
    return result.problems[0].kind, result.problems[0].seq


def head() -> int:
    return LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()


def rewrite(seq: int, *, prev: str | None = None, body: bytes | None = None, **columns) -> str:
    """Replace entry ``seq`` with a self-consistent forgery (header and hash recomputed)."""
    e = LedgerEntry.objects.get(seq=seq)
    fields = {
        f: columns.get(f, getattr(e, f))
        for f in (
            "ts",
            "actor_type",
            "actor_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "correlation_id",
        )
    }
    body = body if body is not None else bytes(e.body)
    prev = prev if prev is not None else e.prev_hash
    header = entry_header(
        seq=columns.get("seq", seq), body_sha256=sha256_hex(body), prev_hash=prev, **fields
    )
    new_hash = entry_hash(header)
    raw_sql(
        "UPDATE audit_ledgerentry SET seq=%s, ts=%s, actor_type=%s, actor_id=%s, actor_label=%s,"
        " action=%s, object_type=%s, object_id=%s, correlation_id=%s, header=%s, body=%s,"
        " prev_hash=%s, hash=%s WHERE seq=%s",
        [columns.get("seq", seq), *fields.values(), header, body, prev, new_hash, seq],
    )
    return new_hash


def reseal_from(seq: int) -> None:
    prev = LedgerEntry.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for s in range(seq, head() + 1):
        prev = rewrite(s, prev=prev)


@pytest.fixture
def sealed(customers, audit_env, django_capture_on_commit_callbacks):
    """Seeded ledger, sealed by a digest in the archive, then a few more entries."""
    with django_capture_on_commit_callbacks(execute=True):
        digest = digest_create()
    customers[4].name = "After the digest"
    customers[4].save(update_fields=["name"])
    ledger_seal_pending()  # background sealing: chain them as the sealer would after commit
    assert verify_ledger().ok
    return digest


def test_intact_ledger_verifies(sealed):
    result = verify_ledger()
    assert result.ok, result.summary()
    assert result.chain.digests_checked == 1


def test_flip_a_payload_byte(sealed):
    raw_sql(
        "UPDATE audit_ledgerentry SET body = set_byte(body, 5, get_byte(body, 5) # 1) WHERE seq = 3"
    )
    assert first(verify_ledger(reconcile=False)) == (Damage.BODY_MISMATCH, 3)


def test_change_only_a_hash(sealed):
    raw_sql("UPDATE audit_ledgerentry SET hash = %s WHERE seq = 4", ["f" * 64])
    assert first(verify_ledger(reconcile=False)) == (Damage.HASH_MISMATCH, 4)


def test_change_a_payload_and_recompute_its_hash(sealed):
    body = canonical_bytes({"state": {"name": "forged"}})
    rewrite(4, body=body)
    assert first(verify_ledger(reconcile=False)) == (Damage.BROKEN_LINK, 5)


def test_rewrite_a_suffix_with_all_later_hashes_recomputed(sealed):
    rewrite(sealed.last_seq - 2, body=canonical_bytes({"forged": True}))
    reseal_from(sealed.last_seq - 1)
    result = verify_ledger(reconcile=False)
    assert not result.chain.problems or result.chain.problems[0].kind == Damage.DIGEST_MISMATCH
    kind, _ = first(result)
    assert kind == Damage.DIGEST_MISMATCH


def test_delete_a_middle_entry(sealed):
    raw_sql("DELETE FROM audit_ledgerentry WHERE seq = 6")
    assert first(verify_ledger(reconcile=False)) == (Damage.GAP, 6)


def test_truncate_the_tail(sealed):
    raw_sql("DELETE FROM audit_ledgerentry WHERE seq >= %s", [sealed.last_seq - 1])
    kind, seq = first(verify_ledger(reconcile=False))
    assert (kind, seq) == (Damage.TRUNCATED, sealed.last_seq - 1)


def test_insert_a_forged_entry_and_reseal_forward(sealed):
    top = head()
    for s in range(top, 4, -1):  # make room at seq 5 (from the top: seq is the key)
        raw_sql(
            "UPDATE audit_ledgerentry SET seq = seq + 1, prev_hash = 'x' || seq, "
            "hash = 'y' || seq WHERE seq = %s",
            [s],
        )
    e4 = LedgerEntry.objects.get(seq=4)
    body = canonical_bytes({"forged": True})
    header = entry_header(
        seq=5,
        ts=e4.ts,
        actor_type="user",
        actor_id="1",
        actor_label="mallory",
        action="update",
        object_type="cases.customer",
        object_id="1",
        correlation_id="x",
        body_sha256=sha256_hex(body),
        prev_hash=e4.hash,
    )
    raw_sql(
        "INSERT INTO audit_ledgerentry (seq, ts, actor_type, actor_id, actor_label, action,"
        " object_type, object_id, correlation_id, header, body, prev_hash, hash) VALUES "
        "(5, %s, 'user', '1', 'mallory', 'update', 'cases.customer', '1', 'x', %s, %s, %s,"
        " %s)",
        [e4.ts, header, body, e4.hash, entry_hash(header)],
    )
    for s in range(6, top + 2):
        rewrite(s, prev=LedgerEntry.objects.get(seq=s - 1).hash)
    kind, _ = first(verify_ledger(reconcile=False))
    assert kind == Damage.DIGEST_MISMATCH


def test_swap_two_entries(sealed):
    raw_sql("UPDATE audit_ledgerentry SET seq = -3 WHERE seq = 3")
    raw_sql("UPDATE audit_ledgerentry SET seq = 3 WHERE seq = 4")
    raw_sql("UPDATE audit_ledgerentry SET seq = 4 WHERE seq = -3")
    kind, seq = first(verify_ledger(reconcile=False))
    assert seq == 3 and kind == Damage.METADATA_MISMATCH


def test_fork_fails_loudly_on_the_unique_constraint(sealed):
    e = LedgerEntry.objects.get(seq=head())
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_sql(
            "INSERT INTO audit_ledgerentry (seq, ts, actor_type, actor_id, actor_label,"
            " action, object_type, object_id, correlation_id, header, body, prev_hash, hash)"
            " SELECT seq + 1, ts, actor_type, actor_id, actor_label, action, object_type,"
            " object_id, correlation_id, header, body, prev_hash, %s FROM audit_ledgerentry"
            " WHERE seq = %s",
            ["e" * 64, e.seq],
        )


def test_duplicate_entry_with_constraints_dropped_is_a_fork(sealed):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = "
            "'audit_ledgerentry'::regclass AND contype = 'u'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE audit_ledgerentry DROP CONSTRAINT "{name}"')
    top = head()
    raw_sql(
        "INSERT INTO audit_ledgerentry (seq, ts, actor_type, actor_id, actor_label, action,"
        " object_type, object_id, correlation_id, header, body, prev_hash, hash)"
        " SELECT seq + 1, ts, actor_type, actor_id, actor_label, action, object_type,"
        " object_id, correlation_id, header, body, prev_hash, hash FROM audit_ledgerentry"
        " WHERE seq = %s",
        [top],
    )
    kind, seq = first(verify_ledger(reconcile=False))
    assert (kind, seq) == (Damage.METADATA_MISMATCH, top + 1) or kind == Damage.FORK


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_label", "'mallory'"),
        ("actor_id", "'999'"),
        ("correlation_id", "'forged'"),
        ("ts", "ts - interval '1 day'"),
        ("action", "'delete'"),
    ],
)
def test_change_only_metadata(sealed, column, value):
    raw_sql(f"UPDATE audit_ledgerentry SET {column} = {value} WHERE seq = 2")
    result = verify_ledger(reconcile=False)
    assert first(result) == (Damage.METADATA_MISMATCH, 2)
    assert column in result.problems[0].detail


def test_change_a_business_row_with_triggers_disabled(sealed, customers):
    raw_sql("UPDATE cases_customer SET name = 'Quietly renamed' WHERE id = %s", [customers[1].pk])
    result = verify_ledger()
    assert not result.chain.problems
    assert not result.ok and "reconciliation" in result.summary()
    assert any("name differ" in ex for r in result.reconciliation for ex in r["examples"])


def test_delete_a_business_row_and_insert_one_outside_the_app(sealed, customers):
    raw_sql("DELETE FROM cases_customer WHERE id = %s", [customers[2].pk])
    result = verify_ledger()
    rec = next(r for r in result.reconciliation if r["model"] == "cases.customer")
    assert rec["deleted_outside"] == 1


def test_forged_history_row_without_ledger_entry(sealed, customers):
    raw_sql(
        "INSERT INTO cases_historicalcustomer (id, external_id, name, dob, country,"
        " entity_type, data, created_at, offboarding_reason, history_date, history_type,"
        " history_change_reason)"
        " SELECT id, external_id, 'forged', dob, country, entity_type, data, created_at,"
        " offboarding_reason, now(), '~', NULL FROM cases_customer WHERE id = %s",
        [customers[0].pk],
    )
    raw_sql("UPDATE cases_customer SET name = 'forged' WHERE id = %s", [customers[0].pk])
    result = verify_ledger()
    rec = next(r for r in result.reconciliation if r["model"] == "cases.customer")
    assert rec["history_rows"] == rec["ledger_entries"] + 1 and not rec["ok"]


def test_tamper_with_a_stored_digest(sealed):
    raw_sql("UPDATE audit_digest SET merkle_root = %s", ["a" * 64])
    kind, seq = first(verify_ledger(reconcile=False))
    assert (kind, seq) == (Damage.DIGEST_MISMATCH, 1)


def test_tamper_with_an_archived_digest_file(sealed, audit_env):
    path = audit_env.AUDIT_DIGEST_DIR / sealed.file_name
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(sealed.merkle_root.encode(), b"b" * 64))
    result = verify_ledger(reconcile=False)
    assert any("signature does not verify" in p.detail for p in result.problems)


def test_replace_the_genesis(sealed):
    rewrite(1, body=canonical_bytes({"forged": "genesis"}))
    kind, seq = first(verify_ledger(reconcile=False))
    assert (kind, seq) in {(Damage.BROKEN_LINK, 2), (Damage.DIGEST_MISMATCH, 1)}
    rewrite(1, prev="1" * 64)
    assert first(verify_ledger(reconcile=False)) == (Damage.BAD_GENESIS, 1)


def test_ledger_rejects_update_and_delete_at_database_level(sealed):
    for sql in (
        "UPDATE audit_ledgerentry SET actor_label = 'x' WHERE seq = 1",
        "DELETE FROM audit_ledgerentry WHERE seq = 1",
        "UPDATE audit_digest SET head_hash = 'x'",
        "UPDATE cases_historicalcustomer SET name = 'x'",
        "DELETE FROM cases_historicalcustomer",
    ):
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            raw_sql(sql, bypass_triggers=False)


def test_redaction_may_only_remove_a_body(sealed):
    with transaction.atomic():
        raw_sql("SET LOCAL vigil.audit_redaction = 'on'", bypass_triggers=False)
        raw_sql("UPDATE audit_ledgerentry SET body = NULL WHERE seq = 2", bypass_triggers=False)
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            raw_sql(
                "UPDATE audit_ledgerentry SET body = NULL, actor_label = 'x' WHERE seq = 3",
                bypass_triggers=False,
            )
    result = verify_ledger(reconcile=False)
    assert result.ok and result.chain.redacted == 1


# -- whole-database operations (committed data, a second database, subprocesses) ------------


def _pg_env(dbname: str, audit_env) -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}",
        "AUDIT_DIGEST_DIR": str(audit_env.AUDIT_DIGEST_DIR),
        "AUDIT_SIGNING_KEY": audit_env.AUDIT_SIGNING_KEY,
        "VIGIL_ENV": "test",
        "PGHOST": db["HOST"] or "127.0.0.1",
        "PGPORT": str(db["PORT"] or 5432),
        "PGUSER": db["USER"] or "postgres",
    }


def _verify_cli(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_no_false_alarm_after_vacuum_full_and_dump_restore_but_old_copy_is_caught(
    audit_env, tmp_path
):
    from audit.context import Actor, audit_context
    from cases.models import Customer

    with audit_context(actor=Actor.system("seed")):
        made = [Customer.objects.create(external_id=f"V{i}", name=f"V {i}") for i in range(4)]
        digest_create()
    from audit.digests import digest_archive_sync

    digest_archive_sync()
    dbname = settings.DATABASES["default"]["NAME"]
    env = _pg_env(dbname, audit_env)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL audit_ledgerentry")
        cursor.execute("VACUUM FULL cases_customer")
    assert verify_ledger().ok

    dump = tmp_path / "old.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), dbname], env=env, check=True)
    restored = f"{dbname}_restored"
    subprocess.run(["dropdb", "--if-exists", restored], env=env, check=True)
    subprocess.run(["createdb", restored], env=env, check=True)
    try:
        subprocess.run(["pg_restore", "--no-owner", "-d", restored, str(dump)], env=env, check=True)
        ok = _verify_cli(_pg_env(restored, audit_env))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "INTACT" in ok.stdout

        # Life goes on in production: more changes, sealed into the archive ...
        with audit_context(actor=Actor.system("later")):
            made[0].name = "later change"
            made[0].save(update_fields=["name"])
            digest_create()
        digest_archive_sync()
        # ... then someone restores the older copy: the archive knows better.
        old = _verify_cli(_pg_env(restored, audit_env))
        assert old.returncode == 1, old.stdout + old.stderr
        assert "truncated" in old.stdout or "missing from the database" in old.stdout
    finally:
        subprocess.run(["dropdb", "--if-exists", restored], env=env, check=False)


def test_verify_audit_command_exit_codes(sealed, capsys):
    from django.core.management import call_command

    call_command("verify_audit")
    assert "INTACT" in capsys.readouterr().out
    raw_sql("UPDATE audit_ledgerentry SET body = set_byte(body, 1, 65) WHERE seq = 3")
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit", "--no-reconcile")
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "first bad seq 3: body_mismatch" in out


def test_incremental_verification_starts_after_the_last_digest(sealed):
    raw_sql("UPDATE audit_ledgerentry SET actor_label = 'x' WHERE seq = 2")
    result = verify_ledger(mode="incremental", reconcile=False)
    assert result.start_seq == sealed.last_seq + 1
    assert result.ok  # damage inside the sealed range is for full runs ...
    assert not verify_ledger(reconcile=False).ok  # ... which find it


def test_hash_helper_consistency():
    assert hashlib.sha256(b"").hexdigest() == sha256_hex(b"")


def test_redaction_service_keeps_the_chain_and_bundles_verifiable(sealed, customers, tmp_path):
    from audit.evidence import evidence_bundle_export
    from audit.services import ledger_entry_redact
    from audit.verify_bundle import verify_bundle

    with pytest.raises(ValueError, match="reason"):
        ledger_entry_redact(seq=1, reason=" ")
    entry = ledger_entry_redact(seq=1, reason="retention: 5 years after relationship end")
    assert entry.body is None
    ledger_seal_pending()  # background sealing: the redaction's own entry is chained later
    assert LedgerEntry.objects.filter(action="audit.redact").count() == 1
    result = verify_ledger(reconcile=False)
    assert result.ok and result.chain.redacted == 1
    data, name = evidence_bundle_export(
        object_type="cases.customer", object_id=str(customers[0].pk)
    )
    (tmp_path / name).write_bytes(data)
    outcome = verify_bundle(tmp_path / name)
    assert outcome.passed and any("redacted" in w for w in outcome.warnings)
