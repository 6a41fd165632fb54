"""The encryption key store: a key-encryption key and the data keys wrapped under it.

One JSON file (kind ``logaudit-encryption-keys``, mode 0600), kept apart from the
signing key store. It holds a 32-byte key-encryption key (KEK) and a list of data
keys, each ``{"kid", "created", "status", "nonce", "wrapped"}`` where ``wrapped``
is the data key sealed with AES-256-GCM under the KEK with AAD
``"logaudit/wrap" 0x00 kid`` (so a wrapped key cannot be relabelled).

Status is ``active`` (the one data key new entries use), ``retired`` (still
readable) or ``shredded``: :meth:`EncryptionKeyStore.shred` deletes the wrapped
bytes for good and leaves a tombstone with the time, so a reader can say
"shredded" rather than "unknown key". Entries encrypted under a shredded key
can never be read again, yet still verify: hashes and MACs cover the ciphertext.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from logging_audit.crypto import _files, aead
from logging_audit.errors import CryptoError, KeyStoreError

__all__ = ["ENCRYPTION_KIND", "DataKeyInfo", "DataKeyStatus", "EncryptionKeyStore"]

ENCRYPTION_KIND = "logaudit-encryption-keys"
"""The ``"kind"`` of an encryption key file."""

DataKeyStatus = Literal["active", "retired", "shredded"]

_STATUSES: tuple[DataKeyStatus, ...] = ("active", "retired", "shredded")
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_WRAP_AAD = b"logaudit/wrap\x00"
_WRAPPED_SIZE = aead.KEY_SIZE + aead.TAG_SIZE


@dataclass(frozen=True)
class DataKeyInfo:
    """The public facts about one data key (no key bytes)."""

    kid: str
    created_at: datetime
    status: DataKeyStatus
    shredded_at: datetime | None = None


@dataclass(frozen=True)
class _Entry:
    info: DataKeyInfo
    nonce: bytes | None = None  # None once shredded
    wrapped: bytes | None = None


def _wrap(kek: bytes | bytearray, kid: str, key: bytes | bytearray) -> tuple[bytes, bytes]:
    return aead.encrypt(kek, bytes(key), _WRAP_AAD + kid.encode("utf-8"))


class EncryptionKeyStore:
    """A loaded encryption key file. Create one with :meth:`create`, open one with :meth:`load`.

    Every change is written to the file (atomically) before it takes effect in
    memory, and only if the file is still the version this object last saw.
    """

    __slots__ = ("_created", "_digest", "_entries", "_kek", "_kek_created", "_path")

    def __init__(
        self,
        *,
        path: Path,
        kek: bytes,
        kek_created: datetime,
        entries: list[_Entry],
        created: datetime,
        digest: bytes,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`load`."""
        self._path = path
        self._kek = bytearray(kek)
        self._kek_created = kek_created
        self._entries = entries
        self._created = created
        self._digest = digest

    # -- life cycle --------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], *, now: datetime | None = None
    ) -> EncryptionKeyStore:
        """Create a new encryption key file with a fresh KEK and one active data key.

        Refuses (:class:`KeyStoreError`) if a file already exists at ``path``.
        """
        file = Path(path)
        created = _files.as_utc(now)
        kek = bytearray(os.urandom(aead.KEY_SIZE))
        key = bytearray(os.urandom(aead.KEY_SIZE))
        try:
            entries = [_new_entry(kek, key, created)]
            data = _serialise(kek, created, entries, created)
            _files.write_new(file, data)
            return cls(
                path=file,
                kek=bytes(kek),
                kek_created=created,
                entries=entries,
                created=created,
                digest=_files.digest(data),
            )
        finally:
            kek[:] = bytes(len(kek))
            key[:] = bytes(len(key))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EncryptionKeyStore:
        """Open an existing encryption key file; never creates one.

        Raises :class:`KeyStoreError` naming the file if it is missing, unsafe,
        corrupt, or of another kind or version.
        """
        file = Path(path)
        obj, data = _files.read_object(file, ENCRYPTION_KIND)
        created = _files.field_time(obj, "created", file)
        kek = _files.field_b64(obj, "kek", file, length=aead.KEY_SIZE)
        kek_created = _files.field_time(obj, "kek_created", file)
        raw_entries = obj.get("data_keys")
        if not isinstance(raw_entries, list):
            raise KeyStoreError(f"key file {file}: field 'data_keys' must be a list")
        entries: list[_Entry] = []
        seen: set[str] = set()
        active = 0
        for index, raw in enumerate(raw_entries):
            entry = _parse_entry(raw, file, index)
            if entry.info.kid in seen:
                raise KeyStoreError(f"key file {file}: data key {entry.info.kid!r} appears twice")
            seen.add(entry.info.kid)
            active += entry.info.status == "active"
            entries.append(entry)
        if active > 1:
            raise KeyStoreError(f"key file {file}: more than one data key is 'active'")
        return cls(
            path=file,
            kek=kek,
            kek_created=kek_created,
            entries=entries,
            created=created,
            digest=_files.digest(data),
        )

    # -- public parts ------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The key file."""
        return self._path

    @property
    def created_at(self) -> datetime:
        """When the store was created."""
        return self._created

    @property
    def kek_created_at(self) -> datetime:
        """When the current key-encryption key was made (creation or last :meth:`rotate_kek`)."""
        return self._kek_created

    @property
    def current_kid(self) -> str | None:
        """The kid of the active data key, or ``None`` if there is none (e.g. it was shredded)."""
        for entry in self._entries:
            if entry.info.status == "active":
                return entry.info.kid
        return None

    def list_data_keys(self) -> list[DataKeyInfo]:
        """Return kid, creation time, status and shredding time of each data key, oldest first."""
        return [entry.info for entry in self._entries]

    # -- data keys ---------------------------------------------------------------------

    def data_key(self, kid: str) -> bytes:
        """Return data key ``kid``; :class:`CryptoError` if it is unknown or was shredded."""
        entry = self._find(kid)
        if entry.nonce is None or entry.wrapped is None:
            when = entry.info.shredded_at
            raise CryptoError(
                f"data key {kid!r} was shredded"
                + (f" at {_files.format_time(when)}" if when is not None else "")
                + ": entries encrypted under it can no longer be read"
            )
        try:
            return aead.decrypt(
                self._kek, entry.nonce, entry.wrapped, _WRAP_AAD + kid.encode("utf-8")
            )
        except CryptoError as exc:
            raise CryptoError(
                f"data key {kid!r} in key file {self._path} does not unwrap under the "
                "key-encryption key (file corrupted or tampered with)"
            ) from exc

    def new_data_key(self, *, now: datetime | None = None) -> tuple[str, bytes]:
        """Make a new data key the active one (the previous one is retired); return (kid, key)."""
        created = _files.as_utc(now)
        key = bytearray(os.urandom(aead.KEY_SIZE))
        try:
            entry = _new_entry(self._kek, key, created)
            retired = [
                _Entry(_with_status(e.info, "retired"), e.nonce, e.wrapped)
                if e.info.status == "active"
                else e
                for e in self._entries
            ]
            self._commit(self._kek, self._kek_created, [*retired, entry])
            return entry.info.kid, bytes(key)
        finally:
            key[:] = bytes(len(key))

    def active_data_key(self, *, now: datetime | None = None) -> tuple[str, bytes]:
        """Return (kid, key) of the active data key, making a new one if there is none."""
        kid = self.current_kid
        if kid is None:
            return self.new_data_key(now=now)
        return kid, self.data_key(kid)

    def shred(self, kid: str, *, now: datetime | None = None) -> None:
        """Destroy data key ``kid`` for good, keeping a tombstone; shredding twice is a no-op.

        The file is rewritten without the wrapped key and the old file's blocks
        are overwritten (best effort: backups, snapshots and copy-on-write file
        systems may still hold the old file — and with it the wrapped key,
        which the KEK of that copy can open).
        """
        entry = self._find(kid)
        if entry.info.status == "shredded":
            return
        when = _files.as_utc(now)
        tombstone = _Entry(
            DataKeyInfo(
                kid=kid, created_at=entry.info.created_at, status="shredded", shredded_at=when
            )
        )
        entries = [tombstone if e.info.kid == kid else e for e in self._entries]
        self._commit(self._kek, self._kek_created, entries)

    def rotate_kek(self, *, now: datetime | None = None) -> None:
        """Re-wrap every live data key under a new key-encryption key; the old KEK is erased.

        Data keys do not change, so everything encrypted before stays readable.
        """
        when = _files.as_utc(now)
        new_kek = bytearray(os.urandom(aead.KEY_SIZE))
        try:
            entries: list[_Entry] = []
            for entry in self._entries:
                if entry.nonce is None:
                    entries.append(entry)
                    continue
                key = bytearray(self.data_key(entry.info.kid))
                try:
                    nonce, wrapped = _wrap(new_kek, entry.info.kid, key)
                finally:
                    key[:] = bytes(len(key))
                entries.append(_Entry(entry.info, nonce, wrapped))
            self._commit(new_kek, when, entries)
        finally:
            new_kek[:] = bytes(len(new_kek))

    # -- internals ---------------------------------------------------------------------

    def _find(self, kid: str) -> _Entry:
        for entry in self._entries:
            if entry.info.kid == kid:
                return entry
        raise CryptoError(f"unknown data key {kid!r}: it is not in key file {self._path}")

    def _commit(self, kek: bytes | bytearray, kek_created: datetime, entries: list[_Entry]) -> None:
        data = _serialise(kek, kek_created, entries, self._created)
        _files.replace(self._path, data, expected=self._digest)
        self._kek[:] = kek  # same length: overwrites the old KEK in place
        self._kek_created = kek_created
        self._entries = entries
        self._digest = _files.digest(data)

    def __repr__(self) -> str:
        return (
            f"EncryptionKeyStore(path={str(self._path)!r}, current_kid={self.current_kid!r}, "
            f"data_keys={len(self._entries)})"
        )


