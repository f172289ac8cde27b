"""Offline verifier of a Vigil evidence bundle. Standard library only.

Usage::

    python -m audit.verify_bundle bundle.zip [--key-fingerprint HEX | --public-key FILE]

It checks, and prints as it goes:

1. the manifest's Ed25519 signature and that every file in the zip is listed in it with
   its SHA-256 (nothing added, removed or changed);
2. each signed digest: well formed, signed by the bundle's key;
3. each ledger entry: its SHA-256 covers its header, the header names the same sequence
   number and predecessor, the body matches the hash the header commits to (unless the
   body was redacted after its retention period), and consecutive entries link;
4. each entry's RFC 6962 inclusion proof against the Merkle root of a signed digest.

Only a pinned key makes the result trustworthy: anyone can re-sign an altered bundle with
a key of their own. Compare the printed fingerprint with the one Vigil publishes, or pass
``--key-fingerprint`` / ``--public-key`` so the verifier does it.

Exit status: 0 all checks passed, 1 a check failed, 2 the bundle could not be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit import _ed25519, merkle
from audit.chain import parse_header
from audit.formats import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    check_digest_document,
    digest_signed_bytes,
    public_key_from_pem,
)

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # refuse zip bombs: no legitimate file is this large


class BundleError(Exception):
    """The bundle cannot be read at all (not a zip, no manifest, ...)."""


@dataclass
class Outcome:
    """Collected results; ``failures`` empty means the bundle verified."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries_ok: int = 0
    digests_ok: int = 0

    def ok(self, message: str) -> None:
        self.lines.append(f"OK    {message}")

    def fail(self, message: str) -> None:
        self.lines.append(f"FAIL  {message}")
        self.failures.append(message)

    def warn(self, message: str) -> None:
        self.lines.append(f"WARN  {message}")
        self.warnings.append(message)

    @property
    def passed(self) -> bool:
        return not self.failures


def _read_members(path: Path) -> dict[str, bytes]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a readable zip file ({exc})") from None
    members: dict[str, bytes] = {}
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            if info.filename in members:
                raise BundleError(f"{info.filename}: appears twice in the zip")
            if info.file_size > MAX_MEMBER_BYTES:
                raise BundleError(f"{info.filename}: larger than {MAX_MEMBER_BYTES} bytes")
            try:
                members[info.filename] = zf.read(info)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise BundleError(f"{info.filename}: cannot be read ({exc})") from None
    return members


def _load_json(members: dict[str, bytes], name: str) -> Any:
    try:
        return json.loads(members[name])
    except KeyError:
        raise BundleError(f"{name}: missing from the bundle") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{name}: not valid JSON ({exc})") from None


