"""The signing key store: a stream's checkpoint signer and forward-secure epoch key.

One JSON file (kind ``logaudit-signing-keys``, mode 0600) per stream holds:

- ``origin``: the stream origin, the first line of every checkpoint;
- ``signer``: the Ed25519 checkpoint signing key as a C2SP signed-note private key string;
- ``epoch_seconds``: the epoch length (default 900 s);
- ``epoch``, ``epoch_started``, ``epoch_key``: the current epoch, when it began, and K(e).

It never holds an earlier epoch key. :meth:`SigningKeyStore.advance_epoch`
computes K(e+1) = HMAC-SHA256(K(e), "logaudit/evolve"), replaces the file
atomically, overwrites the old file's blocks and the old key in memory. K(0)
can therefore only be exported (:meth:`SigningKeyStore.export_verifier`) while
the store is still at epoch 0 — normally right at ``logaudit keys init``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from logging_audit.crypto import _files
from logging_audit.crypto._names import check_key_name, check_origin
from logging_audit.crypto.verifier_file import VerifierFile
from logging_audit.errors import ConfigError, Error, KeyStoreError
from logging_audit.ledger.notes import NoteSigner, NoteVerifier
from logging_audit.ledger.seals import evolve_key
from logging_audit.ledger.verifier import VerifierMaterial

__all__ = ["DEFAULT_EPOCH_SECONDS", "EPOCH_KEY_SIZE", "SIGNING_KIND", "SigningKeyStore"]

SIGNING_KIND = "logaudit-signing-keys"
"""The ``"kind"`` of a signing key file."""

DEFAULT_EPOCH_SECONDS = 900
"""Default epoch length: 15 minutes."""

EPOCH_KEY_SIZE = 32
"""Size in bytes of every epoch key K(e)."""

_MAX_EPOCH = (1 << 63) - 1


class SigningKeyStore:
    """A loaded signing key file. Create one with :meth:`create`, open one with :meth:`load`.

    The store is meant for one writer at a time (the stream's append lock
    serialises writers). Every write first checks that the file is still the
    version this object last read or wrote, so a stale object can never write an
    older epoch key back to disk.
    """

    __slots__ = (
        "_created",
        "_digest",
        "_epoch",
        "_epoch_key",
        "_epoch_seconds",
        "_epoch_started",
        "_origin",
        "_path",
        "_signer",
        "_verifier",
    )

    def __init__(
        self,
        *,
        path: Path,
        origin: str,
        signer: NoteSigner,
        epoch_seconds: int,
        epoch: int,
        epoch_started: datetime,
        epoch_key: bytes,
        created: datetime,
        digest: bytes,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`load`."""
        self._path = path
        self._origin = origin
        self._signer = signer
        self._verifier = signer.verifier()
        self._epoch_seconds = epoch_seconds
        self._epoch = epoch
        self._epoch_started = epoch_started
        self._epoch_key = bytearray(epoch_key)
        self._created = created
        self._digest = digest

    # -- life cycle --------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        origin: str,
        *,
        key_name: str | None = None,
        epoch_seconds: int = DEFAULT_EPOCH_SECONDS,
        verifier_path: str | os.PathLike[str] | None = None,
        now: datetime | None = None,
    ) -> SigningKeyStore:
        """Create a new signing key file at ``path``; refuse if a file is already there.

        Generates an Ed25519 checkpoint key named ``key_name`` (default: the
        origin) and K(0) = 32 bytes from ``os.urandom``. With ``verifier_path``
        the verifier file (holding K(0)) is written there at once; that path must
        not exist either.
        """
        origin = check_origin(origin)
        key_name = check_key_name(origin if key_name is None else key_name)
        if type(epoch_seconds) is not int or not 1 <= epoch_seconds <= _MAX_EPOCH:
            raise ConfigError(f"epoch_seconds must be a positive integer, got {epoch_seconds!r}")
        file = Path(path)
        if file.exists() or file.is_symlink():
            raise KeyStoreError(f"key file {file} already exists; refusing to overwrite it")
        verifier_file = None if verifier_path is None else Path(verifier_path)
        if verifier_file is not None:
            if os.path.abspath(verifier_file) == os.path.abspath(file):
                raise ConfigError("the verifier file and the key file must be different files")
            if verifier_file.exists() or verifier_file.is_symlink():
                raise KeyStoreError(
                    f"verifier file {verifier_file} already exists; refusing to overwrite it"
                )
        try:
            signer = NoteSigner.generate(key_name)
        except (Error, ValueError) as exc:
            raise ConfigError(f"cannot make a checkpoint key named {key_name!r}: {exc}") from exc
        started = _files.as_utc(now)
        k0 = bytearray(os.urandom(EPOCH_KEY_SIZE))
        try:
            data = _serialise(
                origin=origin,
                signer=signer,
                epoch_seconds=epoch_seconds,
                epoch=0,
                epoch_started=started,
                epoch_key=k0,
                created=started,
            )
            _files.write_new(file, data)
            store = cls(
                path=file,
                origin=origin,
                signer=signer,
                epoch_seconds=epoch_seconds,
                epoch=0,
                epoch_started=started,
                epoch_key=bytes(k0),
                created=started,
                digest=_files.digest(data),
            )
        finally:
            k0[:] = bytes(len(k0))
        if verifier_file is not None:
            try:
                store.export_verifier().save(verifier_file)
            except KeyStoreError as exc:
                raise KeyStoreError(
                    f"{exc} (key file {file} was created and is still at epoch 0: "
                    "`logaudit keys export-verifier` can still export the verifier)"
                ) from exc
        return store

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SigningKeyStore:
        """Open an existing signing key file; never creates one.

        Raises :class:`KeyStoreError` naming the file if it is missing, unsafe
        (group/other permissions), corrupt, or of another kind or version.
        """
        file = Path(path)
        obj, data = _files.read_object(file, SIGNING_KIND)
        origin = _files.field_str(obj, "origin", file)
        try:
            check_origin(origin)
        except ConfigError as exc:
            raise KeyStoreError(f"key file {file}: {exc}") from exc
        signer_text = _files.field_str(obj, "signer", file)
        try:
            signer = NoteSigner.from_private_key_string(signer_text)
        except (Error, ValueError) as exc:
            raise KeyStoreError(
                f"key file {file}: field 'signer' is not a valid signing key"
            ) from exc
        epoch_seconds = _files.field_int(obj, "epoch_seconds", file, minimum=1)
        epoch = _files.field_int(obj, "epoch", file)
        epoch_started = _files.field_time(obj, "epoch_started", file)
        epoch_key = _files.field_b64(obj, "epoch_key", file, length=EPOCH_KEY_SIZE)
        created = _files.field_time(obj, "created", file)
        return cls(
            path=file,
            origin=origin,
            signer=signer,
            epoch_seconds=epoch_seconds,
            epoch=epoch,
            epoch_started=epoch_started,
            epoch_key=epoch_key,
            created=created,
            digest=_files.digest(data),
        )

    # -- public parts ------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The key file."""
        return self._path

    @property
    def origin(self) -> str:
        """The stream origin: first line of every checkpoint."""
        return self._origin

    @property
    def verifier(self) -> NoteVerifier:
        """The checkpoint verifier (public key) matching :attr:`signer`."""
        return self._verifier

    @property
    def verifier_key(self) -> str:
        """The checkpoint verifier key string, ``name+hex(id)+base64(0x01 ‖ public key)``."""
        return self._verifier.to_string()

    @property
    def key_name(self) -> str:
        """The checkpoint key's name, as written in signature lines."""
        return self._verifier.name

    @property
    def key_id(self) -> str:
        """The checkpoint key's 4-byte key id, in hex."""
        return f"{self._verifier.key_id:08x}"

    @property
    def epoch_seconds(self) -> int:
        """The epoch length in seconds."""
        return self._epoch_seconds

    @property
    def epoch(self) -> int:
        """The current epoch index e."""
        return self._epoch

    @property
    def epoch_started_at(self) -> datetime:
        """When the current epoch began (aware UTC datetime)."""
        return self._epoch_started

    @property
    def created_at(self) -> datetime:
        """When the store was created (aware UTC datetime)."""
        return self._created

    def epoch_due(self, now: datetime | None = None) -> bool:
        """Return whether the current epoch has lasted ``epoch_seconds`` by ``now``."""
        current = _files.as_utc(now)
        return current - self._epoch_started >= timedelta(seconds=self._epoch_seconds)

    # -- secrets -----------------------------------------------------------------------

    @property
    def signer(self) -> NoteSigner:
        """The checkpoint signer (holds the Ed25519 private key)."""
        return self._signer

    @property
    def epoch_key(self) -> bytes:
        """A copy of K(e), the current epoch's MAC key."""
        return bytes(self._epoch_key)

    def advance_epoch(self, *, now: datetime | None = None) -> None:
        """Move to epoch e+1: K(e+1) = evolve_key(K(e)); K(e) is erased.

        The file is replaced atomically before anything changes in memory, so
        on error the store stays at epoch e. Afterwards K(e) exists neither in
        the file nor in this object (its bytearray is overwritten in place; any
        transient ``bytes`` copies are beyond Python's control).
        """
        if self._epoch >= _MAX_EPOCH:
            raise KeyStoreError(f"key file {self._path}: epoch counter exhausted")
        started = _files.as_utc(now)
        next_key = bytearray(evolve_key(bytes(self._epoch_key)))
        try:
            data = _serialise(
                origin=self._origin,
                signer=self._signer,
                epoch_seconds=self._epoch_seconds,
                epoch=self._epoch + 1,
                epoch_started=started,
                epoch_key=next_key,
                created=self._created,
            )
            _files.replace(self._path, data, expected=self._digest)
            self._epoch_key[:] = next_key
        finally:
            next_key[:] = bytes(len(next_key))
        self._epoch += 1
        self._epoch_started = started
        self._digest = _files.digest(data)

    def verifier_material(self, include_current: bool = True) -> VerifierMaterial:
        """Return what a verifier on this host can use: public key(s) and the current K(e).

        K(0) is never part of it, so MACs of earlier epochs cannot be checked
        with it; the report says which epochs were. ``include_current=False``
        leaves only the public key.
        """
        return VerifierMaterial(
            origin=self._origin,
            note_verifiers=(self._verifier,),
            current_epoch=(self._epoch, bytes(self._epoch_key)) if include_current else None,
        )

    def export_verifier(self) -> VerifierFile:
        """Return the verifier (public key and K(0)); only possible at epoch 0.

        Raises :class:`KeyStoreError` once epoch 1 has begun: K(0) was erased
        then, and the verifier file exported at init must be used.
        """
        if self._epoch != 0:
            raise KeyStoreError(
                f"key file {self._path} is at epoch {self._epoch}: K(0) was erased when "
                "epoch 1 began, so the verifier can no longer be exported from it; use the "
                "verifier file exported at `logaudit keys init`"
            )
        return VerifierFile(
            origin=self._origin,
            verifier_keys=(self.verifier_key,),
            epoch0_key=bytes(self._epoch_key),
            epoch_seconds=self._epoch_seconds,
        )

    def __repr__(self) -> str:
        return (
            f"SigningKeyStore(path={str(self._path)!r}, origin={self._origin!r}, "
            f"key={self.verifier_key!r}, epoch={self._epoch})"
        )


def _serialise(
    *,
    origin: str,
    signer: NoteSigner,
    epoch_seconds: int,
    epoch: int,
    epoch_started: datetime,
    epoch_key: bytes | bytearray,
    created: datetime,
) -> bytes:
    obj: dict[str, Any] = {
        "version": _files.FORMAT_VERSION,
        "kind": SIGNING_KIND,
        "origin": origin,
        "signer": signer.private_key_string(),
        "epoch_seconds": epoch_seconds,
        "epoch": epoch,
        "epoch_started": _files.format_time(epoch_started),
        "epoch_key": _files.b64(epoch_key),
        "created": _files.format_time(created),
    }
    return _files.dump(obj)
