"""Forward-secure MACs: epoch key evolution, per-entry MACs and seal records.

Key of epoch 0 is 32 random bytes; K(e+1) = HMAC-SHA256(K(e), "logaudit/evolve").
Every entry of epoch e is MAC'd with K(e); every epoch that has entries ends
with exactly one *seal* entry, MAC'd with K(e), committing to the stream origin
and the tree size and root just before the seal. Once the writer moves to
epoch e+1 it erases K(e), so an attacker who takes the host later cannot forge
or re-seal earlier epochs.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from logging_audit.errors import ConfigError
from logging_audit.ledger.framing import b64
from logging_audit.ledger.hashing import HASH_SIZE

__all__ = [
    "EVOLVE_LABEL",
    "SEAL",
    "MacKey",
    "epoch_key",
    "evolve_key",
    "mac_entry",
    "seal_fields",
    "verify_mac",
]

EVOLVE_LABEL = b"logaudit/evolve"
"""The HMAC message that turns K(e) into K(e+1)."""

SEAL = "seal"
"""Value of the ``ledger`` field of a seal entry."""


def evolve_key(key: bytes | bytearray) -> bytes:
    """Return K(e+1) = HMAC-SHA256(K(e), "logaudit/evolve")."""
    if len(key) != HASH_SIZE:
        raise ConfigError(f"epoch key must be {HASH_SIZE} bytes, got {len(key)}")
    return hmac.digest(key, EVOLVE_LABEL, "sha256")


def epoch_key(k0: bytes | bytearray, epoch: int, *, start_epoch: int = 0) -> bytes:
    """Return K(epoch) by evolving ``k0`` (the key of ``start_epoch``) forward."""
    if epoch < start_epoch:
        raise ConfigError(f"cannot derive key of epoch {epoch} from epoch {start_epoch}")
    key = bytes(k0)
    for _ in range(epoch - start_epoch):
        key = evolve_key(key)
    return key


class MacKey:
    """HMAC-SHA256 under one epoch key, with the key's pads absorbed once.

    Equivalent to :func:`mac_entry` but about twice as fast per entry, which
    matters on the append and verify paths.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes | bytearray) -> None:
        """Prepare the inner and outer hash states for ``key`` (32 bytes)."""
        if len(key) != HASH_SIZE:
            raise ConfigError(f"epoch key must be {HASH_SIZE} bytes, got {len(key)}")
        block = bytes(key).ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(self, entry: bytes) -> bytes:
        """HMAC-SHA256(key, entry)."""
        i = self._inner.copy()
        i.update(entry)
        o = self._outer.copy()
        o.update(i.digest())
        return o.digest()

    def states(self) -> tuple[Any, Any]:
        """The prepared inner and outer SHA-256 states (copy before use), for inlined loops."""
        return self._inner, self._outer

    def verify(self, entry: bytes, mac: bytes) -> bool:
        """Constant-time comparison of ``mac`` with the entry's MAC."""
        return hmac.compare_digest(self.mac(entry), mac)


def mac_entry(key: bytes | bytearray, entry: bytes) -> bytes:
    """Return HMAC-SHA256(key, entry bytes)."""
    return hmac.digest(key, entry, "sha256")


def verify_mac(key: bytes | bytearray, entry: bytes, mac: bytes) -> bool:
    """Constant-time check of an entry's MAC."""
    return hmac.compare_digest(hmac.digest(key, entry, "sha256"), mac)


def seal_fields(origin: str, size: int, root: bytes) -> dict[str, Any]:
    """The fields of a seal entry: origin, tree size and root before the seal."""
    return {"ledger": SEAL, "origin": origin, "size": size, "root": b64(root)}