def _with_status(info: DataKeyInfo, status: DataKeyStatus) -> DataKeyInfo:
    return DataKeyInfo(info.kid, info.created_at, status, info.shredded_at)


def _new_entry(kek: bytes | bytearray, key: bytes | bytearray, created: datetime) -> _Entry:
    kid = "dk-" + secrets.token_hex(8)
    nonce, wrapped = _wrap(kek, kid, key)
    return _Entry(DataKeyInfo(kid=kid, created_at=created, status="active"), nonce, wrapped)


def _serialise(
    kek: bytes | bytearray, kek_created: datetime, entries: list[_Entry], created: datetime
) -> bytes:
    items: list[dict[str, Any]] = []
    for entry in entries:
        item: dict[str, Any] = {
            "kid": entry.info.kid,
            "created": _files.format_time(entry.info.created_at),
            "status": entry.info.status,
        }
        if entry.nonce is not None and entry.wrapped is not None:
            item["nonce"] = _files.b64(entry.nonce)
            item["wrapped"] = _files.b64(entry.wrapped)
        if entry.info.shredded_at is not None:
            item["shredded"] = _files.format_time(entry.info.shredded_at)
        items.append(item)
    obj: dict[str, Any] = {
        "version": _files.FORMAT_VERSION,
        "kind": ENCRYPTION_KIND,
        "created": _files.format_time(created),
        "kek": _files.b64(kek),
        "kek_created": _files.format_time(kek_created),
        "data_keys": items,
    }
    return _files.dump(obj)


