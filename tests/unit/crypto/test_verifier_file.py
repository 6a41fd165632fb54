"""VerifierFile: round trip, 0600, no overwrite, strict loading, no secret in repr."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from logging_audit.crypto import VerifierFile
from logging_audit.errors import ConfigError, KeyStoreError
from logging_audit.ledger.notes import NoteSigner

ORIGIN = "logaudit/node-1/app"
SIGNER = NoteSigner.from_seed("logaudit/node-1/app", bytes(range(32)))
VKEY = SIGNER.verifier().to_string()
K0 = bytes(range(100, 132))


def _verifier(**change: Any) -> VerifierFile:
    fields: dict[str, Any] = {
        "origin": ORIGIN,
        "verifier_keys": (VKEY,),
        "epoch0_key": K0,
        "epoch_seconds": 900,
    }
    fields.update(change)
    return VerifierFile(**fields)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    _verifier().save(path)
    loaded = VerifierFile.load(path)
    assert loaded == _verifier()
    material = loaded.material()
    assert material.origin == ORIGIN
    assert material.epoch0_key == K0
    assert material.current_epoch is None
    assert material.note_verifiers == (SIGNER.verifier(),)


def test_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    _verifier().save(path)
    obj = json.loads(path.read_bytes())
    assert obj == {
        "version": 1,
        "kind": "logaudit-verifier",
        "origin": ORIGIN,
        "verifier_keys": [VKEY],
        "epoch_seconds": 900,
        "epoch0_key": base64.b64encode(K0).decode(),
    }


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_0600(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    _verifier().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text("keep me")
    with pytest.raises(KeyStoreError, match="already exists"):
        _verifier().save(path)
    assert path.read_text() == "keep me"


def test_several_verifier_keys(tmp_path: Path) -> None:
    other = NoteSigner.from_seed("witness", bytes(32)).verifier().to_string()
    path = tmp_path / "v.json"
    _verifier(verifier_keys=(VKEY, other)).save(path)
    assert len(VerifierFile.load(path).material().note_verifiers) == 2


def test_repr_hides_k0() -> None:
    text = repr(_verifier())
    assert base64.b64encode(K0).decode() not in text
    assert repr(K0) not in text
    assert VKEY in text


@pytest.mark.parametrize(
    "change",
    [
        {"origin": ""},
        {"origin": "a b"},
        {"verifier_keys": ()},
        {"verifier_keys": ("garbage",)},
        {"epoch0_key": bytes(16)},
        {"epoch_seconds": 0},
    ],
)
def test_bad_construction_is_config_error(change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _verifier(**change)


CORRUPTIONS: dict[str, dict[str, Any]] = {
    "wrong version": {"version": 0},
    "wrong kind": {"kind": "logaudit-signing-keys"},
    "origin missing": {"origin": None},
    "keys not a list": {"verifier_keys": VKEY},
    "keys empty": {"verifier_keys": []},
    "key not a string": {"verifier_keys": [1]},
    "key malformed": {"verifier_keys": ["name+zzzz+AQ=="]},
    "key id mismatch": {"verifier_keys": ["other" + VKEY[VKEY.index("+") :]]},
    "k0 bad base64": {"epoch0_key": "not base64"},
    "k0 wrong length": {"epoch0_key": base64.b64encode(bytes(16)).decode()},
    "epoch_seconds float": {"epoch_seconds": 900.0},
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_file_names_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / "v.json"
    _verifier().save(path)
    obj = json.loads(path.read_bytes())
    obj.update(CORRUPTIONS[name])
    path.write_text(json.dumps(obj))
    with pytest.raises(KeyStoreError) as info:
        VerifierFile.load(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        VerifierFile.load(tmp_path / "v.json")
