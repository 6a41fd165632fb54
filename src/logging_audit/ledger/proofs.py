"""RFC 9162 §2.1.3–2.1.4 inclusion and consistency proofs: build and verify.

Verifiers return ``None`` and raise a :class:`~logging_audit.errors.ProofError`
subclass on failure; a mismatch carries the ``expected`` and ``calculated`` roots.
"""

from __future__ import annotations

from collections.abc import Sequence

from logging_audit.errors import ConsistencyProofError, InclusionProofError, ProofError
from logging_audit.ledger._paths import RangeHash, build_consistency, build_inclusion
from logging_audit.ledger.hashing import HASH_SIZE, node_hash
from logging_audit.ledger.tree import MerkleTree

__all__ = [
    "RangeHash",
    "consistency_proof",
    "inclusion_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HashSource = RangeHash | Sequence[bytes] | MerkleTree


def _range_hash(source: HashSource) -> RangeHash:
    if isinstance(source, MerkleTree):
        return source.range_hash
    if callable(source):
        return source
    return MerkleTree(source).range_hash


def inclusion_proof(index: int, size: int, source: HashSource) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    ``source`` is the stored leaf hashes (a sequence), a :class:`MerkleTree`, or
    a ``range_hash(begin, end)`` callable over stored node hashes.
    """
    return build_inclusion(index, size, _range_hash(source))


def consistency_proof(size1: int, size2: int, source: HashSource) -> list[bytes]:
    """Return the consistency proof from the tree of ``size1`` to ``size2`` leaves."""
    return build_consistency(size1, size2, _range_hash(source))


def _check_proof_hashes(proof: Sequence[bytes], error: type[ProofError]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise error(f"proof hash {i} is {len(p)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root implied by an inclusion proof, or raise for a malformed proof."""
    if len(leaf_hash) != HASH_SIZE:
        raise InclusionProofError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is outside the tree of size {size}")
    _check_proof_hashes(proof, InclusionProofError)
    # RFC 9162 §2.1.3.2
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise InclusionProofError(f"inclusion proof has too many hashes ({len(proof)})")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError(f"inclusion proof has too few hashes ({len(proof)})")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises :class:`~logging_audit.errors.InclusionProofError` on any failure.
    """
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if calculated != root:
        raise InclusionProofError(
            "inclusion proof does not lead to the expected root",
            expected=root,
            calculated=calculated,
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the tree (``size1``, ``root1``) is a prefix of (``size2``, ``root2``).

    A consistency check from the empty tree proves nothing and is rejected, as
    are ``size1 > size2``, a non-empty proof between equal sizes, and proofs of
    the wrong length. Raises :class:`~logging_audit.errors.ConsistencyProofError`.
    """
    if size1 < 1:
        raise ConsistencyProofError(f"consistency from a tree of size {size1} proves nothing")
    if size1 > size2:
        raise ConsistencyProofError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError("proof must be empty when the sizes are equal")
        if root1 != root2:
            raise ConsistencyProofError(
                "roots differ for trees of the same size", expected=root1, calculated=root2
            )
        return
    if not proof:
        raise ConsistencyProofError(f"empty consistency proof from size {size1} to {size2}")
    _check_proof_hashes(proof, ConsistencyProofError)
    # RFC 9162 §2.1.4.2
    hashes = list(proof)
    if size1 & (size1 - 1) == 0:
        hashes.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ConsistencyProofError(f"consistency proof has too many hashes ({len(proof)})")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError(f"consistency proof has too few hashes ({len(proof)})")
    if fr != root1:
        raise ConsistencyProofError(
            "consistency proof does not lead to the old root", expected=root1, calculated=fr
        )
    if sr != root2:
        raise ConsistencyProofError(
            "consistency proof does not lead to the new root", expected=root2, calculated=sr
        )
