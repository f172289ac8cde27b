"""Builders of valid ledger rows, digests and bundles for the pure (no-database) tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle
from audit.chain import (
    GENESIS_PREV_HASH,
    DigestAnchor,
    EntryRow,
    canonical_bytes,
    entry_hash,
    entry_header,
    merkle_leaf_data,
    sha256_hex,
)
from audit.formats import build_bundle, digest_document, digest_envelope, digest_signed_bytes
from audit.signing import public_key_fingerprint

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def make_row(
    seq: int, prev: str, *, body: Any = None, ts: dt.datetime | None = None, **meta: str
) -> EntryRow:
    """A self-consistent row whose header links to ``prev``."""
    ts = ts or T0 + dt.timedelta(milliseconds=seq)
    fields = {
        "actor_type": "user", "actor_id": str(seq % 7), "actor_label": f"user{seq % 7}",
        "action": "update", "object_type": "cases.case", "object_id": str(seq // 3),
        "correlation_id": f"req-{seq // 2}",
    }
    fields.update(meta)
    body_bytes = canonical_bytes(body if body is not None else {"after": {"n": seq}})
    header = entry_header(
        seq=seq, ts=ts, body_sha256=sha256_hex(body_bytes), prev_hash=prev, **fields
    )
    return EntryRow(
        seq, ts, fields["actor_type"], fields["actor_id"], fields["actor_label"],
        fields["action"], fields["object_type"], fields["object_id"], fields["correlation_id"],
        header, body_bytes, prev, entry_hash(header),
    )


def make_chain(n: int, *, start: int = 1, prev: str = GENESIS_PREV_HASH) -> list[EntryRow]:
    rows = []
    for seq in range(start, start + n):
        row = make_row(seq, prev)
        rows.append(row)
        prev = row.hash
    return rows


def reseal(rows: list[EntryRow], start_index: int) -> list[EntryRow]:
    """Recompute headers and hashes from ``start_index`` on, as a capable attacker would."""
    out = list(rows[:start_index])
    prev = out[-1].hash if out else GENESIS_PREV_HASH
    for row in rows[start_index:]:
        header = entry_header(
            seq=row.seq, ts=row.ts, actor_type=row.actor_type, actor_id=row.actor_id,
            actor_label=row.actor_label, action=row.action, object_type=row.object_type,
            object_id=row.object_id, correlation_id=row.correlation_id,
            body_sha256=sha256_hex(row.body), prev_hash=prev,
        )
        row = row._replace(header=header, prev_hash=prev, hash=entry_hash(header))
        out.append(row)
        prev = row.hash
    return out


def anchor_for(rows: list[EntryRow], label: str = "") -> DigestAnchor:
    tree = merkle.MerkleTree.from_leaves(merkle_leaf_data(r.hash) for r in rows)
    return DigestAnchor(rows[0].seq, rows[-1].seq, rows[-1].hash, tree.root.hex(), label)


def signed_digest(
    rows: list[EntryRow], key: Ed25519PrivateKey, *, kind: str = "hourly"
) -> dict[str, Any]:
    public = key.public_key().public_bytes_raw()
    tree = merkle.MerkleTree.from_leaves(merkle_leaf_data(r.hash) for r in rows)
    doc = digest_document(
        kind=kind, period_start="2026-01-05T09:00:00Z", period_end="2026-01-05T10:00:00Z",
        first_seq=rows[0].seq, last_seq=rows[-1].seq, first_prev_hash=rows[0].prev_hash,
        head_hash=rows[-1].hash, merkle_root=tree.root.hex(), prev_digest_sha256="0" * 64,
        created_at="2026-01-05T10:00:01Z", key_id=public_key_fingerprint(public)[:16],
    )
    return digest_envelope(doc, key.sign(digest_signed_bytes(doc)))


def bundle_bytes(
    rows: list[EntryRow], picked: list[int], key: Ed25519PrivateKey
) -> bytes:
    """A bundle holding the entries at indexes ``picked`` with proofs into one digest."""
    envelope = signed_digest(rows, key)
    name = "digests/hourly-1.json"
    tree = merkle.MerkleTree.from_leaves(merkle_leaf_data(r.hash) for r in rows)
    entries = []
    for i in picked:
        row = rows[i]
        entries.append({
            "seq": row.seq, "hash": row.hash, "prev_hash": row.prev_hash,
            "header": row.header.decode(), "body": row.body.decode(),
            "proof": {
                "digest": name, "leaf_index": i, "tree_size": len(rows),
                "path": [h.hex() for h in tree.inclusion_proof(i)],
            },
        })
    return build_bundle(
        subject={"object_type": "cases.case", "object_id": "7", "label": "Case 7"},
        created_at="2026-01-05T10:05:00Z", entries=entries, digests={name: envelope},
        public_key=key.public_key().public_bytes_raw(), sign=key.sign,
    )
