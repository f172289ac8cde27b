"""RFC 6962 Merkle tree: roots match the recursive definition; every proof verifies and
no altered proof does."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.chain import MerkleAccumulator


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


# Test vector from the Certificate Transparency reference implementation (merkle_tree_test).
CT_LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]
CT_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_known_vectors():
    assert merkle.merkle_root([]).hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.merkle_root(CT_LEAVES).hex() == CT_ROOT_8
    assert reference_root(CT_LEAVES).hex() == CT_ROOT_8


@given(st.lists(st.binary(max_size=8), max_size=70))
@settings(max_examples=150, deadline=None)
def test_roots_agree_with_the_recursive_definition(leaves):
    expected = reference_root(leaves)
    assert merkle.merkle_root(leaves) == expected
    assert merkle.MerkleTree.from_leaves(leaves).root == expected
    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.add(leaf)
    assert acc.root() == expected


@given(st.lists(st.binary(max_size=4), min_size=1, max_size=70), st.data())
@settings(max_examples=150, deadline=None)
def test_every_proof_verifies_and_tampered_ones_fail(leaves, data):
    tree = merkle.MerkleTree.from_leaves(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.inclusion_proof(index)
    leaf = merkle.leaf_hash(leaves[index])
    assert merkle.verify_inclusion(leaf, index, len(leaves), proof, tree.root)
    # wrong leaf, wrong root
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x" * 9), index, len(leaves), proof,
                                       tree.root)
    assert not merkle.verify_inclusion(leaf, index, len(leaves), proof, b"\x00" * 32)
    # (tree_size is a claim the proof alone cannot pin down; verifiers take it from the
    # signed digest, see test_verify_bundle.)
    if proof:
        broken = list(proof)
        k = data.draw(st.integers(0, len(broken) - 1))
        broken[k] = bytes([broken[k][0] ^ 1]) + broken[k][1:]
        assert not merkle.verify_inclusion(leaf, index, len(leaves), broken, tree.root)
        assert not merkle.verify_inclusion(leaf, index, len(leaves), proof[:-1], tree.root)
    other = data.draw(st.integers(0, len(leaves) - 1))
    if leaves[other] != leaves[index] and other != index:
        assert not merkle.verify_inclusion(leaf, other, len(leaves), proof, tree.root)


def test_out_of_range_index():
    tree = merkle.MerkleTree.from_leaves([b"a", b"b"])
    with pytest.raises(IndexError):
        tree.inclusion_proof(2)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"a"), 2, 2, [], tree.root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"a"), -1, 2, [], tree.root)


def test_proof_in_a_large_tree_has_logarithmic_length():
    leaves = [i.to_bytes(4, "big") for i in range(5000)]
    tree = merkle.MerkleTree.from_leaves(leaves)
    for index in (0, 1, 2047, 4096, 4999):
        proof = tree.inclusion_proof(index)
        assert len(proof) <= 13
        assert merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, 5000, proof,
                                       tree.root)
