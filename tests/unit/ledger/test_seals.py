"""Forward-secure MACs: key evolution known answers, epoch keys, entry MACs, seal records."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import ConfigError
from logging_audit.ledger import epoch_key, evolve_key, mac_entry, verify_mac
from logging_audit.ledger.seals import EVOLVE_LABEL, SEAL, MacKey, seal_fields

K0 = bytes(range(32))


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def test_evolve_label_is_the_documented_one() -> None:
    assert EVOLVE_LABEL == b"logaudit/evolve"


def test_k1_known_answer() -> None:
    # K(1) = HMAC-SHA256(K(0), "logaudit/evolve"), computed here without the library,
    # and pinned so that a change of label or construction cannot pass unnoticed.
    k1 = _hmac(K0, b"logaudit/evolve")
    assert k1.hex() == "9d1f1523743060ae1f0657f612aae01007aea170bbfcac5ebb31c8b6d228034c"
    assert evolve_key(K0) == k1
    assert evolve_key(bytearray(K0)) == k1
    assert epoch_key(K0, 1) == k1


def test_k3_is_three_independent_evolutions() -> None:
    key = K0
    for _ in range(3):
        key = _hmac(key, b"logaudit/evolve")
    assert epoch_key(K0, 3) == key


@settings(max_examples=50)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=40),
)
def test_epoch_key_is_consistent_from_any_start(k0: bytes, a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    k_start = epoch_key(k0, start)
    assert epoch_key(k_start, end, start_epoch=start) == epoch_key(k0, end)
    if end > 0:
        assert evolve_key(epoch_key(k0, end - 1)) == epoch_key(k0, end)


def test_epoch_key_zero_is_k0_and_a_copy() -> None:
    k = bytearray(K0)
    k0 = epoch_key(k, 0)  # type: ignore[arg-type]  # works; the annotation says bytes only
    assert k0 == K0
    assert isinstance(k0, bytes)
    k[0] ^= 1
    assert k0 == K0


def test_epoch_key_cannot_go_backwards() -> None:
    with pytest.raises(ConfigError, match="cannot derive key of epoch 1 from epoch 2"):
        epoch_key(K0, 1, start_epoch=2)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_evolve_key_refuses_wrong_sizes(size: int) -> None:
    with pytest.raises(ConfigError, match=f"32 bytes, got {size}"):
        evolve_key(bytes(size))


@given(st.binary(max_size=300))
def test_mac_entry_is_hmac_sha256(entry: bytes) -> None:
    mac = mac_entry(K0, entry)
    assert mac == _hmac(K0, entry)
    assert mac_entry(bytearray(K0), entry) == mac
    assert verify_mac(K0, entry, mac)
    assert not verify_mac(epoch_key(K0, 1), entry, mac)
    assert not verify_mac(K0, entry + b" ", mac)
    assert not verify_mac(K0, entry, mac[:-1] + bytes([mac[-1] ^ 1]))
    assert not verify_mac(K0, entry, mac[:31])


def test_seal_fields() -> None:
    root = bytes(range(32))
    assert seal_fields("example.com/log", 17, root) == {
        "ledger": SEAL,
        "origin": "example.com/log",
        "size": 17,
        "root": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    }


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_mac_key_equals_hmac(key: bytes, entry: bytes) -> None:
    prepared = MacKey(key)
    mac = _hmac(key, entry)
    assert prepared.mac(entry) == mac
    assert prepared.mac(entry) == mac  # the prepared state is reused, not consumed
    assert MacKey(bytearray(key)).mac(entry) == mac
    assert prepared.verify(entry, mac)
    assert not prepared.verify(entry, bytes(32))
    assert not prepared.verify(entry, mac[:16])


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_mac_key_refuses_wrong_sizes(size: int) -> None:
    with pytest.raises(ConfigError, match=f"got {size}"):
        MacKey(bytes(size))
