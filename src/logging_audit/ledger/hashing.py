"""RFC 6962 / RFC 9162 §2.1 hashing: leaves, interior nodes and the root of a list of leaves."""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash"]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the empty tree: SHA-256 of nothing."""

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """Return the leaf hash of ``entry``: SHA-256(0x00 ‖ entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()
