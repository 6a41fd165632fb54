"""The frontier (compact range [0, n)): shape, restore, and agreement with MerkleTree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import FormatError
from logging_audit.ledger import EMPTY_ROOT, Frontier, MerkleTree, leaf_hash, merkle_root


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def test_empty_frontier() -> None:
    f = Frontier()
    assert f.size == 0
    assert f.hashes == ()
    assert f.root() == EMPTY_ROOT
    assert merkle_root([]) == EMPTY_ROOT
    assert repr(f) == "Frontier(size=0)"


def test_single_leaf_root_is_the_leaf_hash() -> None:
    (h,) = _leaves(1)
    f = Frontier()
    f.append(h)
    assert f.root() == h
    assert f.hashes == (h,)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 13, 64, 100, 255, 256, 257])
def test_one_hash_per_set_bit(size: int) -> None:
    f = Frontier()
    f.extend(_leaves(size))
    assert f.size == size
    assert len(f.hashes) == size.bit_count()
    # Each hash is the root of a perfect subtree, largest (leftmost) first.
    tree = MerkleTree(_leaves(size))
    begin = 0
    bits = [b for b in reversed(range(size.bit_length())) if size >> b & 1]
    for h, bit in zip(f.hashes, bits, strict=True):
        width = 1 << bit
        assert h == tree.range_hash(begin, begin + width)
        begin += width
    assert begin == size


@pytest.mark.parametrize(
    ("size", "hashes", "problem"),
    [
        (-1, (), "must be >= 0"),
        (0, (b"\x00" * 32,), "needs 0 hashes, got 1"),
        (3, (b"\x00" * 32,), "needs 2 hashes, got 1"),
        (1, (b"\x00" * 31,), "must be 32 bytes, got 31"),
        (2, (b"\x00" * 33,), "must be 32 bytes, got 33"),
    ],
)
def test_restore_rejects_wrong_shape(size: int, hashes: tuple[bytes, ...], problem: str) -> None:
    with pytest.raises(FormatError, match=problem):
        Frontier(size, hashes)


def test_copy_is_independent() -> None:
    f = Frontier()
    f.extend(_leaves(5))
    g = f.copy()
    g.append(leaf_hash(b"more"))
    assert (f.size, g.size) == (5, 6)
    assert f.root() == merkle_root(_leaves(5))
    assert f.root() != g.root()


def test_hashes_is_a_snapshot() -> None:
    f = Frontier()
    f.extend(_leaves(3))
    snapshot = f.hashes
    f.append(leaf_hash(b"x"))
    assert snapshot != f.hashes
    assert len(snapshot) == 2


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=2**16))
def test_root_matches_merkle_tree_at_every_size(n: int, salt: int) -> None:
    leaves = _leaves(n, salt)
    tree = MerkleTree(leaves)
    f = Frontier()
    assert f.root() == tree.root(0)
    for i, h in enumerate(leaves, start=1):
        f.append(h)
        assert f.size == i
        assert f.root() == tree.root(i)
    assert merkle_root(leaves) == tree.root() == f.root()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_restored_frontier_continues_identically(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=0, max_value=300), label="n")
    k = data.draw(st.integers(min_value=0, max_value=n), label="restore at")
    leaves = _leaves(n, data.draw(st.integers(0, 2**16), label="salt"))
    original = Frontier()
    original.extend(leaves[:k])
    restored = Frontier(original.size, original.hashes)
    assert restored.root() == original.root()
    for h in leaves[k:]:
        original.append(h)
        restored.append(h)
        assert restored.hashes == original.hashes
        assert restored.root() == original.root()
    assert restored.root() == merkle_root(leaves)
