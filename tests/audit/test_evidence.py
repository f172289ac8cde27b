"""Evidence bundles exported from the real database verify offline with the standalone
verifier, and altered ones are rejected."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.context import Actor, audit_context
from audit.evidence import EvidenceError, evidence_bundle_export, resolve_object_type
from audit.keys import signing_key
from audit.models import Digest, LedgerEntry
from audit.services import audit_record, ledger_seal_pending
from audit.verify_bundle import verify_bundle
from cases.services import case_open

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def case(customers, audit_env):
    from cases.choices import CaseSource

    with audit_context(actor=Actor.system("test")):
        case = case_open(
            source=CaseSource.SCREENING,
            title="Possible match",
            subject_type="cases.customer",
            subject_id=str(customers[0].pk),
            customer=customers[0],
            evidence={"kind": "screening_match", "object_id": "m-1", "summary": {"score": 93}},
        )
        audit_record(
            action="case.note",
            object_type="cases.case",
            object_id=str(case.pk),
            data={"note": "checked"},
        )
    return case


def test_case_bundle_holds_case_and_child_entries_and_verifies_offline(case, tmp_path):
    call_command("export_evidence", "--case", str(case.pk), "--output", str(tmp_path / "b.zip"))
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        types = {
            json.loads(zf.read(f"entries/{s:012d}.json"))["header"]
            .split('"object_type":"')[1]
            .split('"')[0]
            for s in manifest["entries"]
        }
    assert manifest["subject"] == {"object_type": "cases.case", "object_id": str(case.pk)}
    assert {"cases.case", "cases.caseevidence"} <= types
    assert "cases.customer" not in types  # only the case and what belongs to it
    fingerprint = signing_key().fingerprint
    proc = subprocess.run(
        [sys.executable, "-m", "audit.verify_bundle", str(path), "--key-fingerprint", fingerprint],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The export itself is on the ledger, after the sealed range.
    ledger_seal_pending()  # background sealing: the export's entry is chained after commit
    export = LedgerEntry.objects.filter(action="evidence.export").get()
    assert export.object_id == str(case.pk)
    assert Digest.objects.filter(last_seq__gte=manifest["entries"][-1]).exists()


def test_each_altered_export_is_rejected(case, tmp_path):
    data, _ = evidence_bundle_export(object_type="cases.case", object_id=str(case.pk))
    fingerprint = signing_key().fingerprint
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    targets = [n for n in files if n.startswith(("entries/", "digests/"))] + ["manifest.json"]
    for name in targets:
        altered = dict(files)
        altered[name] = (
            altered[name].replace(b'"', b"'", 1)
            if name == "manifest.json"
            else (altered[name][:-3] + bytes([altered[name][-3] ^ 1]) + altered[name][-2:])
        )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, content in altered.items():
                zf.writestr(n, content)
        out = tmp_path / "x.zip"
        out.write_bytes(buf.getvalue())
        try:
            outcome = verify_bundle(out, pinned_fingerprint=fingerprint)
        except Exception:  # unreadable counts as rejected
            continue
        assert not outcome.passed, name


def test_generic_object_export_and_errors(customers, audit_env, tmp_path):
    data, name = evidence_bundle_export(
        object_type="cases.customer", object_id=str(customers[1].pk)
    )
    (tmp_path / name).write_bytes(data)
    assert verify_bundle(tmp_path / name).passed
    with pytest.raises(EvidenceError, match="no ledger entries"):
        evidence_bundle_export(object_type="cases.customer", object_id="999999")
    with pytest.raises(CommandError, match="app_label.model:ID"):
        call_command("export_evidence", "--object", "cases.customer")
    assert resolve_object_type("case") == "cases.case"
    with pytest.raises(EvidenceError):
        resolve_object_type("spaceship")
