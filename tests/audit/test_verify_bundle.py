"""The standalone bundle verifier accepts a genuine bundle and rejects every altered one."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import canonical_bytes
from audit.verify_bundle import BundleError, verify_bundle
from tests.audit.chainkit import bundle_bytes, make_chain

REPO = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.generate()
FINGERPRINT = hashlib.sha256(KEY.public_key().public_bytes_raw()).hexdigest()
ROWS = make_chain(37)
PICKED = [3, 4, 5, 20, 36]


@pytest.fixture(scope="module")
def genuine() -> bytes:
    return bundle_bytes(ROWS, PICKED, KEY)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(data: bytes, edit) -> bytes:
    """Apply ``edit(files: dict[str, bytes])`` to a bundle's members and re-zip."""
    files = members(data)
    edit(files)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return path


def edit_json(name, change):
    def edit(files):
        obj = json.loads(files[name])
        change(obj)
        files[name] = canonical_bytes(obj)
    return edit


def flip_hex(value: str) -> str:
    """The same hex string with its first digit changed (always a change, whatever the key)."""
    return ("1" if value[0] == "0" else "0") + value[1:]


def flip_body(entry):
    entry["body"] = entry["body"].replace("n", "m", 1)


def resign_manifest(files, key=KEY):
    """What an attacker with the *bundle* but not the key cannot do; used with a new key."""
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()
                         if n not in {"manifest.json", "manifest.sig"}}
    files["manifest.json"] = canonical_bytes(manifest)
    files["manifest.sig"] = key.sign(files["manifest.json"]).hex().encode()


E4 = "entries/000000000004.json"
E5 = "entries/000000000005.json"
DIG = "digests/hourly-1.json"

ALTERATIONS = {
    "entry body byte": edit_json(E4, flip_body),
    "entry header": edit_json(
        E4, lambda e: e.update(header=e["header"].replace("update", "delete"))),
    "entry hash": edit_json(E4, lambda e: e.update(hash="a" * 64)),
    "entry prev hash": edit_json(E5, lambda e: e.update(prev_hash="b" * 64)),
    "proof sibling": edit_json(E4, lambda e: e["proof"]["path"].__setitem__(0, "c" * 64)),
    "proof index": edit_json(E4, lambda e: e["proof"].update(leaf_index=4)),
    "proof removed": edit_json(E4, lambda e: e.update(proof=None)),
    "digest root": edit_json(DIG, lambda d: d["digest"].update(merkle_root="d" * 64)),
    "digest signature": edit_json(
        DIG, lambda d: d["signature"].update(value=flip_hex(d["signature"]["value"]))),
    "digest count": edit_json(DIG, lambda d: d["digest"].update(count=36)),
    "entry file removed": lambda files: files.pop(E5),
    "extra file added": lambda files: files.update({"entries/x.json": b"{}"}),
    "readme changed": lambda files: files.update({"README.txt": b"trust me"}),
    "manifest entry dropped": edit_json("manifest.json", lambda m: m["entries"].remove(4)),
    "manifest signature": lambda files: files.update({"manifest.sig": b"00" * 64}),
    "public key pem": lambda files: files.update(
        {"public_key.pem": Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
         .encode()}),
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_every_altered_bundle_is_rejected(tmp_path, genuine, alteration):
    altered = rewrite(genuine, ALTERATIONS[alteration])
    # An alteration that happens to leave the bundle as it was (a signature drawn with the
    # very byte written over it) would make this test pass or fail by chance.
    assert members(altered) != members(genuine), alteration
    outcome = verify_bundle(write(tmp_path, altered), pinned_fingerprint=FINGERPRINT)
    assert not outcome.passed, alteration


@pytest.mark.parametrize("alteration", ["entry body byte", "entry header", "proof sibling"])
def test_content_checks_hold_even_when_the_manifest_is_resigned(tmp_path, genuine, alteration):
    """Hash chain and proofs catch the change on their own, not only the manifest."""
    def attack(files):
        ALTERATIONS[alteration](files)
        resign_manifest(files)
    outcome = verify_bundle(write(tmp_path, rewrite(genuine, attack)),
                            pinned_fingerprint=FINGERPRINT)
    assert not outcome.passed
    assert any("entry 4" in f for f in outcome.failures)


def test_bundle_resigned_with_another_key_fails_only_when_pinned(tmp_path, genuine):
    mallory = Ed25519PrivateKey.generate()
    forged = bundle_bytes(
        [*ROWS[:4], *make_chain(33, start=5, prev=ROWS[3].hash)], PICKED, mallory)
    path = write(tmp_path, forged)
    assert verify_bundle(path).passed  # self-consistent forgery: why pinning matters
    assert verify_bundle(path).warnings
    assert not verify_bundle(path, pinned_fingerprint=FINGERPRINT).passed
    assert not verify_bundle(path, pinned_key=KEY.public_key().public_bytes_raw()).passed


def test_genuine_bundle_passes_with_cli_exit_zero(tmp_path, genuine):
    path = write(tmp_path, genuine)
    outcome = verify_bundle(path, pinned_fingerprint=FINGERPRINT)
    assert outcome.passed, outcome.failures
    assert outcome.entries_ok == len(PICKED) and outcome.digests_ok == 1
    proc = subprocess.run(
        [sys.executable, "-m", "audit.verify_bundle", str(path), "--key-fingerprint",
         FINGERPRINT], cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: bundle verified" in proc.stdout
    assert "OK    entry 21 " in proc.stdout


def test_cli_exit_codes_for_rejected_and_unreadable(tmp_path, genuine):
    bad = write(tmp_path, rewrite(genuine, ALTERATIONS["entry body byte"]))
    proc = subprocess.run([sys.executable, "-m", "audit.verify_bundle", str(bad)], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "REJECTED" in proc.stdout
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    proc = subprocess.run([sys.executable, "-m", "audit.verify_bundle", str(junk)], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "not a readable zip" in proc.stderr


def test_unreadable_manifest_is_a_bundle_error(tmp_path, genuine):
    path = write(tmp_path, rewrite(genuine, lambda f: f.update({"manifest.json": b"{"})))
    with pytest.raises(BundleError, match="manifest.json"):
        verify_bundle(path)


def test_verifier_imports_only_the_standard_library(tmp_path):
    code = (
        "import sys, audit.verify_bundle as v; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'cryptography', 'rest_framework', 'celery', 'config'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