def _hex_bytes(value: Any, length: int) -> bytes | None:
    if not isinstance(value, str) or len(value) != 2 * length:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def verify_bundle(
    path: Path | str, *, pinned_fingerprint: str | None = None, pinned_key: bytes | None = None
) -> Outcome:
    """Check a bundle; raises BundleError only when it cannot be read at all."""
    out = Outcome()
    members = _read_members(Path(path))
    manifest = _load_json(members, "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError("manifest.json: not a Vigil evidence bundle manifest")
    if manifest.get("v") != BUNDLE_VERSION:
        raise BundleError(f"manifest.json: unsupported bundle version {manifest.get('v')!r}")

    # -- key --------------------------------------------------------------------------
    public_key = _hex_bytes(manifest.get("public_key"), 32)
    if public_key is None:
        raise BundleError("manifest.json: public_key is not 64 hex characters")
    fingerprint = hashlib.sha256(public_key).hexdigest()
    out.lines.append(f"INFO  signing key fingerprint (SHA-256 of public key): {fingerprint}")
    if pinned_key is not None:
        if pinned_key == public_key:
            out.ok("bundle key is the pinned public key")
        else:
            out.fail("bundle key is NOT the pinned public key")
    elif pinned_fingerprint is not None:
        if pinned_fingerprint.strip().lower() == fingerprint:
            out.ok("bundle key matches the pinned fingerprint")
        else:
            out.fail("bundle key does NOT match the pinned fingerprint")
    else:
        out.warn(
            "key not pinned: compare the fingerprint above with the one Vigil publishes "
            "(or pass --key-fingerprint)"
        )
    pem = members.get("public_key.pem")
    if pem is not None:
        try:
            pem_ok = public_key_from_pem(pem) == public_key
        except ValueError:
            pem_ok = False
        if not pem_ok:
            out.fail("public_key.pem differs from the manifest's public key")

    # -- manifest signature and file list ----------------------------------------------
    signature = _hex_bytes(members.get("manifest.sig", b"").decode("ascii", "replace").strip(), 64)
    if signature is not None and _ed25519.verify(public_key, members["manifest.json"], signature):
        out.ok("manifest signature")
    else:
        out.fail("manifest signature is invalid or missing")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError("manifest.json: files is not an object")
    for name in sorted(set(members) - {"manifest.json", "manifest.sig"}):
        expected = files.get(name)
        if expected is None:
            out.fail(f"{name}: not listed in the manifest")
        elif hashlib.sha256(members[name]).hexdigest() != expected:
            out.fail(f"{name}: SHA-256 differs from the manifest")
    for name in sorted(set(files) - set(members)):
        out.fail(f"{name}: listed in the manifest but missing")

    # -- digests --------------------------------------------------------------------------
    digests: dict[str, dict[str, Any]] = {}
    for name in sorted(n for n in members if n.startswith("digests/")):
        doc = _check_digest(out, members, name, public_key)
        if doc is not None:
            digests[name] = doc
            out.digests_ok += 1

    # -- entries --------------------------------------------------------------------------
    listed = manifest.get("entries")
    if not isinstance(listed, list) or not all(type(s) is int for s in listed):
        raise BundleError("manifest.json: entries is not a list of sequence numbers")
    if not listed:
        out.fail("the bundle holds no ledger entries")
    previous: tuple[int, str] | None = None
    for seq in sorted(listed):
        name = f"entries/{seq:012d}.json"
        if name not in members:
            out.fail(f"entry {seq}: file {name} missing")
            continue
        checked = _check_entry(out, members, name, seq, digests)
        if checked is None:
            previous = None
            continue
        own_hash, prev_hash = checked
        if previous is not None and previous[0] == seq - 1 and previous[1] != prev_hash:
            out.fail(f"entry {seq}: does not link to entry {seq - 1}")
        previous = (seq, own_hash)
    stray = {n for n in members if n.startswith("entries/")} - {
        f"entries/{s:012d}.json" for s in listed
    }
    for name in sorted(stray):
        out.fail(f"{name}: entry not listed in the manifest")
    subject = manifest.get("subject", {})
    out.lines.append(
        f"INFO  subject: {subject.get('object_type')} {subject.get('object_id')}; "
        f"{out.entries_ok}/{len(listed)} entries and {out.digests_ok} digests verified"
    )
    return out


def _check_digest(
    out: Outcome, members: dict[str, bytes], name: str, public_key: bytes
) -> dict[str, Any] | None:
    try:
        envelope = json.loads(members[name])
    except (ValueError, UnicodeDecodeError):
        out.fail(f"{name}: not valid JSON")
        return None
    if not isinstance(envelope, dict):
        out.fail(f"{name}: not a digest envelope")
        return None
    doc = envelope.get("digest")
    problems = check_digest_document(doc)
    if problems:
        out.fail(f"{name}: " + "; ".join(problems))
        return None
    assert isinstance(doc, dict)
    sig = envelope.get("signature")
    value = _hex_bytes(sig.get("value"), 64) if isinstance(sig, dict) else None
    if value is None or not _ed25519.verify(public_key, digest_signed_bytes(doc), value):
        out.fail(f"{name}: digest signature is invalid")
        return None
    if doc["key_id"] != hashlib.sha256(public_key).hexdigest()[:16]:
        out.fail(f"{name}: digest names a different signing key")
        return None
    out.ok(
        f"digest {doc['kind']} {doc['first_seq']}..{doc['last_seq']} "
        f"({doc['period_start']} to {doc['period_end']}) signature"
    )
    return doc


def _check_entry(
    out: Outcome,
    members: dict[str, bytes],
    name: str,
    seq: int,
    digests: dict[str, dict[str, Any]],
) -> tuple[str, str] | None:
    """Return (hash, prev_hash) of a verified entry, None after reporting a failure."""
    try:
        entry = json.loads(members[name])
        header = entry["header"].encode("utf-8")
        body = entry["body"].encode("utf-8") if entry["body"] is not None else None
        entry_hash, prev_hash, proof = entry["hash"], entry["prev_hash"], entry["proof"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        out.fail(f"entry {seq}: malformed entry file")
        return None
    if entry.get("seq") != seq:
        out.fail(f"entry {seq}: file names a different sequence number")
        return None
    if hashlib.sha256(header).hexdigest() != entry_hash:
        out.fail(f"entry {seq}: hash does not match its header")
        return None
    try:
        parsed = parse_header(header)
    except ValueError as exc:
        out.fail(f"entry {seq}: {exc}")
        return None
    if parsed["seq"] != seq or parsed["prev"] != prev_hash:
        out.fail(f"entry {seq}: header disagrees with the entry's sequence or predecessor")
        return None
    if body is None:
        out.warn(f"entry {seq}: body redacted; its commitment (body_sha256) still verifies")
    elif hashlib.sha256(body).hexdigest() != parsed["body_sha256"]:
        out.fail(f"entry {seq}: body does not match the hash in its header")
        return None
    if not isinstance(proof, dict):
        out.fail(f"entry {seq}: no inclusion proof (not yet sealed by a signed digest)")
        return None
    doc = digests.get(proof.get("digest", ""))
    if doc is None:
        out.fail(f"entry {seq}: proof refers to a missing or invalid digest")
        return None
    path = proof.get("path")
    siblings = [_hex_bytes(h, 32) for h in path] if isinstance(path, list) else [None]
    index = seq - doc["first_seq"]
    if (
        any(s is None for s in siblings)
        or proof.get("leaf_index") != index
        or proof.get("tree_size") != doc["count"]
        or not merkle.verify_inclusion(
            merkle.leaf_hash(bytes.fromhex(entry_hash)), index, doc["count"],
            siblings,  # type: ignore[arg-type]
            bytes.fromhex(doc["merkle_root"]),
        )
    ):
        out.fail(f"entry {seq}: inclusion proof does not match digest {proof.get('digest')}")
        return None
    if seq == doc["last_seq"] and entry_hash != doc["head_hash"]:
        out.fail(f"entry {seq}: differs from the head hash of its digest")
        return None
    if seq == doc["first_seq"] and prev_hash != doc["first_prev_hash"]:
        out.fail(f"entry {seq}: predecessor differs from its digest")
        return None
    out.ok(
        f"entry {seq} {parsed['action']} {parsed['object_type']}:{parsed['object_id']} "
        f"at {parsed['ts']}: hash, body and inclusion in digest {doc['first_seq']}.."
        f"{doc['last_seq']}"
    )
    out.entries_ok += 1
    return entry_hash, prev_hash


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify_bundle",
        description="Verify a Vigil evidence bundle offline (standard library only).",
    )
    parser.add_argument("bundle", type=Path)
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--key-fingerprint", help="expected SHA-256 (hex) of the public key")
    pin.add_argument("--public-key", type=Path, help="expected public key (PEM or hex)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    args = parser.parse_args(argv)
    pinned_key = None
    if args.public_key is not None:
        try:
            pinned_key = public_key_from_pem(args.public_key.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"ERROR {args.public_key}: {exc}", file=sys.stderr)
            return 2
    try:
        outcome = verify_bundle(
            args.bundle, pinned_fingerprint=args.key_fingerprint, pinned_key=pinned_key
        )
    except BundleError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    for line in outcome.lines:
        if not args.quiet or line.startswith("FAIL"):
            print(line)
    if outcome.passed:
        pinned = bool(args.key_fingerprint or pinned_key)
        print("RESULT: bundle verified" + ("" if pinned else " (key not pinned)"))
        return 0
    print(f"RESULT: bundle REJECTED ({len(outcome.failures)} failed checks)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
