"""Field-group encryption of log records: chosen fields become one ``"enc"`` object.

``encrypt_fields`` moves the named fields of a record into::

    "enc": {"kid": <data key id>, "nonce": <b64 12 bytes>, "ct": <b64 ciphertext ‖ tag>}

The plaintext is the compact JSON object of those fields; the associated data
is ``"logaudit/enc" 0x00 origin 0x00 decimal(seq)``, so a ciphertext opens only
in the entry (``seq``) of the stream (``origin``) it was made for. The entry's
hash, MAC and checkpoints cover the ciphertext: verifying needs no data key, and
shredding the key leaves the log verifiable.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import os
from binascii import b2a_base64
from collections.abc import Callable, Collection, Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logging_audit.crypto import aead
from logging_audit.errors import ConfigError, CryptoError

__all__ = [
    "DEFAULT_ENCRYPTED_FIELDS",
    "ENC_FIELD",
    "FieldCipher",
    "decrypt_fields",
    "encrypt_fields",
    "field_aad",
]

ENC_FIELD = "enc"
"""The record field that holds the encrypted field group."""

DEFAULT_ENCRYPTED_FIELDS: tuple[str, ...] = ("msg", "extra", "details")
"""Fields encrypted when encryption is on and no list is given."""

_AAD_PREFIX = b"logaudit/enc\x00"
_QUICK_PLAIN = frozenset({"level", "logger", "node"})  # the other fields of a plain log call


def field_aad(origin: str, seq: int) -> bytes:
    """Return the associated data binding a field group to entry ``seq`` of stream ``origin``."""
    if not isinstance(origin, str) or not origin:
        raise ConfigError("origin must be a non-empty string")
    if type(seq) is not int or seq < 0:
        raise ConfigError(f"seq must be a non-negative integer, got {seq!r}")
    return _AAD_PREFIX + origin.encode("utf-8") + b"\x00" + str(seq).encode("ascii")


def encrypt_fields(
    record: Mapping[str, Any],
    names: Collection[str],
    key: bytes | bytearray,
    kid: str,
    origin: str,
    seq: int,
) -> dict[str, Any]:
    """Return a copy of ``record`` with the fields in ``names`` encrypted into ``"enc"``.

    Fields in ``names`` that the record lacks are ignored; if it has none of
    them the copy is returned unchanged (no ``"enc"``). ``"enc"`` goes where the
    first encrypted field was. A record that already has ``"enc"`` is a
    :class:`ConfigError`, as are values JSON cannot represent.
    """
    if ENC_FIELD in record:
        raise ConfigError(f"record already has an {ENC_FIELD!r} field")
    if ENC_FIELD in names:
        raise ConfigError(f"the {ENC_FIELD!r} field cannot itself be encrypted")
    if not isinstance(kid, str) or not kid:
        raise ConfigError("kid must be a non-empty string")
    aad = field_aad(origin, seq)
    chosen = {name: value for name, value in record.items() if name in names}
    if not chosen:
        return dict(record)
    try:
        plaintext = json.dumps(
            chosen, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot encrypt fields {sorted(chosen)}: {exc}") from exc
    nonce, ct = aead.encrypt(key, plaintext, aad)
    enc = {
        "kid": kid,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ct": base64.b64encode(ct).decode("ascii"),
    }
    result: dict[str, Any] = {}
    for name, value in record.items():
        if name in chosen:
            if ENC_FIELD not in result:
                result[ENC_FIELD] = enc
        else:
            result[name] = value
    return result


def decrypt_fields(
    record: Mapping[str, Any],
    keys: Callable[[str], bytes],
    origin: str,
    seq: int,
) -> dict[str, Any]:
    """Return a copy of ``record`` with its ``"enc"`` group decrypted back into fields.

    ``keys(kid)`` returns the data key (e.g. :meth:`EncryptionKeyStore.data_key`);
    it raises :class:`CryptoError` for a shredded or unknown key (a ``KeyError``
    is turned into one). A record without ``"enc"`` is returned as a copy.
    Raises :class:`CryptoError` if the group is malformed, was altered, or was
    made for another ``seq`` or ``origin``, or if a decrypted field clashes with
    a plaintext one.
    """
    aad = field_aad(origin, seq)
    if ENC_FIELD not in record:
        return dict(record)
    enc = record[ENC_FIELD]
    if not isinstance(enc, Mapping):
        raise CryptoError(f"entry {seq}: {ENC_FIELD!r} is not an object")
    kid = enc.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CryptoError(f"entry {seq}: {ENC_FIELD!r} has no key id")
    nonce = _b64_field(enc, "nonce", seq)
    ct = _b64_field(enc, "ct", seq)
    try:
        key = keys(kid)
    except KeyError as exc:
        raise CryptoError(f"unknown data key {kid!r}") from exc
    try:
        plaintext = aead.decrypt(key, nonce, ct, aad)
    except CryptoError as exc:
        raise CryptoError(
            f"entry {seq} of {origin}: encrypted fields do not open with data key {kid!r} "
            "(altered, or moved from another entry or stream)"
        ) from exc
    try:
        fields = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CryptoError(f"entry {seq}: decrypted fields are not a JSON object") from exc
    if not isinstance(fields, dict):
        raise CryptoError(f"entry {seq}: decrypted fields are not a JSON object")
    clashes = sorted(name for name in fields if name in record)
    if clashes:
        raise CryptoError(f"entry {seq}: decrypted fields {clashes} clash with plaintext fields")
    result: dict[str, Any] = {}
    for name, value in record.items():
        if name == ENC_FIELD:
            result.update(fields)
        else:
            result[name] = value
    return result


def _b64_field(enc: Mapping[str, Any], name: str, seq: int) -> bytes:
    value = enc.get(name)
    if not isinstance(value, str):
        raise CryptoError(f"entry {seq}: {ENC_FIELD}.{name} is missing or not a string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise CryptoError(f"entry {seq}: {ENC_FIELD}.{name} is not valid base64") from exc


class FieldCipher:
    """Encrypts one stream's field groups under one data key, for the append hot path.

    Produces exactly what :func:`encrypt_fields` produces (and
    :func:`decrypt_fields` reads), but keeps the AES-GCM context and the AAD
    prefix between entries, and serialises with ``default`` instead of failing
    on values JSON cannot hold.
    """

    __slots__ = ("_aad_prefix", "_aead", "_counter", "_kid", "_names", "_prefix")

    def __init__(
        self, key: bytes | bytearray, kid: str, origin: str, names: Collection[str]
    ) -> None:
        """Prepare to encrypt the fields ``names`` of entries of ``origin`` under ``kid``."""
        if not isinstance(kid, str) or not kid:
            raise ConfigError("kid must be a non-empty string")
        if ENC_FIELD in names:
            raise ConfigError(f"the {ENC_FIELD!r} field cannot itself be encrypted")
        self._aead = AESGCM(bytes(key))
        self._kid = kid
        self._names = frozenset(names)
        self._aad_prefix = field_aad(origin, 0)[:-1]
        self._prefix = os.urandom(8)
        self._counter = itertools.count()

    def encrypt(
        self, record: Mapping[str, Any], seq: int, default: Callable[[Any], Any] | None = None
    ) -> dict[str, Any]:
        """Return a copy of ``record`` with its chosen fields moved into ``"enc"``.

        ``record`` itself is left as it was, so a caller can retry with it.
        """
        if ENC_FIELD in record:
            raise ConfigError(f"record already has an {ENC_FIELD!r} field")
        names = self._names
        chosen = {name: record[name] for name in names.intersection(record)}
        if not chosen:
            return dict(record)
        try:
            plaintext = orjson.dumps(chosen, default=default)
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise ConfigError(f"cannot encrypt fields {sorted(chosen)}: {exc}") from exc
        nonce = self._nonce()
        ct = self._aead.encrypt(nonce, plaintext, self._aad_prefix + str(seq).encode("ascii"))
        out = {k: v for k, v in record.items() if k not in chosen}
        out[ENC_FIELD] = {
            "kid": self._kid,
            "nonce": b2a_base64(nonce, newline=False).decode("ascii"),
            "ct": b2a_base64(ct, newline=False).decode("ascii"),
        }
        return out

    def quick_encryptor(
        self, default: Callable[[Any], Any] | None = None
    ) -> Callable[[str, dict[str, Any] | None, int], dict[str, Any]] | None:
        """A function ``(msg, extra, seq) -> "enc" object`` for plain log calls, if it applies.

        It encrypts exactly what :meth:`encrypt` would for a record of ``level``,
        ``logger``, ``msg``, ``node`` and (unless ``None``) ``extra``, without
        building that record. ``None`` when the chosen fields are not ``msg``
        and ``extra`` (and maybe others) but not ``level``, ``logger`` or ``node``.
        """
        if not {"msg", "extra"} <= self._names or self._names & _QUICK_PLAIN:
            return None
        dumps, b2a, seal, nonce = orjson.dumps, b2a_base64, self._aead.encrypt, self._nonce
        aad_prefix, kid = self._aad_prefix, self._kid

        def encrypt(msg: str, extra: dict[str, Any] | None, seq: int) -> dict[str, Any]:
            chosen = {"msg": msg} if extra is None else {"msg": msg, "extra": extra}
            try:
                plaintext = dumps(chosen, default=default)
            except (orjson.JSONEncodeError, TypeError) as exc:
                raise ConfigError(f"cannot encrypt fields {sorted(chosen)}: {exc}") from exc
            iv = nonce()
            ct = seal(iv, plaintext, aad_prefix + str(seq).encode("ascii"))
            return {
                "ct": b2a(ct, newline=False).decode("ascii"),
                "kid": kid,
                "nonce": b2a(iv, newline=False).decode("ascii"),
            }

        return encrypt

    def _nonce(self) -> bytes:
        """A 96-bit nonce: this instance's random 64-bit prefix and a 32-bit counter.

        Nonces never repeat within an instance (a new random prefix is drawn before
        the counter wraps); instances sharing a key collide only if two draw the same
        64-bit prefix. Cheaper than 12 fresh random bytes per entry.
        """
        n = next(self._counter)
        if n >= 0xFFFFFFFF:
            self._prefix = os.urandom(8)
            self._counter = itertools.count()
            n = next(self._counter)
        return self._prefix + n.to_bytes(4, "big")
