"""Proof construction (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF) over a range-hash source."""

from __future__ import annotations

from collections.abc import Callable

from logging_audit.errors import ProofError

RangeHash = Callable[[int, int], bytes]
"""``range_hash(begin, end)`` returns the Merkle hash of leaves [begin, end)."""


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def build_inclusion(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``size`` leaves, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside the tree of size {size}")
    path: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            path.append(range_hash(begin + k, end))
            end = begin + k
        else:
            path.append(range_hash(begin, begin + k))
            begin += k
    path.reverse()
    return path


def build_consistency(size1: int, size2: int, range_hash: RangeHash) -> list[bytes]:
    """Consistency proof from the tree of ``size1`` leaves to ``size2`` leaves."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return []
    proof: list[bytes] = []
    begin, end, m = 0, size2, size1
    complete = True  # SUBPROOF's b: is [begin, begin+m) a subtree of the old tree
    while True:
        n = end - begin
        if m == n:
            if not complete:
                proof.append(range_hash(begin, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(range_hash(begin + k, end))
            end = begin + k
        else:
            proof.append(range_hash(begin, begin + k))
            begin += k
            m -= k
            complete = False
    proof.reverse()
    return proof
