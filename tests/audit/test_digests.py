"""Signed digests, the archive directory and inclusion proofs, against the real database."""

from __future__ import annotations

import json

import pytest

from audit import merkle
from audit.chain import merkle_leaf_data
from audit.digests import (
    DigestError,
    digest_archive_sync,
    digest_create,
    inclusion_proof,
)
from audit.formats import digest_signed_bytes
from audit.keys import signing_key
from audit.models import Digest, DigestKind, LedgerEntry
from audit.signing import verify_signature
from tests.audit.conftest import raw_sql

pytestmark = pytest.mark.django_db(transaction=False)


def test_digest_seals_all_entries_and_is_signed(customers, django_capture_on_commit_callbacks,
                                                audit_env):
    with django_capture_on_commit_callbacks(execute=True):
        digest = digest_create(kind=DigestKind.HOURLY)
    entries = list(LedgerEntry.objects.order_by("seq"))
    assert (digest.first_seq, digest.last_seq, digest.count) == (1, entries[-1].seq,
                                                                 len(entries))
    assert digest.head_hash == entries[-1].hash
    expected_root = merkle.merkle_root(merkle_leaf_data(e.hash) for e in entries)
    assert digest.merkle_root == expected_root.hex()
    doc = json.loads(bytes(digest.document))
    assert digest_signed_bytes(doc) == bytes(digest.document)
    key = signing_key()
    assert verify_signature(key.public_key_bytes, bytes(digest.document),
                            bytes.fromhex(digest.signature))
    # No personal data in a digest: names never appear.
    assert b"Customer" not in bytes(digest.document)
    files = list(audit_env.AUDIT_DIGEST_DIR.glob("*.json"))
    assert [f.name for f in files] == [digest.file_name]
    assert json.loads(files[0].read_bytes())["digest"] == doc
    assert files[0].stat().st_mode & 0o222 == 0  # read-only file


def test_series_continue_and_chain_and_nothing_new_is_no_digest(customers, audit_env):
    first = digest_create(kind=DigestKind.HOURLY)
    assert digest_create(kind=DigestKind.HOURLY) is None
    customers[0].name = "Changed"
    customers[0].save(update_fields=["name"])
    second = digest_create(kind=DigestKind.HOURLY)
    assert second.first_seq == first.last_seq + 1
    assert second.first_prev_hash == first.head_hash
    import hashlib

    assert second.prev_digest_sha256 == hashlib.sha256(bytes(first.document)).hexdigest()
    daily = digest_create(kind=DigestKind.DAILY)
    assert (daily.first_seq, daily.last_seq) == (1, second.last_seq)


def test_digest_refuses_to_sign_a_damaged_range(customers, audit_env):
    raw_sql("UPDATE audit_ledgerentry SET actor_label = 'mallory' WHERE seq = 2")
    with pytest.raises(DigestError, match="metadata_mismatch at seq 2"):
        digest_create(kind=DigestKind.HOURLY)
    assert not Digest.objects.exists()


def test_archive_sync_rewrites_a_missing_file_and_never_replaces(customers, audit_env):
    digest = digest_create(kind=DigestKind.HOURLY)
    assert digest_archive_sync() == 1
    assert digest_archive_sync() == 0
    path = audit_env.AUDIT_DIGEST_DIR / digest.file_name
    path.chmod(0o644)
    path.write_bytes(b"{}")
    with pytest.raises(FileExistsError):
        digest_archive_sync()


def test_inclusion_proof_for_every_entry(customers, audit_env):
    digest = digest_create(kind=DigestKind.HOURLY)
    root = bytes.fromhex(digest.merkle_root)
    for entry in LedgerEntry.objects.order_by("seq"):
        proof = inclusion_proof(entry, digest)
        path = [bytes.fromhex(h) for h in proof["path"]]
        leaf = merkle.leaf_hash(merkle_leaf_data(entry.hash))
        assert merkle.verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root)
        assert not merkle.verify_inclusion(
            merkle.leaf_hash(b"\x00" * 32), proof["leaf_index"], proof["tree_size"], path, root)
