"""RFC 9162 Merkle tree (SHA-256): leaf and node hashes, roots, inclusion and consistency proofs.

`Tree` keeps the hash of every complete, aligned subtree (level k holds the hashes of the
subtrees covering 2**k leaves), so appending is amortised O(1) and any subtree hash the RFC's
recursive definitions ask for costs O(log n) lookups: proofs are O(log² n) at worst.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

HASH_SIZE = 32


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """An append-only Merkle tree over leaf hashes."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.size = 0
        for h in leaf_hashes:
            self.append(h)

    def append(self, leaf: bytes) -> int:
        """Add one leaf hash; returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        index = self.size
        self.levels[0] += leaf
        self.size += 1
        level, count = 0, self.size
        while count % 2 == 0:
            row = self.levels[level]
            if len(self.levels) == level + 1:
                self.levels.append(bytearray())
            self.levels[level + 1] += node_hash(bytes(row[-64:-32]), bytes(row[-32:]))
            level += 1
            count //= 2
        return index

    def truncate(self, size: int) -> None:
        """Forget every leaf from `size` on (undo appends whose transaction failed)."""
        self._check_size(size)
        for level, row in enumerate(self.levels):
            del row[(size >> level) * HASH_SIZE:]
        self.size = size

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return bytes(self.levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def _perfect(self, level: int, index: int) -> bytes:
        row = self.levels[level]
        return bytes(row[index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges RFC 9162's recursion produces (lo aligned)."""
        n = hi - lo
        if n <= 0:
            return empty_root()
        if n & (n - 1) == 0 and lo % n == 0:
            return self._perfect(n.bit_length() - 1, lo // n)
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return self.subtree(0, size)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} outside 0..{self.size}")

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 section 2.1.3.1."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} outside tree of size {size}")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                path.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.subtree(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
        self._check_size(second)
        if not 0 < first <= second:
            raise ValueError(f"need 0 < first <= second, got {first}, {second}")
        proof: list[bytes] = []
        lo, hi, m, complete = 0, second, first, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self.subtree(lo, hi))
        proof.reverse()
        return proof


def root_of(leaf_hashes: list[bytes]) -> bytes:
    """Straight recursive MTH, for checking a stored log from scratch."""
    n = len(leaf_hashes)
    if n == 0:
        return empty_root()
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))
