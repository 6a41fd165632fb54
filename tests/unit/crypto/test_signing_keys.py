"""SigningKeyStore: create/load round trips, forward security on disk, verifier export."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from logging_audit.crypto import SigningKeyStore, VerifierFile
from logging_audit.errors import ConfigError, KeyStoreError
from logging_audit.ledger.notes import NoteSigner, NoteVerifier
from logging_audit.ledger.seals import epoch_key, evolve_key

ORIGIN = "logaudit/node-1/app"
T0 = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=timezone.utc)
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "signing.json"


def _rewrite(path: Path, change: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
    obj = json.loads(path.read_bytes())
    obj.update(change)
    for name in drop:
        del obj[name]
    path.write_text(json.dumps(obj))


def test_create_and_load_round_trip(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, epoch_seconds=60, now=T0)
    loaded = SigningKeyStore.load(key_file)
    assert loaded.path == key_file
    assert loaded.origin == ORIGIN
    assert loaded.epoch_seconds == 60
    assert loaded.epoch == 0
    assert loaded.epoch_started_at == T0
    assert loaded.created_at == T0
    assert loaded.epoch_key == store.epoch_key
    assert len(loaded.epoch_key) == 32
    assert loaded.verifier_key == store.verifier_key
    assert loaded.signer.private_key_string() == store.signer.private_key_string()
    assert loaded.verifier == store.signer.verifier()


def test_defaults(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    assert store.epoch_seconds == 900
    assert store.key_name == ORIGIN
    assert store.epoch_started_at.tzinfo is not None


def test_public_key_facts(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, key_name="ops-key")
    parsed = NoteVerifier.from_string(store.verifier_key)
    assert parsed == store.verifier
    assert store.key_name == "ops-key"
    assert store.key_id == f"{parsed.key_id:08x}"
    assert store.verifier_key.startswith(f"ops-key+{store.key_id}+")


def test_signer_signs_verifiably(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    signature = store.signer.sign(b"checkpoint body\n")
    assert SigningKeyStore.load(key_file).verifier.verify(b"checkpoint body\n", signature)


def test_each_store_gets_fresh_keys(tmp_path: Path) -> None:
    a = SigningKeyStore.create(tmp_path / "a.json", ORIGIN)
    b = SigningKeyStore.create(tmp_path / "b.json", ORIGIN)
    assert a.epoch_key != b.epoch_key
    assert a.verifier_key != b.verifier_key


@posix_only
def test_created_file_is_0600(key_file: Path) -> None:
    old = os.umask(0)
    try:
        SigningKeyStore.create(key_file, ORIGIN)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_create_refuses_to_overwrite(key_file: Path) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    before = key_file.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists") as info:
        SigningKeyStore.create(key_file, ORIGIN)
    assert str(key_file) in str(info.value)
    assert key_file.read_bytes() == before


def test_load_never_creates(key_file: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist") as info:
        SigningKeyStore.load(key_file)
    assert str(key_file) in str(info.value)
    assert not key_file.exists()


@pytest.mark.parametrize(
    ("origin", "kwargs"),
    [
        ("", {}),
        ("has space", {}),
        ("a+b", {}),
        ("line\nbreak", {}),
        (ORIGIN, {"key_name": "bad name"}),
        (ORIGIN, {"key_name": ""}),
        (ORIGIN, {"epoch_seconds": 0}),
        (ORIGIN, {"epoch_seconds": -5}),
        (ORIGIN, {"epoch_seconds": True}),
        (ORIGIN, {"now": datetime(2026, 1, 1)}),  # naive
    ],
)
def test_bad_arguments_are_config_errors(key_file: Path, origin: str, kwargs: Any) -> None:
    with pytest.raises(ConfigError):
        SigningKeyStore.create(key_file, origin, **kwargs)
    assert not key_file.exists()


# -- epochs ------------------------------------------------------------------------------


def test_advance_epoch_evolves_the_key(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, now=T0)
    k0 = store.epoch_key
    later = T0 + timedelta(minutes=15)
    store.advance_epoch(now=later)
    assert store.epoch == 1
    assert store.epoch_key == evolve_key(k0)
    assert store.epoch_started_at == later
    assert store.created_at == T0
    for _ in range(4):
        store.advance_epoch()
    assert store.epoch == 5
    assert store.epoch_key == epoch_key(k0, 5)
    loaded = SigningKeyStore.load(key_file)
    assert (loaded.epoch, loaded.epoch_key) == (5, epoch_key(k0, 5))


def _forms(key: bytes) -> list[bytes]:
    return [
        key,
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        base64.b64encode(key).rstrip(b"="),
        key.hex().encode(),
    ]


def test_advance_leaves_no_earlier_key_in_the_file(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    earlier = [store.epoch_key]
    for _ in range(3):
        store.advance_epoch()
        raw = key_file.read_bytes()
        for old in earlier:
            for form in _forms(old):
                assert form not in raw
        assert base64.b64encode(store.epoch_key) in raw
        earlier.append(store.epoch_key)


@posix_only
def test_advance_overwrites_the_replaced_file(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    k0_b64 = base64.b64encode(store.epoch_key)
    fd = os.open(key_file, os.O_RDONLY)  # what a later attacker might still find: the old inode
    try:
        store.advance_epoch()
        old_blocks = os.pread(fd, 4096, 0)
    finally:
        os.close(fd)
    assert k0_b64 not in old_blocks
    assert old_blocks.strip(b"\x00") == b""


@posix_only
def test_advance_keeps_0600(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    store.advance_epoch()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == [key_file.name]


def test_stale_store_cannot_write_an_older_key_back(key_file: Path) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    stale = SigningKeyStore.load(key_file)
    fresh = SigningKeyStore.load(key_file)
    fresh.advance_epoch()
    fresh.advance_epoch()
    with pytest.raises(KeyStoreError, match="changed by someone else") as info:
        stale.advance_epoch()
    assert str(key_file) in str(info.value)
    assert stale.epoch == 0  # unchanged on failure
    assert SigningKeyStore.load(key_file).epoch == 2


def test_failed_advance_changes_nothing(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    key, started = store.epoch_key, store.epoch_started_at
    key_file.unlink()
    with pytest.raises(KeyStoreError, match="disappeared"):
        store.advance_epoch()
    assert (store.epoch, store.epoch_key, store.epoch_started_at) == (0, key, started)
    assert not key_file.exists()


def test_epoch_due(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, epoch_seconds=900, now=T0)
    assert not store.epoch_due(T0 + timedelta(seconds=899))
    assert store.epoch_due(T0 + timedelta(seconds=900))
    store.advance_epoch(now=T0 + timedelta(seconds=950))
    assert not store.epoch_due(T0 + timedelta(seconds=1000))


# -- verifier material -------------------------------------------------------------------


def test_verifier_material_is_host_side_only(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    store.advance_epoch()
    material = store.verifier_material()
    assert material.origin == ORIGIN
    assert material.note_verifiers == (store.verifier,)
    assert material.epoch0_key is None
    assert material.current_epoch == (1, store.epoch_key)
    public = store.verifier_material(include_current=False)
    assert public.current_epoch is None
    assert public.epoch0_key is None


def test_export_verifier_at_epoch_zero(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, epoch_seconds=300)
    k0 = store.epoch_key
    verifier = store.export_verifier()
    assert verifier.origin == ORIGIN
    assert verifier.verifier_keys == (store.verifier_key,)
    assert verifier.epoch0_key == k0
    assert verifier.epoch_seconds == 300
    material = verifier.material()
    assert material.epoch0_key == k0
    assert material.note_verifiers == (store.verifier,)
    store.advance_epoch()
    store.advance_epoch()
    assert epoch_key(verifier.epoch0_key, 2) == store.epoch_key


def test_export_verifier_after_advance_fails(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    store.advance_epoch()
    for candidate in (store, SigningKeyStore.load(key_file)):
        with pytest.raises(KeyStoreError, match="K\\(0\\) was erased when epoch 1 began") as info:
            candidate.export_verifier()
        assert str(key_file) in str(info.value)
        assert "exported at" in str(info.value)


def test_create_with_verifier_path(tmp_path: Path) -> None:
    key_file, verifier_path = tmp_path / "k.json", tmp_path / "v.json"
    store = SigningKeyStore.create(key_file, ORIGIN, verifier_path=verifier_path)
    verifier = VerifierFile.load(verifier_path)
    assert verifier.epoch0_key == store.epoch_key
    assert verifier.verifier_keys == (store.verifier_key,)


def test_create_refuses_existing_verifier_path_before_creating_anything(tmp_path: Path) -> None:
    key_file, verifier_path = tmp_path / "k.json", tmp_path / "v.json"
    verifier_path.write_text("old verifier")
    with pytest.raises(KeyStoreError, match="already exists") as info:
        SigningKeyStore.create(key_file, ORIGIN, verifier_path=verifier_path)
    assert str(verifier_path) in str(info.value)
    assert not key_file.exists()
    assert verifier_path.read_text() == "old verifier"


def test_create_refuses_verifier_path_equal_to_key_file(key_file: Path) -> None:
    with pytest.raises(ConfigError, match="different"):
        SigningKeyStore.create(key_file, ORIGIN, verifier_path=key_file)
    assert not key_file.exists()


def test_repr_shows_no_secret(key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    text = repr(store) + repr(store.export_verifier())
    secret_forms = [*_forms(store.epoch_key), store.signer.private_key_string().encode()]
    for form in secret_forms:
        assert form.decode("latin-1") not in text
    assert store.verifier_key in text


# -- corrupt files -----------------------------------------------------------------------

CORRUPTIONS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "wrong version": ({"version": 2}, ()),
    "wrong kind": ({"kind": "logaudit-verifier"}, ()),
    "no origin": ({}, ("origin",)),
    "bad origin": ({"origin": "has space"}, ()),
    "no signer": ({}, ("signer",)),
    "signer not a string": ({"signer": 5}, ()),
    "signer garbage": ({"signer": "PRIVATE+KEY+x+00000000+AAAA"}, ()),
    "signer is a public key": ({"signer": "n+01020304+AQ=="}, ()),
    "no epoch_key": ({}, ("epoch_key",)),
    "epoch_key bad base64": ({"epoch_key": "@@@@"}, ()),
    "epoch_key too short": ({"epoch_key": base64.b64encode(bytes(31)).decode()}, ()),
    "epoch_key too long": ({"epoch_key": base64.b64encode(bytes(33)).decode()}, ()),
    "epoch negative": ({"epoch": -1}, ()),
    "epoch string": ({"epoch": "3"}, ()),
    "epoch_seconds zero": ({"epoch_seconds": 0}, ()),
    "no epoch_started": ({}, ("epoch_started",)),
    "bad epoch_started": ({"epoch_started": "yesterday"}, ()),
    "no created": ({}, ("created",)),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_fields_name_the_file(key_file: Path, name: str) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    change, drop = CORRUPTIONS[name]
    _rewrite(key_file, change, drop)
    with pytest.raises(KeyStoreError) as info:
        SigningKeyStore.load(key_file)
    assert str(key_file) in str(info.value)


def test_signer_with_mismatched_key_id_rejected(key_file: Path) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    # PRIVATE+KEY+<name>+<id>+<base64>: the name has no '+', the base64 may have some
    other_seed = NoteSigner.generate("other").private_key_string().split("+", 4)[4]
    mine = json.loads(key_file.read_bytes())["signer"].split("+", 4)
    _rewrite(key_file, {"signer": "+".join([*mine[:4], other_seed])})
    with pytest.raises(KeyStoreError, match="'signer'"):
        SigningKeyStore.load(key_file)


@pytest.mark.parametrize("cut", [1, 10, 100, -1])
def test_truncated_file(key_file: Path, cut: int) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    data = key_file.read_bytes()
    key_file.write_bytes(data[:cut] if cut > 0 else data[: len(data) // 2])
    with pytest.raises(KeyStoreError) as info:
        SigningKeyStore.load(key_file)
    assert str(key_file) in str(info.value)


@posix_only
def test_group_readable_rejected(key_file: Path) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    key_file.chmod(0o640)
    with pytest.raises(KeyStoreError, match="0640") as info:
        SigningKeyStore.load(key_file)
    assert str(key_file) in str(info.value)


def test_verifier_file_is_not_a_signing_key_file(tmp_path: Path) -> None:
    key_file, verifier_path = tmp_path / "k.json", tmp_path / "v.json"
    SigningKeyStore.create(key_file, ORIGIN, verifier_path=verifier_path)
    with pytest.raises(KeyStoreError, match="kind 'logaudit-verifier'"):
        SigningKeyStore.load(verifier_path)
