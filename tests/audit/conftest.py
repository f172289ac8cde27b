"""Audit test fixtures: a private digest directory and signing key per test."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.signing import generate_pem


@pytest.fixture
def audit_env(settings, tmp_path):
    """Digests go to a fresh directory; digests are signed with a fresh key."""
    settings.AUDIT_DIGEST_DIR = tmp_path / "digests"
    settings.AUDIT_SIGNING_KEY = generate_pem().decode()
    settings.AUDIT_SIGNING_KEY_FILE = ""
    from audit.digests import _tree

    _tree.cache_clear()
    return settings


@pytest.fixture
def customers(db, audit_env):
    """A few customers written through the application (history + ledger entries), their
    entries chained (with AUDIT_SEAL_MODE=background the sealer does that after commit)."""
    from audit.context import Actor, audit_context
    from audit.services import ledger_seal_pending
    from cases.models import Customer

    with audit_context(actor=Actor.system("test-seed"), correlation_id="seed"):
        made = [
            Customer.objects.create(external_id=f"C{i}", name=f"Customer {i}", country="GB")
            for i in range(5)
        ]
        for c in made[:3]:
            c.name += " Jr"
            c.save(update_fields=["name"])
    ledger_seal_pending()
    return made


def raw_sql(sql: str, params=None, *, bypass_triggers: bool = True) -> None:
    """What an attacker with database access does: raw SQL, triggers switched off."""
    with connection.cursor() as cursor:
        if bypass_triggers and connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        if bypass_triggers and connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
