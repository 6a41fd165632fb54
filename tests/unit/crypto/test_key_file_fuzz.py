"""Hypothesis: whatever bytes a key file holds, loading raises KeyStoreError and nothing else."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logging_audit.crypto import EncryptionKeyStore, SigningKeyStore, VerifierFile
from logging_audit.errors import KeyStoreError

LOADERS: dict[str, Callable[[Path], object]] = {
    "signing": SigningKeyStore.load,
    "verifier": VerifierFile.load,
    "encryption": EncryptionKeyStore.load,
}

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def templates() -> Iterator[dict[str, dict[str, Any]]]:
    """One valid file of each kind, as parsed JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        SigningKeyStore.create(
            directory / "signing", "logaudit/fuzz", verifier_path=directory / "verifier"
        )
        store = EncryptionKeyStore.create(directory / "encryption")
        kid = store.current_kid
        assert kid is not None
        store.new_data_key()
        store.shred(kid)
        yield {name: json.loads((directory / name).read_bytes()) for name in LOADERS}


def _load(name: str, data: bytes) -> None:
    """Load ``data`` as a key file of kind ``name``: KeyStoreError naming the file, or success."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        error: KeyStoreError | None = None
        try:
            LOADERS[name](path)
        except KeyStoreError as exc:
            error = exc
        assert error is None or str(path) in str(error)


@pytest.mark.parametrize("name", sorted(LOADERS))
@SETTINGS
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes(name: str, data: bytes) -> None:
    with pytest.raises(KeyStoreError):
        _load_strict(name, data)


def _load_strict(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        LOADERS[name](path)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("name", sorted(LOADERS))
@SETTINGS
@given(data=st.data())
def test_mutated_fields(name: str, data: st.DataObject, templates: dict[str, Any]) -> None:
    """Valid files with some fields replaced or removed: KeyStoreError or a clean load."""
    obj = json.loads(json.dumps(templates[name]))
    targets = [obj]
    targets += [e for e in obj.get("data_keys", []) if isinstance(e, dict)]
    target = data.draw(st.sampled_from(targets))
    field = data.draw(st.sampled_from(sorted(target)))
    if data.draw(st.booleans()):
        del target[field]
    else:
        target[field] = data.draw(JSON_VALUES)
    _load(name, json.dumps(obj).encode())


@pytest.mark.parametrize("name", sorted(LOADERS))
@SETTINGS
@given(data=st.data())
def test_mutated_bytes(name: str, data: st.DataObject, templates: dict[str, Any]) -> None:
    """Valid files with bytes flipped, cut or inserted: KeyStoreError or a clean load."""
    raw = bytearray(json.dumps(templates[name], indent=2).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif action == "cut":
            del raw[pos:]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        if not raw:
            break
    _load(name, bytes(raw))
