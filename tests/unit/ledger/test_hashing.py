"""RFC 6962 / RFC 9162 §2.1 hashing: leaf and node hashes, domain separation, the empty root."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from logging_audit.ledger import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

hashes = st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE)


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_leaf_hash_of_empty_input_known_answer() -> None:
    # transparency-dev/merkle rfc6962 hasher test: HashLeaf([]byte{}).
    assert (
        leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_node_hash_known_answer() -> None:
    # transparency-dev/merkle rfc6962 hasher test: HashChildren("N123", "N456").
    assert (
        node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@given(st.binary(max_size=200))
def test_leaf_hash_is_sha256_of_zero_prefix(data: bytes) -> None:
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    assert len(leaf_hash(data)) == HASH_SIZE


@given(hashes, hashes)
def test_node_hash_is_sha256_of_one_prefix(left: bytes, right: bytes) -> None:
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


@given(hashes, hashes)
def test_domain_separation_between_leaves_and_nodes(left: bytes, right: bytes) -> None:
    # The second-preimage defence of RFC 6962: a leaf whose bytes are two hashes never
    # hashes like the interior node over those hashes.
    assert leaf_hash(left + right) != node_hash(left, right)


@given(hashes, hashes)
def test_node_hash_is_ordered(left: bytes, right: bytes) -> None:
    if left != right:
        assert node_hash(left, right) != node_hash(right, left)
