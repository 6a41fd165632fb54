"""AES-256-GCM with random 96-bit nonces: the one AEAD of logging_audit.

A key must encrypt fewer than 2^32 messages under random nonces (NIST SP
800-38D §8.3); data keys are per segment or period, far below that.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logging_audit.errors import CryptoError

__all__ = ["KEY_SIZE", "NONCE_SIZE", "TAG_SIZE", "decrypt", "encrypt"]

KEY_SIZE = 32
"""AES-256 key size in bytes."""

NONCE_SIZE = 12
"""GCM nonce size in bytes (96 bits, the size GCM is defined for)."""

TAG_SIZE = 16
"""GCM tag size in bytes; it ends every ciphertext."""


def _cipher(key: bytes | bytearray) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"AES-256-GCM needs a {KEY_SIZE}-byte key, got {len(key)} bytes")
    return AESGCM(bytes(key))


def encrypt(key: bytes | bytearray, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext`` bound to ``aad``; return ``(nonce, ciphertext ‖ tag)``."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce, _cipher(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes | bytearray, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Return the plaintext of ``ciphertext``; raise :class:`CryptoError` if it does not open.

    It does not open when the key is wrong, or when ciphertext, nonce or ``aad``
    differ in any bit from what :func:`encrypt` was given and returned.
    """
    cipher = _cipher(key)
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"AES-GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    if len(ciphertext) < TAG_SIZE:
        raise CryptoError("AES-GCM ciphertext is shorter than its tag")
    try:
        return cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise CryptoError(
            "AES-GCM authentication failed: wrong key, or ciphertext, nonce or "
            "associated data altered"
        ) from exc
