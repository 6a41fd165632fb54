"""RFC 6962 known-answer vectors from transparency-dev/merkle (see the assets' README.md).

Every inclusion and consistency case is one test, named by its file; ``wantErr`` cases
must raise the specific :class:`~logging_audit.errors.ProofError` subclass.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from logging_audit.errors import ConsistencyProofError, InclusionProofError
from logging_audit.ledger import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2] / "assets" / "vectors" / "rfc6962"
INCLUSION = sorted(p.relative_to(VECTORS).as_posix() for p in VECTORS.glob("inclusion/**/*.json"))
CONSISTENCY = sorted(
    p.relative_to(VECTORS).as_posix() for p in VECTORS.glob("consistency/**/*.json")
)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def _b(text: str) -> bytes:
    return base64.b64decode(text, validate=True)  # "" is empty bytes, as in Go


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b(p) for p in value or ()]  # null is the empty proof


def test_every_vector_file_is_collected() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == 196
    assert any(n.startswith("inclusion/additional/") for n in INCLUSION)
    assert any(n.startswith("inclusion/single-entry/") for n in INCLUSION)
    assert any(n.startswith("consistency/additional/") for n in CONSISTENCY)


@pytest.mark.parametrize("name", INCLUSION)
def test_inclusion_vector(name: str) -> None:
    v = _load(name)
    args = (v["leafIdx"], v["treeSize"], _b(v["leafHash"]), _proof(v["proof"]), _b(v["root"]))
    if v["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("name", CONSISTENCY)
def test_consistency_vector(name: str) -> None:
    v = _load(name)
    args = (v["size1"], v["size2"], _b(v["root1"]), _b(v["root2"]), _proof(v["proof"]))
    if v["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# -- tree-hashes.json: the eight leaves of testonly/constants.go and every prefix root ---


@pytest.fixture
def tree_hashes(asset: Callable[..., Path]) -> dict[str, Any]:
    path = asset("vectors", "rfc6962", "tree-hashes.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def leaf_hashes(tree_hashes: dict[str, Any]) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(x)) for x in tree_hashes["leaf_inputs_hex"]]


def test_leaf_hash_of_empty_input(tree_hashes: dict[str, Any]) -> None:
    assert leaf_hash(b"").hex() == tree_hashes["leaf_hash_of_empty_input_hex"]


def test_roots_of_every_prefix(tree_hashes: dict[str, Any], leaf_hashes: list[bytes]) -> None:
    roots = [bytes.fromhex(x) for x in tree_hashes["root_hashes_hex_by_size"]]
    assert len(roots) == len(leaf_hashes) + 1
    assert roots[0] == EMPTY_ROOT
    tree = MerkleTree(leaf_hashes)
    frontier = Frontier()
    for size, want in enumerate(roots):
        assert merkle_root(leaf_hashes[:size]) == want, size
        assert tree.root(size) == want, size
        assert MerkleTree(leaf_hashes[:size]).root() == want, size
        assert frontier.root() == want, size
        restored = Frontier(frontier.size, frontier.hashes)
        assert restored.root() == want, size
        if size < len(leaf_hashes):
            frontier.append(leaf_hashes[size])


def _constants_tree() -> MerkleTree:
    inputs = _load("tree-hashes.json")["leaf_inputs_hex"]
    return MerkleTree(leaf_hash(bytes.fromhex(x)) for x in inputs)


def _over_constants(name: str) -> bool:
    """A happy-path vector whose tree is a prefix of the constants.go tree."""
    v = _load(name)
    if v["wantErr"]:
        return False
    tree = _constants_tree()
    size, root = (v["treeSize"], v["root"]) if "treeSize" in v else (v["size2"], v["root2"])
    return 0 < size <= tree.size and tree.root(size) == _b(root)


@pytest.mark.parametrize("name", [n for n in INCLUSION if _over_constants(n)])
def test_inclusion_proofs_we_build_match_the_vectors(name: str, leaf_hashes: list[bytes]) -> None:
    """Where a happy-path vector is over the constants.go tree, we build the same proof."""
    v = _load(name)
    size = v["treeSize"]
    assert leaf_hashes[v["leafIdx"]] == _b(v["leafHash"])
    want = _proof(v["proof"])
    assert inclusion_proof(v["leafIdx"], size, leaf_hashes) == want
    assert MerkleTree(leaf_hashes).inclusion_proof(v["leafIdx"], size) == want


@pytest.mark.parametrize("name", [n for n in CONSISTENCY if _over_constants(n)])
def test_consistency_proofs_we_build_match_the_vectors(name: str, leaf_hashes: list[bytes]) -> None:
    v = _load(name)
    size1, size2 = v["size1"], v["size2"]
    tree = MerkleTree(leaf_hashes)
    want = _proof(v["proof"])
    assert consistency_proof(size1, size2, leaf_hashes) == want
    assert tree.consistency_proof(size1, size2) == want
