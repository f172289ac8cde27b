"""Many processes appending at once: one linear chain, zero forks, zero gaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.models import LedgerEntry, PendingEntry
from audit.verification import verify_ledger
from tests.conftest import _db_url_for_subprocess

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import django, os, sys
django.setup()
from audit.context import Actor, audit_context
from audit.services import audit_record
from cases.models import Customer
n = int(sys.argv[1]); me = sys.argv[2]
with audit_context(actor=Actor.system(f"writer-{me}")):
    for i in range(n):
        if i % 5 == 0:
            Customer.objects.create(external_id=f"{me}-{i}", name=f"W {me} {i}")
        else:
            audit_record(action="test.append", object_type="test.writer", object_id=me,
                         data={"i": i})
"""


def _mode_for(mode: str, writer: int) -> str:
    if mode == "mixed":  # inline and background writers on one chain at once
        return "inline" if writer % 2 else "background"
    return mode


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["inline", "background", "mixed", "sealer-process"])
def test_concurrent_writers_build_one_chain(audit_env, mode):
    writers, per_writer = 6, 40
    env = {**os.environ, "DATABASE_URL": _db_url_for_subprocess(),
           "DJANGO_SETTINGS_MODULE": "config.settings", "VIGIL_ENV": "test"}
    sealer = None
    if mode == "sealer-process":  # writers do no sealing; one dedicated process does
        env = {**env, "AUDIT_SEALER": "process"}
        sealer = subprocess.Popen(
            [sys.executable, "manage.py", "audit_sealer", "--poll-ms", "20"], cwd=REPO,
            env={**env, "AUDIT_SEAL_MODE": "background"}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
    seal_mode = "background" if mode == "sealer-process" else None
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(per_writer), str(w)],
                              cwd=REPO,
                              env={**env, "AUDIT_SEAL_MODE": seal_mode or _mode_for(mode, w)},
                              stderr=subprocess.PIPE, text=True)
             for w in range(writers)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    if sealer is not None:
        deadline = time.monotonic() + 60
        while PendingEntry.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sealer.send_signal(signal.SIGTERM)
        out, err = sealer.communicate(timeout=60)
        assert sealer.returncode == 0, err
        assert "stopped after" in out and "pending 0" in out
    # Background writers' sealers (and their exit hook) chained everything they wrote.
    assert not PendingEntry.objects.exists()
    seqs = list(LedgerEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))  # zero gaps
    prevs = list(LedgerEntry.objects.values_list("prev_hash", flat=True))
    assert len(set(prevs)) == len(prevs)  # zero forks
    result = verify_ledger()
    assert result.ok, result.summary()
    assert {a for a in LedgerEntry.objects.values_list("actor_label", flat=True).distinct()} == {
        f"writer-{w}" for w in range(writers)}
