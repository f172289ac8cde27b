"""`make run`'s setup on the embedded default: migrate and load the demo on SQLite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_loads_on_embedded_sqlite_and_is_idempotent(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CACHE_URL",
                        "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER",
                        "AUDIT_SEAL_MODE"}}  # the embedded default: SQLite, inline sealing
    env.update({"VIGIL_ENV": "development", "VIGIL_VAR_DIR": str(tmp_path)})

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)

    migrate = manage("migrate", "--no-input", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr
    first = manage("load_demo")
    assert first.returncode == 0, first.stdout + first.stderr
    for username in ("analyst", "approver", "auditor", "admin"):
        assert username in first.stdout
    assert "failed" not in first.stdout
    # the demo's ledger is sealed, signed and verified before anyone logs in
    assert "audit: signed digest of entries 1.." in first.stdout
    assert "audit: verification run #1 Passed" in first.stdout
    again = manage("load_demo")
    assert again.returncode == 0, again.stderr
    assert "loaded in" not in again.stdout  # every part was already there
    assert (tmp_path / "vigil.sqlite3").exists()
