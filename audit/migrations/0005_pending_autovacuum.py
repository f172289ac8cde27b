"""The pending table is a queue: every row is inserted, then deleted within moments by the
sealer. Vacuum it after every few thousand deletions rather than after 20 % of a table
that is nearly always empty, so sealing never scans a growing tail of dead rows."""

from django.db import migrations

SETTINGS = ("autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, "
            "autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0, "
            "autovacuum_analyze_threshold = 5000")


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE audit_pendingentry SET ({SETTINGS})")


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE audit_pendingentry RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, "
            "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_background_sealing")]
    operations = [migrations.RunPython(tune, untune)]
