"""AES-256-GCM helpers: a published vector, round trips, and every kind of tampering."""

from __future__ import annotations

import os

import pytest

from logging_audit.crypto import aead
from logging_audit.errors import CryptoError

# The Galois/Counter Mode of Operation (McGrew & Viega, 2005), appendix B, test case 16:
# AES-256, 96-bit IV, 60-byte plaintext, 20 bytes of associated data.
GCM_TC16 = {
    "key": "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    "iv": "cafebabefacedbaddecaf888",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "pt": "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "ct": "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "tag": "76fc6ece0f4e1768cddf8853bb2d551b",
}

KEY = bytes(range(32))
AAD = b"logaudit/test\x00aad"


def test_known_answer_decrypt() -> None:
    v = {name: bytes.fromhex(value) for name, value in GCM_TC16.items()}
    assert aead.decrypt(v["key"], v["iv"], v["ct"] + v["tag"], v["aad"]) == v["pt"]


def test_known_answer_encrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    v = {name: bytes.fromhex(value) for name, value in GCM_TC16.items()}
    monkeypatch.setattr(os, "urandom", lambda n: v["iv"][:n])
    assert aead.encrypt(v["key"], v["pt"], v["aad"]) == (v["iv"], v["ct"] + v["tag"])


@pytest.mark.parametrize("plaintext", [b"", b"x", b"hello world" * 100])
def test_round_trip(plaintext: bytes) -> None:
    nonce, ct = aead.encrypt(KEY, plaintext, AAD)
    assert len(nonce) == aead.NONCE_SIZE
    assert len(ct) == len(plaintext) + aead.TAG_SIZE
    assert aead.decrypt(KEY, nonce, ct, AAD) == plaintext


def test_bytearray_key_accepted() -> None:
    nonce, ct = aead.encrypt(bytearray(KEY), b"p", AAD)
    assert aead.decrypt(bytearray(KEY), nonce, ct, AAD) == b"p"


def test_nonces_are_fresh() -> None:
    nonces = {aead.encrypt(KEY, b"same", AAD)[0] for _ in range(200)}
    assert len(nonces) == 200


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("bit", [0, 7, 8 * 5 + 3, 8 * 20, 8 * 20 + 127])
def test_flipped_ciphertext_bit_fails(bit: int) -> None:
    nonce, ct = aead.encrypt(KEY, b"twenty bytes of text", AAD)
    with pytest.raises(CryptoError, match="authentication failed"):
        aead.decrypt(KEY, nonce, _flip(ct, bit), AAD)


@pytest.mark.parametrize("bit", [0, 50, 95])
def test_flipped_nonce_bit_fails(bit: int) -> None:
    nonce, ct = aead.encrypt(KEY, b"payload", AAD)
    with pytest.raises(CryptoError):
        aead.decrypt(KEY, _flip(nonce, bit), ct, AAD)


@pytest.mark.parametrize("bit", [0, 8 * 3 + 1, 8 * len(AAD) - 1])
def test_flipped_aad_bit_fails(bit: int) -> None:
    nonce, ct = aead.encrypt(KEY, b"payload", AAD)
    with pytest.raises(CryptoError):
        aead.decrypt(KEY, nonce, ct, _flip(AAD, bit))


def test_wrong_key_fails() -> None:
    nonce, ct = aead.encrypt(KEY, b"payload", AAD)
    with pytest.raises(CryptoError):
        aead.decrypt(bytes(32), nonce, ct, AAD)


def test_truncated_ciphertext_fails() -> None:
    nonce, ct = aead.encrypt(KEY, b"payload", AAD)
    with pytest.raises(CryptoError):
        aead.decrypt(KEY, nonce, ct[:-1], AAD)
    with pytest.raises(CryptoError, match="shorter than its tag"):
        aead.decrypt(KEY, nonce, ct[:5], AAD)


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_wrong_key_size_is_crypto_error(size: int) -> None:
    with pytest.raises(CryptoError, match="32-byte key"):
        aead.encrypt(bytes(size), b"p", AAD)
    with pytest.raises(CryptoError, match="32-byte key"):
        aead.decrypt(bytes(size), bytes(12), bytes(16), AAD)


@pytest.mark.parametrize("size", [0, 8, 11, 13, 16])
def test_wrong_nonce_size_is_crypto_error(size: int) -> None:
    with pytest.raises(CryptoError, match="nonce"):
        aead.decrypt(KEY, bytes(size), bytes(32), AAD)
