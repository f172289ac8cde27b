"""Trigram index for case search (PostgreSQL only; SQLite scans, which is fine embedded)."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Matches the expression Django emits for search_text__icontains on PostgreSQL.
    'CREATE INDEX IF NOT EXISTS cases_case_search_trgm ON cases_case '
    'USING gin ((UPPER("search_text"::text)) gin_trgm_ops)',
]
BACKWARD = ["DROP INDEX IF EXISTS cases_case_search_trgm"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in FORWARD:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_workflow")]
    operations = [migrations.RunPython(forwards, backwards)]
