"""The frontier ("compact range" [0, n)) of an RFC 6962 tree.

It holds one hash per set bit of the tree size: the roots of the perfect
subtrees that make up the tree, largest first. Appending costs one hash
amortised (at most log2(n)); the root is computed on demand in O(log n).

A frontier may also start at a leaf other than 0: it then holds the compact
range [start, n), the maximal aligned perfect subtrees covering those leaves.
Such a range has no root of its own, but folded in order into the frontier
[0, start) (:meth:`Frontier.extend_subtrees`) it yields the frontier [0, n)
exactly, so that ranges of leaves can be hashed apart (in parallel) and joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from logging_audit.errors import FormatError
from logging_audit.ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["Frontier", "merkle_root"]


def _heights(start: int, end: int) -> list[int]:
    """Heights of the maximal aligned perfect subtrees covering leaves [start, end), in order."""
    out = []
    pos = start
    while pos < end:
        h = (pos & -pos).bit_length() - 1 if pos else (end - pos).bit_length() - 1
        while pos + (1 << h) > end:
            h -= 1
        out.append(h)
        pos += 1 << h
    return out


class Frontier:
    """Append-only summary of an RFC 6962 tree: its size and perfect-subtree roots."""

    __slots__ = ("_hashes", "_size", "_start")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = (), *, start: int = 0) -> None:
        """Create an empty frontier, or restore one from :meth:`hashes` and ``size``.

        With ``start`` > 0 the frontier is the compact range of leaves
        [``start``, ``size``) (empty when ``size`` equals ``start``, the default
        then). Raises :class:`~logging_audit.errors.FormatError` when ``hashes``
        does not hold exactly one 32-byte hash per subtree: per set bit of
        ``size`` for a frontier from leaf 0.
        """
        if start < 0:
            raise FormatError(f"frontier start must be >= 0, got {start}")
        if start and not size and not hashes:
            size = start
        if size < 0:
            raise FormatError(f"frontier size must be >= 0, got {size}")
        if size < start:
            raise FormatError(f"frontier size must be >= its start {start}, got {size}")
        need = size.bit_count() if start == 0 else len(_heights(start, size))
        if len(hashes) != need:
            raise FormatError(f"frontier of size {size} needs {need} hashes, got {len(hashes)}")
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise FormatError(f"frontier hash must be {HASH_SIZE} bytes, got {len(h)}")
        self._start = start
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """Number of leaves of the tree so far (one past the last leaf appended)."""
        return self._size

    @property
    def start(self) -> int:
        """The first leaf covered: 0 for a whole tree's frontier."""
        return self._start

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees covering [start, size), left to right."""
        return tuple(self._hashes)

    def subtrees(self) -> tuple[tuple[int, bytes], ...]:
        """``(height, root)`` of each perfect subtree covering [start, size), left to right.

        A subtree of height h holds 2**h leaves and starts at a multiple of 2**h.
        """
        return tuple(zip(_heights(self._start, self._size), self._hashes, strict=True))

    def append(self, leaf: bytes) -> None:
        """Append one *leaf hash* (not entry bytes) to the tree."""
        hashes = self._hashes
        h = leaf
        if self._start == 0:
            size = self._size
            # Each trailing one bit of the old size is a perfect subtree of the same
            # height as the carry: merge them.
            while size & 1:
                h = node_hash(hashes.pop(), h)
                size >>= 1
        else:
            # Merge while the carry and the subtree before it form an aligned
            # subtree that lies wholly inside the range.
            end = self._size + 1
            bit = 1
            while not end & bit and end - self._start >= bit << 1:
                h = node_hash(hashes.pop(), h)
                bit <<= 1
        hashes.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def append_subtree(self, root: bytes, height: int) -> None:
        """Append a whole perfect subtree of 2**``height`` leaves, given its root hash.

        The frontier's size must be a multiple of 2**``height`` (the subtree is
        aligned), as every subtree of :meth:`subtrees` is where it came from.
        Raises :class:`~logging_audit.errors.FormatError` otherwise.
        """
        if height < 0 or len(root) != HASH_SIZE:
            raise FormatError("a subtree needs a height >= 0 and a 32-byte root hash")
        width = 1 << height
        if self._size % width:
            raise FormatError(f"a subtree of {width} leaves cannot start at leaf {self._size}")
        if self._start:
            # In a range, merge only while the merged subtree stays inside the range.
            hashes, h = self._hashes, root
            end = self._size + width
            bit = width
            while not end & bit and end - self._start >= bit << 1:
                h = node_hash(hashes.pop(), h)
                bit <<= 1
            hashes.append(h)
            self._size = end
            return
        hashes, h = self._hashes, root
        carry = self._size >> height
        while carry & 1:
            h = node_hash(hashes.pop(), h)
            carry >>= 1
        hashes.append(h)
        self._size += width

    def extend_subtrees(self, subtrees: Iterable[tuple[int, bytes]]) -> None:
        """Append the ``(height, root)`` subtrees of a range that starts where this one ends."""
        for height, root in subtrees:
            self.append_subtree(root, height)

    def root(self) -> bytes:
        """Return the tree's root hash at its current size.

        Raises :class:`~logging_audit.errors.FormatError` for a range that does
        not start at leaf 0: it is part of a tree, not one.
        """
        if self._start:
            raise FormatError(f"a range starting at leaf {self._start} has no root of its own")
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        """Return an independent copy."""
        return Frontier(self._size, self._hashes, start=self._start)

    def __repr__(self) -> str:
        if self._start:
            return f"Frontier(start={self._start}, size={self._size})"
        return f"Frontier(size={self._size})"


def merkle_root(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the RFC 6962 Merkle tree hash of a sequence of *leaf hashes*.

    The empty tree's root is SHA-256 of the empty string. Runs in O(n) hashes
    and O(log n) memory.
    """
    frontier = Frontier()
    frontier.extend(leaf_hashes)
    return frontier.root()
