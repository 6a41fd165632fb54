"""An in-memory RFC 6962 tree over stored leaf hashes, for building proofs.

:class:`MerkleTree` keeps every perfect-subtree hash (2n hashes for n leaves),
so any subtree hash, inclusion proof or consistency proof for any earlier size
costs O(log n). Storage backends that keep their own node hashes can use the
pure functions in :mod:`logging_audit.ledger.proofs` with a ``range_hash``
callback instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from logging_audit.errors import FormatError, ProofError
from logging_audit.ledger._paths import build_consistency, build_inclusion
from logging_audit.ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["MerkleTree"]


class MerkleTree:
    """Leaf hashes plus every complete subtree hash above them."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build the tree from leaf hashes (each 32 bytes)."""
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash; completes the perfect subtrees it closes."""
        if len(leaf) != HASH_SIZE:
            raise FormatError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        levels = self._levels
        levels[0].append(leaf)
        level = 0
        h = leaf
        while len(levels[level]) % 2 == 0:
            h = node_hash(levels[level][-2], h)
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(h)

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash at ``index``."""
        return self._levels[0][index]

    def range_hash(self, begin: int, end: int) -> bytes:
        """Return the Merkle hash of leaves [begin, end) per RFC 6962 MTH."""
        n = end - begin
        if n <= 0:
            if n == 0 and 0 <= begin <= self.size:
                return EMPTY_ROOT
            raise FormatError(f"invalid leaf range [{begin}, {end})")
        if end > self.size or begin < 0:
            raise FormatError(f"leaf range [{begin}, {end}) outside tree of size {self.size}")
        if n & (n - 1) == 0 and begin % n == 0:
            return self._levels[n.bit_length() - 1][begin // n]
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
        return node_hash(self.range_hash(begin, begin + k), self.range_hash(begin + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the tree at ``size`` (default: current size)."""
        return self.range_hash(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
        return build_inclusion(index, self._checked_size(size), self.range_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Return the RFC 9162 consistency proof from ``size1`` to ``size2``."""
        return build_consistency(size1, self._checked_size(size2), self.range_hash)

    def _checked_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is outside the stored tree of size {self.size}")
        return size
