"""RFC 9162 inclusion and consistency proofs: properties over random trees, and every rejection.

Proofs are checked against a direct transcription of RFC 6962 §2.1.1-2.1.2 (PATH and
SUBPROOF over the leaf list), which shares no code with the library.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import ConsistencyProofError, FormatError, InclusionProofError, ProofError
from logging_audit.ledger import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}/{i}".encode()) for i in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# -- RFC 6962 §2.1, transcribed ---------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    if m == len(d):
        return [] if complete else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], complete), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# -- strategies -----------------------------------------------------------------------------


@st.composite
def trees(draw: st.DrawFn, min_size: int = 1) -> tuple[list[bytes], MerkleTree]:
    n = draw(st.integers(min_value=min_size, max_value=MAX_SIZE), label="tree size")
    leaves = _leaves(n, draw(st.integers(0, 2**20), label="salt"))
    return leaves, MerkleTree(leaves)


PROPERTY = settings(max_examples=80, deadline=None)


# -- inclusion --------------------------------------------------------------------------------


@PROPERTY
@given(trees(), st.data())
def test_inclusion_proofs_verify(t: tuple[list[bytes], MerkleTree], data: st.DataObject) -> None:
    leaves, tree = t
    size = data.draw(st.integers(1, tree.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, leaves[:size])
    assert proof == inclusion_proof(index, size, leaves)
    assert proof == inclusion_proof(index, size, tree.range_hash)
    assert proof == inclusion_proof(index, size, tree)
    if size == tree.size:
        assert proof == tree.inclusion_proof(index)
    assert root == ref_mth(leaves[:size]) == merkle_root(leaves[:size])
    verify_inclusion(index, size, leaves[index], proof, root)
    assert root_from_inclusion_proof(index, size, leaves[index], proof) == root


@PROPERTY
@given(trees(), st.data())
def test_inclusion_single_bit_flip_fails(
    t: tuple[list[bytes], MerkleTree], data: st.DataObject
) -> None:
    leaves, tree = t
    index = data.draw(st.integers(0, tree.size - 1), label="index")
    proof = tree.inclusion_proof(index)
    root, leaf = tree.root(), leaves[index]
    targets = ["leaf", "root", *(f"proof[{i}]" for i in range(len(proof)))]
    target = data.draw(st.sampled_from(targets), label="flipped")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target == "leaf":
        leaf = _flip(leaf, bit)
    elif target == "root":
        root = _flip(root, bit)
    else:
        i = int(target[6:-1])
        proof = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
    with pytest.raises(InclusionProofError) as info:
        verify_inclusion(index, tree.size, leaf, proof, root)
    assert info.value.expected == root
    assert info.value.calculated is not None
    assert info.value.calculated != root


@PROPERTY
@given(trees(min_size=2), st.data())
def test_inclusion_proof_of_another_index_fails(
    t: tuple[list[bytes], MerkleTree], data: st.DataObject
) -> None:
    leaves, tree = t
    index = data.draw(st.integers(0, tree.size - 1), label="index")
    other = data.draw(st.integers(0, tree.size - 1).filter(lambda i: i != index), label="other")
    with pytest.raises(InclusionProofError):
        verify_inclusion(other, tree.size, leaves[other], tree.inclusion_proof(index), tree.root())


# -- consistency -----------------------------------------------------------------------------


@PROPERTY
@given(trees(), st.data())
def test_consistency_proofs_verify(t: tuple[list[bytes], MerkleTree], data: st.DataObject) -> None:
    leaves, tree = t
    size2 = data.draw(st.integers(1, tree.size), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = tree.consistency_proof(size1, size2)
    assert proof == ref_subproof(size1, leaves[:size2], True)
    assert proof == consistency_proof(size1, size2, leaves)
    assert proof == consistency_proof(size1, size2, tree.range_hash)
    assert proof == MerkleTree(leaves[:size2]).consistency_proof(size1)
    verify_consistency(size1, size2, tree.root(size1), tree.root(size2), proof)


@PROPERTY
@given(trees(min_size=2), st.data())
def test_consistency_single_bit_flip_fails(
    t: tuple[list[bytes], MerkleTree], data: st.DataObject
) -> None:
    _, tree = t
    size1 = data.draw(st.integers(1, tree.size - 1), label="size1")
    size2 = tree.size
    proof = tree.consistency_proof(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    targets = ["root1", "root2", *(f"proof[{i}]" for i in range(len(proof)))]
    target = data.draw(st.sampled_from(targets), label="flipped")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target == "root1":
        root1 = _flip(root1, bit)
    elif target == "root2":
        root2 = _flip(root2, bit)
    else:
        i = int(target[6:-1])
        proof = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
    with pytest.raises(ConsistencyProofError) as info:
        verify_consistency(size1, size2, root1, root2, proof)
    assert info.value.expected in (root1, root2)
    assert info.value.calculated not in (None, info.value.expected)


@PROPERTY
@given(trees(), st.integers(0, 255))
def test_consistency_between_equal_sizes(t: tuple[list[bytes], MerkleTree], bit: int) -> None:
    _, tree = t
    root = tree.root()
    assert tree.consistency_proof(tree.size) == []
    verify_consistency(tree.size, tree.size, root, root, [])
    with pytest.raises(ConsistencyProofError, match="roots differ"):
        verify_consistency(tree.size, tree.size, root, _flip(root, bit), [])


@PROPERTY
@given(trees(min_size=2), st.data())
def test_consistency_with_a_forked_tree_fails(
    t: tuple[list[bytes], MerkleTree], data: st.DataObject
) -> None:
    leaves, tree = t
    size1 = data.draw(st.integers(1, tree.size - 1), label="size1")
    changed = data.draw(st.integers(0, size1 - 1), label="rewritten leaf")
    fork = MerkleTree([leaf_hash(b"fork") if i == changed else h for i, h in enumerate(leaves)])
    with pytest.raises(ConsistencyProofError):
        verify_consistency(
            size1, tree.size, tree.root(size1), fork.root(), fork.consistency_proof(size1)
        )


# -- shapes that are rejected before any hashing -----------------------------------------

LEAVES = _leaves(7)
TREE = MerkleTree(LEAVES)
H = leaf_hash(b"h")


@pytest.mark.parametrize(
    ("index", "size", "leaf", "proof", "message"),
    [
        (7, 7, LEAVES[0], TREE.inclusion_proof(0), "outside the tree of size 7"),
        (-1, 7, LEAVES[0], TREE.inclusion_proof(0), "outside the tree"),
        (0, 0, LEAVES[0], [], "outside the tree of size 0"),
        (0, 7, LEAVES[0][:31], TREE.inclusion_proof(0), "leaf hash is 31 bytes"),
        (0, 7, LEAVES[0], [*TREE.inclusion_proof(0)[:2], b"x" * 33], "proof hash 2 is 33 bytes"),
        (0, 7, LEAVES[0], [*TREE.inclusion_proof(0), H], "too many hashes"),
        (0, 7, LEAVES[0], TREE.inclusion_proof(0)[:-1], "too few hashes"),
        (0, 1, LEAVES[0], [H], "too many hashes"),
    ],
)
def test_inclusion_shape_errors(
    index: int, size: int, leaf: bytes, proof: list[bytes], message: str
) -> None:
    with pytest.raises(InclusionProofError, match=message) as info:
        verify_inclusion(index, size, leaf, proof, TREE.root())
    assert (info.value.expected, info.value.calculated) == (None, None)


@pytest.mark.parametrize(
    ("size1", "size2", "proof", "message"),
    [
        (0, 7, TREE.consistency_proof(3), "proves nothing"),
        (0, 0, [], "proves nothing"),
        (5, 3, TREE.consistency_proof(3), "greater than size2"),
        (7, 7, [H], "must be empty"),
        (3, 7, [], "empty consistency proof"),
        (3, 7, [*TREE.consistency_proof(3)[:-1], b"x" * 31], "is 31 bytes"),
        (3, 7, [*TREE.consistency_proof(3), H], "too many hashes"),
        (3, 7, TREE.consistency_proof(3)[:-1], "too few hashes"),
    ],
)
def test_consistency_shape_errors(size1: int, size2: int, proof: list[bytes], message: str) -> None:
    with pytest.raises(ConsistencyProofError, match=message):
        verify_consistency(size1, size2, TREE.root(min(size1, 7)), TREE.root(), proof)


def test_proof_errors_are_one_family() -> None:
    assert issubclass(InclusionProofError, ProofError)
    assert issubclass(ConsistencyProofError, ProofError)


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_inclusion_proof_of_a_missing_leaf_is_refused(index: int, size: int) -> None:
    with pytest.raises(ProofError, match="outside the tree"):
        inclusion_proof(index, size, LEAVES)


@pytest.mark.parametrize(("size1", "size2"), [(0, 3), (4, 3), (-1, 2)])
def test_consistency_proof_of_impossible_sizes_is_refused(size1: int, size2: int) -> None:
    with pytest.raises(ProofError, match="no consistency proof"):
        consistency_proof(size1, size2, LEAVES)


def test_tree_refuses_sizes_beyond_what_it_holds() -> None:
    with pytest.raises(ProofError, match="outside the stored tree of size 7"):
        TREE.inclusion_proof(0, 8)
    with pytest.raises(ProofError, match="outside the stored tree"):
        TREE.consistency_proof(1, 8)
    with pytest.raises(FormatError, match="outside tree of size 7"):
        TREE.root(8)
    with pytest.raises(FormatError, match="invalid leaf range"):
        TREE.range_hash(3, 2)


def test_tree_basics() -> None:
    tree = MerkleTree()
    assert (tree.size, tree.root()) == (0, EMPTY_ROOT)
    with pytest.raises(FormatError, match="32 bytes, got 3"):
        tree.append(b"abc")
    tree.append(LEAVES[0])
    assert tree.leaf(0) == LEAVES[0]
    assert tree.root() == LEAVES[0]
    assert tree.inclusion_proof(0) == []
