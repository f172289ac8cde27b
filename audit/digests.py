"""Sealing the ledger: signed digests (hourly and daily series) and inclusion proofs."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

from django.db import connection, transaction
from django.utils import timezone

from audit import merkle
from audit.archive import archive_write
from audit.chain import (
    GENESIS_PREV_HASH,
    ROW_FIELDS,
    ChainVerifier,
    format_ts,
    merkle_leaf_data,
)
from audit.formats import (
    ZERO_HASH,
    canonical_bytes,
    digest_document,
    digest_envelope,
    digest_file_name,
    digest_signed_bytes,
)
from audit.keys import signing_key
from audit.models import Digest, DigestKind, LedgerEntry

# Serialises digest creation per database (PostgreSQL advisory lock key, "VIGIL-D").
DIGEST_LOCK_KEY = 0x5649_4749_4C44


class DigestError(Exception):
    """The ledger range to seal does not verify: nothing is signed."""


def digest_envelope_bytes(digest: Digest) -> bytes:
    return canonical_bytes(
        digest_envelope(_document(digest), bytes.fromhex(digest.signature))
    )


def _document(digest: Digest) -> dict:
    return json.loads(bytes(digest.document))


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DIGEST_LOCK_KEY])


@transaction.atomic
def digest_create(*, kind: str = DigestKind.HOURLY, now: dt.datetime | None = None
                  ) -> Digest | None:
    """Seal every entry after the previous digest of this kind up to the current head.

    Refuses (DigestError) to sign a range that does not verify, so a signature never
    blesses damage. Returns None when there is nothing new to seal. The file is written
    to the digest directory once the row is committed.
    """
    from audit.services import ledger_seal_pending

    now = now or timezone.now()
    ledger_seal_pending()  # background sealing: a digest covers everything committed
    _lock()
    previous = Digest.objects.filter(kind=kind).order_by("-last_seq").first()
    first_seq = previous.last_seq + 1 if previous else 1
    first_prev = previous.head_hash if previous else GENESIS_PREV_HASH
    head = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    if head is None or head < first_seq:
        return None
    verifier = ChainVerifier(start_seq=first_seq, prev_hash=first_prev)
    tree_leaves: list[bytes] = []
    first_ts = None
    for batch in _row_batches(first_seq, head):
        verifier.feed(batch)
        tree_leaves.extend(merkle.leaf_hash(merkle_leaf_data(r[12])) for r in batch)
        first_ts = first_ts or batch[0][1]
    report = verifier.finish()
    if not report.ok or report.last_seq != head:
        problem = report.first_problem
        raise DigestError(
            f"refusing to sign {kind} digest {first_seq}..{head}: "
            + (f"{problem.kind} at seq {problem.seq}: {problem.detail}" if problem else
               "range incomplete")
        )
    key = signing_key()
    document = digest_document(
        kind=kind,
        period_start=format_ts(previous.period_end if previous else first_ts),
        period_end=format_ts(now),
        first_seq=first_seq,
        last_seq=head,
        first_prev_hash=first_prev,
        head_hash=report.head_hash,
        merkle_root=merkle.root_from_leaf_hashes(tree_leaves).hex(),
        prev_digest_sha256=(
            hashlib.sha256(bytes(previous.document)).hexdigest() if previous else ZERO_HASH
        ),
        created_at=format_ts(now),
        key_id=key.key_id,
    )
    signed = digest_signed_bytes(document)
    signature = key.sign(signed)
    digest = Digest.objects.create(
        kind=kind, period_start=previous.period_end if previous else first_ts,
        period_end=now, first_seq=first_seq, last_seq=head, count=document["count"],
        first_prev_hash=first_prev, head_hash=document["head_hash"],
        merkle_root=document["merkle_root"],
        prev_digest_sha256=document["prev_digest_sha256"], document=signed,
        signature=signature.hex(), key_id=key.key_id, file_name=digest_file_name(document),
        created_at=now,
    )
    envelope = canonical_bytes(digest_envelope(document, signature))
    transaction.on_commit(lambda: archive_write(digest.file_name, envelope))
    return digest


def digest_archive_sync() -> int:
    """Write digest files missing from the directory (e.g. after a crash between commit and
    write). Safe: the content comes from signed rows, and existing files are never replaced."""
    written = 0
    for digest in Digest.objects.order_by("last_seq"):
        written += archive_write(digest.file_name, digest_envelope_bytes(digest))
    return written


def _row_batches(first_seq: int, last_seq: int, size: int = 20000):
    start = first_seq
    while start <= last_seq:
        end = min(start + size - 1, last_seq)
        batch = list(
            LedgerEntry.objects.filter(seq__gte=start, seq__lte=end)
            .order_by("seq").values_list(*ROW_FIELDS)
        )
        if not batch:
            return
        yield batch
        start = end + 1


# -- inclusion proofs --------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _tree(digest_id: int, first_seq: int, last_seq: int) -> merkle.MerkleTree:
    hashes = LedgerEntry.objects.filter(seq__gte=first_seq, seq__lte=last_seq).order_by(
        "seq").values_list("hash", flat=True)
    return merkle.MerkleTree([merkle.leaf_hash(merkle_leaf_data(h)) for h in hashes])


def covering_digest(seq: int, kind: str = DigestKind.HOURLY) -> Digest | None:
    return Digest.objects.filter(kind=kind, first_seq__lte=seq, last_seq__gte=seq).first()


def inclusion_proof(entry: LedgerEntry, digest: Digest) -> dict:
    """RFC 6962 audit path of ``entry`` in ``digest``'s Merkle tree (trees are cached per
    digest, so a second proof in the same digest costs microseconds)."""
    tree = _tree(digest.pk, digest.first_seq, digest.last_seq)
    if tree.size != digest.count or tree.root.hex() != digest.merkle_root:
        _tree.cache_clear()  # a stale cache (e.g. another database in tests): rebuild once
        tree = _tree(digest.pk, digest.first_seq, digest.last_seq)
    if tree.size != digest.count or tree.root.hex() != digest.merkle_root:
        raise DigestError(f"ledger entries {digest.first_seq}..{digest.last_seq} no longer "
                          "match their signed digest")
    index = entry.seq - digest.first_seq
    return {
        "digest": f"digests/{digest.file_name}",
        "leaf_index": index,
        "tree_size": digest.count,
        "path": [h.hex() for h in tree.inclusion_proof(index)],
    }


def ensure_sealed(seq: int) -> Digest:
    """The hourly digest covering ``seq``, sealing the chain now if the hour is not over."""
    digest = covering_digest(seq)
    if digest is None:
        digest_create(kind=DigestKind.HOURLY)
        digest = covering_digest(seq)
    if digest is None:
        raise DigestError(f"entry {seq} could not be sealed")
    return digest
