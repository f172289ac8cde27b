"""RFC 6962 (Certificate Transparency) Merkle tree hashes and inclusion proofs.

Standard library only: the offline bundle verifier imports this module.

- leaf hash  = SHA-256(0x00 || leaf data)
- node hash  = SHA-256(0x01 || left || right)
- empty tree = SHA-256("")

A tree of n leaves splits at the largest power of two below n (RFC 6962 section 2.1). The
same tree is obtained level by level by pairing nodes left to right and promoting an
unpaired last node unchanged, which is how ``MerkleTree`` caches its levels so that a proof
among a million leaves is a few dozen list lookups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Tree head of already leaf-hashed data (level by level, O(n) time)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [
            sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash of the given leaf data."""
    return root_from_leaf_hashes([leaf_hash(d) for d in leaves])


class MerkleTree:
    """All levels of a tree, built once, answering inclusion proofs in O(log n)."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        # Each level is one bytes object of 32-byte hashes: a million-leaf tree costs
        # ~64 MB instead of ~130 MB as lists of small bytes objects.
        level = list(leaf_hashes)
        levels: list[bytes] = [b"".join(level)]
        sha = hashlib.sha256
        while len(level) > 1:
            nxt = [
                sha(b"\x01" + level[i] + level[i + 1]).digest()
                for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
            levels.append(b"".join(level))
        self._levels = levels

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        return cls([leaf_hash(d) for d in leaves])

    @property
    def root(self) -> bytes:
        return self._levels[-1][:32] if self.size else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> list[bytes]:
        """Audit path for leaf ``index`` (RFC 6962 section 2.1.1), bottom-up."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} not in a tree of {self.size}")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling * 32 < len(level):
                path.append(level[sibling * 32 : sibling * 32 + 32])
            # else: the node is promoted unchanged, no hash at this level
            index >>= 1
        return path


def verify_inclusion(
    leaf_hash_value: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` put this leaf at ``index`` under ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    node = leaf_hash_value
    for sibling in proof:
        if len(sibling) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root
