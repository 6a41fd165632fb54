"""Proofs over a stored stream whose head may have been pruned.

:class:`StoredTree` holds every perfect-subtree hash that can still be known:
those above the stored leaves (seq ``start.size`` onwards) and the pruned
prefix's frontier (the :class:`~logging_audit.ledger.StreamStart` kept by
retention). Any inclusion proof for a stored leaf, and any consistency proof
from a size at or after the prune, needs only those hashes: a left sibling on
a path from a stored leaf is never strictly inside a frontier subtree.
Memory: about 2 hashes per stored leaf.
"""

from __future__ import annotations

from collections.abc import Iterable

from logging_audit.errors import ProofError
from logging_audit.ledger import (
    EMPTY_ROOT,
    StreamStart,
    consistency_proof,
    inclusion_proof,
    node_hash,
)

__all__ = ["StoredTree"]


class StoredTree:
    """An RFC 6962 tree over stored leaf hashes, resuming after a pruned prefix."""

    def __init__(self, start: StreamStart | None, leaves: Iterable[bytes]) -> None:
        """``leaves``: the leaf hashes of seq ``start.size`` (or 0) onwards, in order."""
        p = start.size if start is not None else 0
        self._pruned = p
        frontier = list(start.frontier) if start is not None else []
        # frontier[i] is the subtree for the i-th set bit of p, from the highest
        bits = [b for b in range(p.bit_length() - 1, -1, -1) if p >> b & 1]
        self._frontier = dict(zip(bits, frontier, strict=True))
        level0 = [self._frontier[0]] if p & 1 else []
        level0.extend(leaves)
        self._size = p - (p & 1) + len(level0)
        self._lo: list[int] = [p - (p & 1)]
        self._levels: list[list[bytes]] = [level0]
        up = 1
        while (1 << up) <= self._size:
            below, lo_below = self._levels[up - 1], self._lo[up - 1]
            bit = p >> up & 1
            lo = (p >> up) - bit
            out: list[bytes] = []
            i = lo
            while True:
                if bit and i == lo:
                    out.append(self._frontier[up])
                else:
                    a = 2 * i - lo_below
                    if a < 0 or a + 1 >= len(below):
                        break
                    out.append(node_hash(below[a], below[a + 1]))
                i += 1
            self._levels.append(out)
            self._lo.append(lo)
            up += 1

    @property
    def size(self) -> int:
        """Number of leaves (pruned ones included)."""
        return self._size

    @property
    def pruned(self) -> int:
        """Number of leading leaves removed by retention."""
        return self._pruned

    def range_hash(self, begin: int, end: int) -> bytes:
        """Merkle hash of leaves [begin, end); :class:`ProofError` if it needs pruned leaves."""
        n = end - begin
        if n <= 0 or begin < 0 or end > self._size:
            if n == 0 and 0 <= begin <= self._size:
                return EMPTY_ROOT
            raise ProofError(
                f"leaf range [{begin}, {end}) is outside the tree of size {self._size}"
            )
        if n & (n - 1) == 0 and begin % n == 0:
            level = n.bit_length() - 1
            if level < len(self._levels):
                idx = (begin >> level) - self._lo[level]
                if 0 <= idx < len(self._levels[level]):
                    return self._levels[level][idx]
            if end <= self._pruned:
                raise ProofError(
                    f"leaves [{begin}, {end}) were pruned by retention; their hashes are gone"
                )
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.range_hash(begin, begin + k), self.range_hash(begin + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Root hash at ``size`` (default: every leaf)."""
        return self.range_hash(0, self._size if size is None else size)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``seq`` in the tree of ``size``."""
        size = self._size if size is None else size
        if seq < self._pruned:
            raise ProofError(f"seq {seq} was pruned by retention")
        if size > self._size:
            raise ProofError(f"tree size {size} is beyond the stored {self._size} leaves")
        return inclusion_proof(seq, size, self.range_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from ``size1`` to ``size2`` (default: every leaf)."""
        size2 = self._size if size2 is None else size2
        if size2 > self._size:
            raise ProofError(f"tree size {size2} is beyond the stored {self._size} leaves")
        return consistency_proof(size1, size2, self.range_hash)
