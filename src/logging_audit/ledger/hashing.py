"""RFC 6962 / RFC 9162 §2.1 hashing: leaves, interior nodes and the root of a list of leaves."""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash"]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the empty tree: SHA-256 of nothing."""

# Copying a hash object that has already absorbed the domain-separation byte is
# measurably cheaper than constructing a new one per call.
_LEAF = hashlib.sha256(b"\x00")
_NODE = hashlib.sha256(b"\x01")


def leaf_hash(entry: bytes) -> bytes:
    """Return the leaf hash of ``entry``: SHA-256(0x00 ‖ entry)."""
    h = _LEAF.copy()
    h.update(entry)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    h = _NODE.copy()
    h.update(left + right)
    return h.digest()