def _parse_entry(raw: object, file: Path, index: int) -> _Entry:
    where = f"data_keys[{index}]"
    if not isinstance(raw, dict):
        raise KeyStoreError(f"key file {file}: {where} must be an object")
    try:
        kid = _files.field_str(raw, "kid", file, max_len=128)
        if not _KID.fullmatch(kid):
            raise KeyStoreError(f"key file {file}: field 'kid' {kid!r} is not a valid key id")
        created = _files.field_time(raw, "created", file)
        status = raw.get("status")
        if status not in _STATUSES:
            raise KeyStoreError(
                f"key file {file}: field 'status' must be one of {', '.join(_STATUSES)}"
            )
        if status == "shredded":
            if "nonce" in raw or "wrapped" in raw:
                raise KeyStoreError(f"key file {file}: a shredded key still has key bytes")
            shredded = _files.field_time(raw, "shredded", file)
            return _Entry(DataKeyInfo(kid, created, "shredded", shredded))
        nonce = _files.field_b64(raw, "nonce", file, length=aead.NONCE_SIZE)
        wrapped = _files.field_b64(raw, "wrapped", file, length=_WRAPPED_SIZE)
        live: DataKeyStatus = "active" if status == "active" else "retired"
        return _Entry(DataKeyInfo(kid, created, live), nonce, wrapped)
    except KeyStoreError as exc:
        raise KeyStoreError(f"{exc} (in {where})") from exc
