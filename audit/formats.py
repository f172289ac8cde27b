"""File formats of signed digests and evidence bundles (pure, standard library only).

Shared by the application (which writes them) and the offline verifier (which reads them),
so both agree byte for byte on what is signed.

Digest envelope (one JSON file per digest, also stored in the database)::

    {"digest": {...document...},
     "signature": {"alg": "Ed25519", "key_id": "<16 hex>", "value": "<128 hex>"}}

The signature covers ``canonical_bytes(document)``. A document holds only sequence
numbers, times, counts and hashes — never personal data.

Evidence bundle (zip)::

    manifest.json       subject, public key, list of files with their SHA-256
    manifest.sig        Ed25519 signature of manifest.json's exact bytes (hex)
    public_key.pem      the same public key, for other tools
    digests/<name>.json digest envelopes the proofs point to
    entries/<seq>.json  header, body, hash, prev hash and inclusion proof of each entry
    README.txt          how to verify
"""

from __future__ import annotations

import base64
from typing import Any

from audit.chain import canonical_bytes

DIGEST_TYPE = "vigil-audit-digest"
DIGEST_VERSION = 1
BUNDLE_FORMAT = "vigil-evidence-bundle"
BUNDLE_VERSION = 1
ZERO_HASH = "0" * 64

DIGEST_FIELDS = frozenset(
    {
        "type", "v", "kind", "period_start", "period_end", "first_seq", "last_seq", "count",
        "first_prev_hash", "head_hash", "merkle_root", "prev_digest_sha256", "created_at",
        "key_id",
    }
)

# SubjectPublicKeyInfo DER prefix of an Ed25519 public key (RFC 8410), 12 bytes.
_SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def digest_document(
    *,
    kind: str,
    period_start: str,
    period_end: str,
    first_seq: int,
    last_seq: int,
    first_prev_hash: str,
    head_hash: str,
    merkle_root: str,
    prev_digest_sha256: str,
    created_at: str,
    key_id: str,
) -> dict[str, Any]:
    """The signed statement: "entries first..last, chained from first_prev_hash to
    head_hash, have this Merkle root". An empty period has count 0 and last = first - 1."""
    return {
        "type": DIGEST_TYPE,
        "v": DIGEST_VERSION,
        "kind": kind,
        "period_start": period_start,
        "period_end": period_end,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "count": last_seq - first_seq + 1,
        "first_prev_hash": first_prev_hash,
        "head_hash": head_hash,
        "merkle_root": merkle_root,
        "prev_digest_sha256": prev_digest_sha256,
        "created_at": created_at,
        "key_id": key_id,
    }


def digest_signed_bytes(document: dict[str, Any]) -> bytes:
    return canonical_bytes(document)


def digest_envelope(document: dict[str, Any], signature: bytes) -> dict[str, Any]:
    return {
        "digest": document,
        "signature": {"alg": "Ed25519", "key_id": document["key_id"], "value": signature.hex()},
    }


def digest_file_name(document: dict[str, Any]) -> str:
    """Stable, sortable name: ``<kind>-<period start>-<first>-<last>.json``."""
    start = document["period_start"].replace(":", "").replace("-", "")
    return (
        f"{document['kind']}-{start}-{document['first_seq']:012d}-{document['last_seq']:012d}"
        ".json"
    )


def check_digest_document(document: Any) -> list[str]:
    """Structural problems of a digest document (empty list when well formed)."""
    if not isinstance(document, dict):
        return ["digest is not an object"]
    problems = []
    if set(document) != DIGEST_FIELDS:
        problems.append("digest fields differ from the v1 format")
        return problems
    if document["type"] != DIGEST_TYPE or document["v"] != DIGEST_VERSION:
        problems.append("not a v1 Vigil audit digest")
    ints = (document["first_seq"], document["last_seq"], document["count"])
    if not all(type(v) is int for v in ints):
        problems.append("sequence numbers are not integers")
    elif document["count"] != document["last_seq"] - document["first_seq"] + 1 or (
        document["count"] < 0
    ):
        problems.append("count does not match the sequence range")
    for name in ("first_prev_hash", "head_hash", "merkle_root", "prev_digest_sha256"):
        value = document[name]
        if not (isinstance(value, str) and len(value) == 64 and _is_hex(value)):
            problems.append(f"{name} is not a SHA-256 hex string")
    return problems


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return value == value.lower()


def public_key_pem(public_key: bytes) -> bytes:
    der = _SPKI_ED25519_PREFIX + public_key
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    return b"-----BEGIN PUBLIC KEY-----\n" + b64 + b"\n-----END PUBLIC KEY-----\n"


def public_key_from_pem(pem: bytes) -> bytes:
    """Raw 32-byte key from an Ed25519 SubjectPublicKeyInfo PEM (or 64 hex characters)."""
    text = pem.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith(b"-----")]
    try:
        der = base64.b64decode(b"".join(lines), validate=True)
    except ValueError:
        raise ValueError("public key is not PEM or hex") from None
    if len(der) != 44 or not der.startswith(_SPKI_ED25519_PREFIX):
        raise ValueError("public key is not an Ed25519 SubjectPublicKeyInfo")
    return der[12:]


BUNDLE_README = """Vigil evidence bundle
=====================

This zip holds ledger entries about one object, the signed digests that seal them and an
RFC 6962 inclusion proof for each entry. Verify it offline with the verifier shipped in
the Vigil repository (Python standard library only):

    python -m audit.verify_bundle THIS_FILE.zip --key-fingerprint <published fingerprint>

The fingerprint is the SHA-256 of the raw Ed25519 public key; obtain it from Vigil through
a channel independent of this file.
"""


def entry_file_name(seq: int) -> str:
    return f"entries/{seq:012d}.json"


def build_bundle(
    *,
    subject: dict[str, Any],
    created_at: str,
    entries: list[dict[str, Any]],
    digests: dict[str, dict[str, Any]],
    public_key: bytes,
    sign: Any,
) -> bytes:
    """Zip bytes of an evidence bundle.

    ``entries``: dicts with seq, hash, prev_hash, header (str), body (str or None),
    proof ({digest, leaf_index, tree_size, path} or None). ``digests``: envelopes keyed by
    file name (``digests/<name>.json``). ``sign``: callable bytes -> 64-byte signature.
    """
    import hashlib
    import io
    import zipfile

    files: dict[str, bytes] = {"README.txt": BUNDLE_README.encode()}
    files["public_key.pem"] = public_key_pem(public_key)
    for name, envelope in digests.items():
        files[name] = canonical_bytes(envelope)
    for entry in entries:
        files[entry_file_name(entry["seq"])] = canonical_bytes(entry)
    manifest = {
        "format": BUNDLE_FORMAT,
        "v": BUNDLE_VERSION,
        "subject": subject,
        "created_at": created_at,
        "public_key": public_key.hex(),
        "entries": sorted(e["seq"] for e in entries),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest_bytes = canonical_bytes(manifest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", manifest_bytes)
        zf.writestr("manifest.sig", sign(manifest_bytes).hex() + "\n")
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    return buf.getvalue()
