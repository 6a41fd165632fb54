"""EncryptionKeyStore: wrapped data keys, crypto-shredding, KEK rotation, strict loading."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from logging_audit.crypto import EncryptionKeyStore, aead
from logging_audit.errors import CryptoError, KeyStoreError

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "enc.json"


def _raw(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(path.read_bytes())
    return obj


def test_create_has_one_active_key(path: Path) -> None:
    store = EncryptionKeyStore.create(path, now=T0)
    kid = store.current_kid
    assert kid is not None
    [info] = store.list_data_keys()
    assert (info.kid, info.status, info.created_at, info.shredded_at) == (kid, "active", T0, None)
    assert len(store.data_key(kid)) == 32
    assert store.created_at == T0
    assert store.kek_created_at == T0


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_created_0600(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.new_data_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_create_refuses_to_overwrite(path: Path) -> None:
    EncryptionKeyStore.create(path)
    before = path.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        EncryptionKeyStore.create(path)
    assert path.read_bytes() == before


def test_load_never_creates(path: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        EncryptionKeyStore.load(path)
    assert not path.exists()


def test_round_trip(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    first = store.current_kid
    assert first is not None
    kid, key = store.new_data_key()
    loaded = EncryptionKeyStore.load(path)
    assert loaded.current_kid == kid
    assert loaded.data_key(kid) == key
    assert loaded.data_key(first) == store.data_key(first)
    assert [(i.kid, i.status) for i in loaded.list_data_keys()] == [
        (first, "retired"),
        (kid, "active"),
    ]


def test_data_keys_are_wrapped_not_stored(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid, key = store.new_data_key()
    raw = path.read_bytes()
    assert base64.b64encode(key) not in raw
    assert key not in raw
    entry = _raw(path)["data_keys"][-1]
    kek = base64.b64decode(_raw(path)["kek"])
    wrapped = base64.b64decode(entry["wrapped"])
    nonce = base64.b64decode(entry["nonce"])
    assert aead.decrypt(kek, nonce, wrapped, b"logaudit/wrap\x00" + kid.encode()) == key


def test_wrapped_key_cannot_be_relabelled(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    a = store.current_kid
    b, _ = store.new_data_key()
    obj = _raw(path)
    obj["data_keys"][0]["kid"], obj["data_keys"][1]["kid"] = b, a
    path.write_text(json.dumps(obj))
    loaded = EncryptionKeyStore.load(path)
    with pytest.raises(CryptoError, match="does not unwrap") as info:
        loaded.data_key(b)
    assert str(path) in str(info.value)


def test_unknown_kid(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    with pytest.raises(CryptoError, match="unknown data key 'dk-nope'"):
        store.data_key("dk-nope")
    with pytest.raises(CryptoError, match="unknown data key 'dk-nope'"):
        store.shred("dk-nope")


def test_active_data_key(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid = store.current_kid
    assert kid is not None
    assert store.active_data_key() == (kid, store.data_key(kid))
    store.shred(kid)
    assert store.current_kid is None
    new_kid, new_key = store.active_data_key()
    assert new_kid != kid
    assert EncryptionKeyStore.load(path).current_kid == new_kid
    assert store.data_key(new_kid) == new_key


def test_kids_are_unique(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kids = {store.new_data_key()[0] for _ in range(20)}
    assert len(kids) == 20


# -- shredding ---------------------------------------------------------------------------


def test_shred_destroys_the_key_and_keeps_a_tombstone(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid, key = store.active_data_key()
    wrapped = _raw(path)["data_keys"][0]["wrapped"]
    when = datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    store.shred(kid, now=when)
    raw = path.read_bytes()
    assert wrapped.encode() not in raw
    assert base64.b64encode(key) not in raw
    for reader in (store, EncryptionKeyStore.load(path)):
        with pytest.raises(CryptoError, match="shredded at 2027-01-02T03:04:05") as info:
            reader.data_key(kid)
        assert kid in str(info.value)
        [tomb] = reader.list_data_keys()
        assert (tomb.kid, tomb.status, tomb.shredded_at) == (kid, "shredded", when)


def test_shred_keeps_other_keys(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    old = store.current_kid
    assert old is not None
    new, key = store.new_data_key()
    store.shred(old)
    assert store.current_kid == new
    assert EncryptionKeyStore.load(path).data_key(new) == key


def test_shred_twice_is_a_no_op(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid = store.current_kid
    assert kid is not None
    store.shred(kid, now=T0)
    before = path.read_bytes()
    store.shred(kid)
    assert path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix", reason="inode semantics")
def test_shred_overwrites_the_replaced_file(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid = store.current_kid
    assert kid is not None
    wrapped = _raw(path)["data_keys"][0]["wrapped"].encode()
    fd = os.open(path, os.O_RDONLY)
    try:
        store.shred(kid)
        old = os.pread(fd, 1 << 16, 0)
    finally:
        os.close(fd)
    assert wrapped not in old


# -- KEK rotation ------------------------------------------------------------------------


def test_rotate_kek_keeps_data_keys_readable(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    a = store.current_kid
    assert a is not None
    key_a = store.data_key(a)
    b, key_b = store.new_data_key()
    c, _ = store.new_data_key()
    store.shred(c)
    old_kek = _raw(path)["kek"]
    old_wrapped = [e.get("wrapped") for e in _raw(path)["data_keys"]]
    when = datetime(2027, 1, 1, tzinfo=timezone.utc)
    store.rotate_kek(now=when)
    raw = path.read_bytes()
    assert old_kek.encode() not in raw
    assert base64.b64decode(old_kek) not in raw
    for wrapped in old_wrapped:
        if wrapped is not None:
            assert wrapped.encode() not in raw
    for reader in (store, EncryptionKeyStore.load(path)):
        assert reader.data_key(a) == key_a
        assert reader.data_key(b) == key_b
        assert reader.current_kid is None  # c was the active key and was shredded
        assert reader.kek_created_at == when
        with pytest.raises(CryptoError, match="shredded"):
            reader.data_key(c)


def test_stale_store_cannot_resurrect_a_shredded_key(path: Path) -> None:
    EncryptionKeyStore.create(path)
    stale = EncryptionKeyStore.load(path)
    fresh = EncryptionKeyStore.load(path)
    kid = fresh.current_kid
    assert kid is not None
    fresh.shred(kid)
    with pytest.raises(KeyStoreError, match="changed by someone else"):
        stale.new_data_key()
    with pytest.raises(CryptoError, match="shredded"):
        EncryptionKeyStore.load(path).data_key(kid)


def test_repr_shows_no_secret(path: Path) -> None:
    store = EncryptionKeyStore.create(path)
    kid, key = store.active_data_key()
    text = repr(store)
    assert kid in text
    assert base64.b64encode(key).decode() not in text
    assert _raw(path)["kek"] not in text


# -- corrupt files -----------------------------------------------------------------------


def _corrupt(obj: dict[str, Any], name: str) -> None:
    entry = obj["data_keys"][0]
    if name == "kek too short":
        obj["kek"] = base64.b64encode(bytes(16)).decode()
    elif name == "kek bad base64":
        obj["kek"] = "*" * 44
    elif name == "no kek":
        del obj["kek"]
    elif name == "data_keys not a list":
        obj["data_keys"] = {}
    elif name == "entry not an object":
        obj["data_keys"] = ["x"]
    elif name == "bad kid":
        entry["kid"] = "has space"
    elif name == "bad status":
        entry["status"] = "lost"
    elif name == "no nonce":
        del entry["nonce"]
    elif name == "wrapped too short":
        entry["wrapped"] = base64.b64encode(bytes(32)).decode()
    elif name == "duplicate kid":
        obj["data_keys"].append(dict(entry, status="retired"))
    elif name == "two active":
        obj["data_keys"].append(dict(entry, kid="dk-other"))
    elif name == "shredded with key bytes":
        entry["status"] = "shredded"
        entry["shredded"] = entry["created"]
    elif name == "shredded without time":
        obj["data_keys"][0] = {
            "kid": entry["kid"],
            "created": entry["created"],
            "status": "shredded",
        }
    elif name == "wrong kind":
        obj["kind"] = "logaudit-signing-keys"
    elif name == "no created":
        del obj["created"]
    else:  # pragma: no cover
        raise AssertionError(name)


CORRUPTIONS = [
    "bad kid",
    "bad status",
    "data_keys not a list",
    "duplicate kid",
    "entry not an object",
    "kek bad base64",
    "kek too short",
    "no created",
    "no kek",
    "no nonce",
    "shredded with key bytes",
    "shredded without time",
    "two active",
    "wrapped too short",
    "wrong kind",
]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corrupt_file_names_the_file(path: Path, name: str) -> None:
    EncryptionKeyStore.create(path)
    obj = _raw(path)
    _corrupt(obj, name)
    path.write_text(json.dumps(obj))
    with pytest.raises(KeyStoreError) as info:
        EncryptionKeyStore.load(path)
    assert str(path) in str(info.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_world_readable_rejected(path: Path) -> None:
    EncryptionKeyStore.create(path)
    path.chmod(0o604)
    with pytest.raises(KeyStoreError, match="0604"):
        EncryptionKeyStore.load(path)
