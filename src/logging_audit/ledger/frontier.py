"""The frontier ("compact range" [0, n)) of an RFC 6962 tree.

It holds one hash per set bit of the tree size: the roots of the perfect
subtrees that make up the tree, largest first. Appending costs one hash
amortised (at most log2(n)); the root is computed on demand in O(log n).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from logging_audit.errors import FormatError
from logging_audit.ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["Frontier", "merkle_root"]


class Frontier:
    """Append-only summary of an RFC 6962 tree: its size and perfect-subtree roots."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Create an empty frontier, or restore one from :meth:`hashes` and ``size``.

        Raises :class:`~logging_audit.errors.FormatError` when ``hashes`` does not
        hold exactly one 32-byte hash per set bit of ``size``.
        """
        if size < 0:
            raise FormatError(f"frontier size must be >= 0, got {size}")
        if len(hashes) != size.bit_count():
            raise FormatError(
                f"frontier of size {size} needs {size.bit_count()} hashes, got {len(hashes)}"
            )
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise FormatError(f"frontier hash must be {HASH_SIZE} bytes, got {len(h)}")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees covering [0, size), left (largest) to right."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Append one *leaf hash* (not entry bytes) to the tree."""
        hashes = self._hashes
        size = self._size
        h = leaf
        # Each trailing one bit of the old size is a perfect subtree of the same
        # height as the carry: merge them.
        while size & 1:
            h = node_hash(hashes.pop(), h)
            size >>= 1
        hashes.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """Return the tree's root hash at its current size."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        """Return an independent copy."""
        return Frontier(self._size, self._hashes)

    def __repr__(self) -> str:
        return f"Frontier(size={self._size})"


def merkle_root(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of a sequence of *leaf hashes*.

    The empty tree's root is SHA-256 of the empty string. Runs in O(n) hashes
    and O(log n) memory.
    """
    frontier = Frontier()
    frontier.extend(leaf_hashes)
    return frontier.root()
