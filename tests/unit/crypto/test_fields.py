"""Field-group encryption: round trips, binding to origin and seq, tampering, shredding."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from logging_audit.crypto import (
    DEFAULT_ENCRYPTED_FIELDS,
    EncryptionKeyStore,
    aead,
    decrypt_fields,
    encrypt_fields,
    field_aad,
)
from logging_audit.errors import ConfigError, CryptoError

KEY = bytes(range(32))
KID = "dk-0001"
ORIGIN = "logaudit/node-1/app"
RECORD: dict[str, Any] = {
    "epoch": 0,
    "level": "INFO",
    "msg": "user ünïcode logged in",
    "extra": {"ip": "10.0.0.1", "n": [1, 2.5, None, True]},
    "seq": 41,
}


def _keys(kid: str) -> bytes:
    if kid != KID:
        raise CryptoError(f"unknown data key {kid!r}")
    return KEY


def _enc(record: dict[str, Any] = RECORD, seq: int = 41, origin: str = ORIGIN) -> dict[str, Any]:
    return encrypt_fields(record, DEFAULT_ENCRYPTED_FIELDS, KEY, KID, origin, seq)


def test_aad_layout() -> None:
    assert field_aad("o/1", 7) == b"logaudit/enc\x00o/1\x007"
    assert field_aad(ORIGIN, 0) == b"logaudit/enc\x00" + ORIGIN.encode() + b"\x000"


def test_round_trip() -> None:
    enc = _enc()
    assert set(enc) == {"epoch", "level", "enc", "seq"}
    assert list(enc) == ["epoch", "level", "enc", "seq"]  # "enc" where the first field was
    assert enc["enc"]["kid"] == KID
    assert len(base64.b64decode(enc["enc"]["nonce"])) == 12
    assert decrypt_fields(enc, _keys, ORIGIN, 41) == RECORD
    assert "user" not in json.dumps(enc)


def test_input_record_is_not_modified() -> None:
    record = dict(RECORD)
    enc = _enc(record)
    assert record == RECORD
    snapshot = json.loads(json.dumps(enc))
    decrypt_fields(enc, _keys, ORIGIN, 41)
    assert enc == snapshot


def test_plaintext_is_compact_json_of_the_fields() -> None:
    enc = _enc()
    pt = aead.decrypt(
        KEY,
        base64.b64decode(enc["enc"]["nonce"]),
        base64.b64decode(enc["enc"]["ct"]),
        field_aad(ORIGIN, 41),
    )
    assert (
        pt
        == json.dumps(
            {"msg": RECORD["msg"], "extra": RECORD["extra"]},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )


def test_no_named_fields_present() -> None:
    record = {"seq": 1, "level": "INFO"}
    assert _enc(record, seq=1) == record
    assert decrypt_fields(record, _keys, ORIGIN, 1) == record


def test_only_named_fields_move() -> None:
    enc = encrypt_fields(RECORD, ["level"], KEY, KID, ORIGIN, 41)
    assert "level" not in enc
    assert enc["msg"] == RECORD["msg"]
    assert decrypt_fields(enc, _keys, ORIGIN, 41) == {**RECORD}


@pytest.mark.parametrize(
    ("seq", "origin"), [(42, ORIGIN), (40, ORIGIN), (41, "logaudit/node-2/app"), (410, ORIGIN)]
)
def test_moved_ciphertext_fails(seq: int, origin: str) -> None:
    enc = _enc()
    with pytest.raises(CryptoError, match="moved from another entry or stream"):
        decrypt_fields(enc, _keys, origin, seq)


def test_ciphertext_swapped_between_entries_fails() -> None:
    a = _enc(seq=1)
    b = _enc(seq=2)
    a["enc"], b["enc"] = b["enc"], a["enc"]
    with pytest.raises(CryptoError):
        decrypt_fields(a, _keys, ORIGIN, 1)
    with pytest.raises(CryptoError):
        decrypt_fields(b, _keys, ORIGIN, 2)


def _flip_b64(value: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("part", "bit"), [("ct", 0), ("ct", 77), ("ct", -1), ("nonce", 0), ("nonce", 95)]
)
def test_tampered_group_fails(part: str, bit: int) -> None:
    enc = _enc()
    raw_len = len(base64.b64decode(enc["enc"][part])) * 8
    enc["enc"] = dict(enc["enc"], **{part: _flip_b64(enc["enc"][part], bit % raw_len)})
    with pytest.raises(CryptoError):
        decrypt_fields(enc, _keys, ORIGIN, 41)


@pytest.mark.parametrize(
    "enc",
    [
        "not an object",
        {"nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAA"},
        {"kid": KID, "ct": "AAAA"},
        {"kid": KID, "nonce": "@@@", "ct": "AAAA"},
        {"kid": KID, "nonce": "AAAAAAAAAAAAAAAA", "ct": 5},
        {"kid": KID, "nonce": "AAAAAAAA", "ct": "A" * 40},
    ],
)
def test_malformed_group_fails(enc: object) -> None:
    with pytest.raises(CryptoError):
        decrypt_fields({"seq": 41, "enc": enc}, _keys, ORIGIN, 41)


def test_unknown_kid_from_a_mapping_is_crypto_error() -> None:
    enc = _enc()
    no_keys: dict[str, bytes] = {}
    with pytest.raises(CryptoError, match="unknown data key"):
        decrypt_fields(enc, no_keys.__getitem__, ORIGIN, 41)


def test_plaintext_field_clash_fails() -> None:
    enc = _enc()
    enc["msg"] = "injected in clear"
    with pytest.raises(CryptoError, match="clash"):
        decrypt_fields(enc, _keys, ORIGIN, 41)


@pytest.mark.parametrize(
    ("record", "names"),
    [
        ({"enc": 1, "msg": "x"}, ["msg"]),
        ({"msg": "x"}, ["msg", "enc"]),
        ({"msg": float("nan")}, ["msg"]),
        ({"msg": object()}, ["msg"]),
    ],
)
def test_encrypt_refuses(record: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ConfigError):
        encrypt_fields(record, names, KEY, KID, ORIGIN, 1)


@pytest.mark.parametrize(("origin", "seq"), [("", 1), (ORIGIN, -1), (ORIGIN, True), (ORIGIN, 1.0)])
def test_bad_binding_arguments(origin: str, seq: Any) -> None:
    with pytest.raises(ConfigError):
        encrypt_fields(RECORD, ["msg"], KEY, KID, origin, seq)
    with pytest.raises(ConfigError):
        decrypt_fields(RECORD, _keys, origin, seq)


def test_with_key_store_and_shredding(tmp_path: Path) -> None:
    store = EncryptionKeyStore.create(tmp_path / "enc.json")
    kid, key = store.active_data_key()
    enc = encrypt_fields(RECORD, ["msg", "extra"], key, kid, ORIGIN, 41)
    assert decrypt_fields(enc, store.data_key, ORIGIN, 41) == RECORD
    store.rotate_kek()
    assert decrypt_fields(enc, EncryptionKeyStore.load(store.path).data_key, ORIGIN, 41) == RECORD
    store.shred(kid)
    with pytest.raises(CryptoError, match="shredded") as info:
        decrypt_fields(enc, EncryptionKeyStore.load(store.path).data_key, ORIGIN, 41)
    assert kid in str(info.value)


def test_wrong_key_fails() -> None:
    enc = _enc()
    with pytest.raises(CryptoError):
        decrypt_fields(enc, lambda kid: bytes(32), ORIGIN, 41)
