"""The verifier file sealed under ``secret_key``: K(0) kept on the host, encrypted.

A plain verifier file on the host lets anyone who can read the disk (a backup,
a stolen disk, another account) take K(0) and forge the MACs of every epoch.
With ``secret_key`` the verifier is kept instead as ``verifier.sealed.json``:
AES-256-GCM under a key derived from the secret with scrypt (N=2^15, r=8, p=1,
random 16-byte salt), the stream origin bound as associated data. The secret
itself is never written anywhere.

What it cannot do: an attacker who controls the running process (or reads its
memory or environment) has the secret, hence K(0), hence every epoch's MAC key:
a secret that stays on the host gives no forward security. Against that
attacker only the signed checkpoints — pushed off the host, or to a witness —
still protect the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from logging_audit.crypto import VerifierFile, _files, aead
from logging_audit.errors import ConfigError, CryptoError, KeyStoreError

__all__ = ["SEALED_VERIFIER_KIND", "open_sealed_verifier", "secret_bytes", "write_sealed_verifier"]

SEALED_VERIFIER_KIND = "logaudit-sealed-verifier"
"""The ``"kind"`` of a sealed verifier file."""

_N, _R, _P = 2**15, 8, 1
_SALT = 16
_AAD = b"logaudit/sealed-verifier\x00"


def secret_bytes(secret: str | bytes | bytearray) -> bytes:
    """The secret as bytes (UTF-8 for text); empty or non-text secrets are a ConfigError."""
    if isinstance(secret, str):
        try:
            data = secret.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigError("secret_key is not valid UTF-8 text") from exc
    elif isinstance(secret, bytes | bytearray):
        data = bytes(secret)
    else:
        raise ConfigError(f"secret_key must be str or bytes, not {type(secret).__name__}")
    if len(data) < 8:
        raise ConfigError("secret_key must be at least 8 bytes long")
    return data


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=aead.KEY_SIZE, n=n, r=r, p=p).derive(secret)


def write_sealed_verifier(path: Path, verifier: VerifierFile, secret: bytes) -> None:
    """Write ``verifier`` sealed under ``secret`` to a new 0600 file at ``path``."""
    salt = os.urandom(_SALT)
    key = bytearray(_derive(secret, salt, _N, _R, _P))
    try:
        nonce, ct = aead.encrypt(key, verifier.to_json(), _AAD + verifier.origin.encode())
    finally:
        key[:] = bytes(len(key))
    obj: dict[str, Any] = {
        "version": _files.FORMAT_VERSION,
        "kind": SEALED_VERIFIER_KIND,
        "origin": verifier.origin,
        "kdf": {"name": "scrypt", "n": _N, "r": _R, "p": _P, "salt": _files.b64(salt)},
        "nonce": _files.b64(nonce),
        "ct": _files.b64(ct),
    }
    _files.write_new(path, _files.dump(obj))


def open_sealed_verifier(path: Path, secret: bytes) -> VerifierFile:
    """Open a sealed verifier file; a wrong secret or altered file is a KeyStoreError."""
    obj, _ = _files.read_object(path, SEALED_VERIFIER_KIND)
    origin = _files.field_str(obj, "origin", path)
    kdf = obj.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise KeyStoreError(f"key file {path}: field 'kdf' must describe scrypt")
    n = _files.field_int(kdf, "n", path, minimum=2)
    r = _files.field_int(kdf, "r", path, minimum=1)
    p = _files.field_int(kdf, "p", path, minimum=1)
    if n > 2**20 or r > 32 or p > 16:
        raise KeyStoreError(f"key file {path}: scrypt parameters are out of range")
    salt = _files.field_b64(kdf, "salt", path, length=None)
    nonce = _files.field_b64(obj, "nonce", path, length=aead.NONCE_SIZE)
    ct = _files.field_b64(obj, "ct", path, length=None)
    key = bytearray(_derive(secret, salt, n, r, p))
    try:
        plain = aead.decrypt(key, nonce, ct, _AAD + origin.encode())
    except CryptoError as exc:
        raise KeyStoreError(
            f"key file {path}: secret_key does not open the sealed verifier "
            "(wrong secret, or the file was altered)"
        ) from exc
    finally:
        key[:] = bytes(len(key))
    try:
        doc = json.loads(plain)
        return VerifierFile(
            origin=doc["origin"],
            verifier_keys=tuple(doc["verifier_keys"]),
            epoch0_key=base64.b64decode(doc["epoch0_key"], validate=True),
            epoch_seconds=doc["epoch_seconds"],
        )
    except (ValueError, KeyError, TypeError, binascii.Error, ConfigError) as exc:
        raise KeyStoreError(f"key file {path}: sealed verifier content is malformed") from exc
