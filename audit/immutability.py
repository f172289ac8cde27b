"""Database-level immutability of the ledger, the digests and every history table.

Installed after every `migrate` (post_migrate), for every django-simple-history table that
exists, so a new app's history table is protected without anyone remembering to do it.

- PostgreSQL: a row-level BEFORE UPDATE OR DELETE trigger raising an error. The one
  exceptions are the sealer deleting a pending entry once the ledger holds the entry
  sealed from it, and redaction after the retention period: a session that sets
  ``vigil.audit_redaction = 'on'`` may set a ledger entry's ``body`` to NULL and change
  nothing else (the header keeps the body's SHA-256, so the chain still verifies).
  TRUNCATE is not a row event; production should REVOKE TRUNCATE, UPDATE, DELETE on these
  tables from the application role (see docs/audit.md) — and truncation of the ledger is
  caught against the signed digests anyway.
- SQLite: BEFORE UPDATE / BEFORE DELETE triggers that abort.

A superuser can still disable triggers; that is what the hash chain, the digests kept
outside the database and reconciliation are for.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connections
from django.db.models import Model

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_pendingentry' THEN
    -- The sealer deletes a pending entry in the transaction that chains it: allowed only
    -- once the ledger holds the entry sealed from it.
    IF EXISTS (SELECT 1 FROM audit_ledgerentry WHERE pending_id = OLD.id) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'Vigil audit: pending entry % is not on the chain; it cannot be deleted',
      OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_ledgerentry' THEN
    IF coalesce(current_setting('vigil.audit_redaction', true), '') = 'on'
       AND OLD.body IS NOT NULL AND NEW.body IS NULL
       AND (to_jsonb(NEW) - 'body') = (to_jsonb(OLD) - 'body') THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'Vigil audit: % on % is forbidden (append-only table)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

TRIGGER_NAME = "vigil_append_only"


def protected_models() -> list[type[Model]]:
    """The ledger, its pending entries, the digests, and every simple-history model of
    every installed app."""
    from audit.models import Digest, LedgerEntry, PendingEntry

    found: list[type[Model]] = [LedgerEntry, PendingEntry, Digest]
    for model in apps.get_models():
        if model._meta.model_name.startswith("historical") and any(
            f.name == "history_id" for f in model._meta.concrete_fields
        ):
            found.append(model)
    return found


def install_triggers(using: str = "default") -> list[str]:
    """Create (or re-create) the append-only triggers; returns the protected tables."""
    connection = connections[using]
    tables = [m._meta.db_table for m in protected_models()]
    existing = set(connection.introspection.table_names())
    tables = [t for t in tables if t in existing]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_NAME} ON {quote(table)}")
                cursor.execute(
                    f"CREATE TRIGGER {TRIGGER_NAME} BEFORE UPDATE OR DELETE ON {quote(table)} "
                    "FOR EACH ROW EXECUTE FUNCTION vigil_audit_append_only()"
                )
        elif connection.vendor == "sqlite":
            for table in tables:
                for op in ("UPDATE", "DELETE"):
                    name = quote(f"{TRIGGER_NAME}_{op.lower()}_{table}")
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {quote(table)} "
                        f"BEGIN SELECT RAISE(ABORT, 'Vigil audit: {op} on {table} is forbidden "
                        "(append-only table)'); END"
                    )
    return tables


def drop_history_like_indexes(using: str = "default") -> list[str]:
    """Drop the ``varchar_pattern_ops`` twins Django builds on PostgreSQL beside every
    indexed CharField of a history table (simple-history turns each unique field into an
    indexed one). History is only ever looked up by exact id, object and date, never by
    LIKE 'prefix%', so each twin is pure cost on every audited write. Safe to repeat, and
    safe for later migrations (Django drops indexes with IF EXISTS). Returns the dropped
    index names."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    tables = [m._meta.db_table for m in protected_models()
              if m._meta.model_name.startswith("historical")]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = ANY(%s) "
            "AND NOT i.indisunique AND c.relname LIKE %s "
            "AND pg_get_indexdef(i.indexrelid) LIKE %s",
            [tables, "%\\_like", "%pattern_ops%"])
        names = [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        for name in names:
            cursor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
    return names


def install_triggers_after_migrate(sender, using: str = "default", **kwargs) -> None:
    install_triggers(using)
    drop_history_like_indexes(using)
