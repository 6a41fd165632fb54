"""Where an audit store's keys live, and keeping the epoch key in step with the database.

A store's key directory (by default ``<database file>.keys/`` beside a SQLite
database; given explicitly for PostgreSQL) holds:

- ``signing.json``: the :class:`~logging_audit.crypto.SigningKeyStore` (Ed25519
  checkpoint key and the current epoch key K(e));
- ``verifier.json``: the verifier (public key and K(0)) when it is kept on the
  host — which gives up forward security, and is reported as such;
- ``verifier.sealed.json`` instead, when a ``secret_key`` seals it.

Keys are created only together with a new, empty database. For a database
that already has a stream, a missing or foreign key file is a
:class:`~logging_audit.errors.KeyStoreError` naming the file — never a new key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from logging_audit.audit.sealed_verifier import open_sealed_verifier, write_sealed_verifier
from logging_audit.crypto import DEFAULT_EPOCH_SECONDS, SigningKeyStore, VerifierFile
from logging_audit.errors import ConfigError, KeyStoreError
from logging_audit.ledger import VerifierMaterial

__all__ = ["KeyConfig", "StreamKeys"]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


SIGNING_FILE = "signing.json"
VERIFIER_FILE = "verifier.json"
SEALED_VERIFIER_FILE = "verifier.sealed.json"


@dataclass(frozen=True)
class KeyConfig:
    """How a store finds (or, for a new database, creates) its keys.

    ``keep_verifier``: when a new database is created, keep the verifier (K(0))
    in the key directory so that ``verify_integrity()`` checks every epoch's
    MACs. That gives up forward security (an attacker who takes the host reads
    K(0)); the verification report says so. With ``keep_verifier=False`` pass
    ``verifier_out`` to write it elsewhere (off the host), or export it with
    ``logaudit keys export-verifier`` before the first epoch ends.
    ``secret_key`` seals the kept verifier (see :mod:`~logging_audit.audit.sealed_verifier`).
    """

    key_dir: Path
    epoch_seconds: int = DEFAULT_EPOCH_SECONDS
    keep_verifier: bool = True
    verifier_out: Path | None = None
    secret_key: bytes | None = field(default=None, repr=False)

    @property
    def signing_file(self) -> Path:
        """The signing key file."""
        return self.key_dir / SIGNING_FILE

    @property
    def verifier_file(self) -> Path:
        """The plain verifier kept on the host (if any)."""
        return self.key_dir / VERIFIER_FILE

    @property
    def sealed_verifier_file(self) -> Path:
        """The verifier sealed under ``secret_key`` (if any)."""
        return self.key_dir / SEALED_VERIFIER_FILE


class StreamKeys:
    """The loaded signing key store of one stream, kept at the database's epoch."""

    def __init__(
        self, config: KeyConfig, store: SigningKeyStore, clock: Callable[[], datetime]
    ) -> None:
        """Internal: use :meth:`create` or :meth:`load`."""
        self.config = config
        self.store = store
        self._clock = clock

    @classmethod
    def create(
        cls, config: KeyConfig, origin: str, clock: Callable[[], datetime] = _utcnow
    ) -> StreamKeys:
        """Create the key files of a new database; refuse if a signing key file exists."""
        file = config.signing_file
        if file.exists() or file.is_symlink():
            raise KeyStoreError(
                f"key file {file} already exists but the database has no stream: refusing to "
                "reuse keys for a new database (remove the file if it is an orphan, or point "
                "the store at the database it belongs to)"
            )
        try:
            config.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyStoreError(f"cannot create key directory {config.key_dir}: {exc}") from exc
        plain = config.keep_verifier and config.secret_key is None
        store = SigningKeyStore.create(
            file,
            origin,
            epoch_seconds=config.epoch_seconds,
            verifier_path=config.verifier_file if plain else None,
            now=clock(),
        )
        verifier = store.export_verifier()
        if config.keep_verifier and config.secret_key is not None:
            write_sealed_verifier(config.sealed_verifier_file, verifier, config.secret_key)
        if config.verifier_out is not None:
            verifier.save(config.verifier_out)
        return cls(config, store, clock)

    @classmethod
    def load(
        cls,
        config: KeyConfig,
        origin: str,
        verifier_key: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> StreamKeys:
        """Load the keys of an existing database, checking they belong to it."""
        file = config.signing_file
        if not file.exists():
            raise KeyStoreError(
                f"key file {file} does not exist, but the database already holds stream "
                f"{origin!r}: restore the key file (a new key would make the log unverifiable)"
            )
        store = SigningKeyStore.load(file)
        if store.verifier_key != verifier_key or store.origin != origin:
            raise KeyStoreError(
                f"key file {file} belongs to stream {store.origin!r} (key {store.verifier_key}),"
                f" not to this database's stream {origin!r} (key {verifier_key})"
            )
        keys = cls(config, store, clock)
        if config.secret_key is not None:
            if not config.sealed_verifier_file.exists():
                raise KeyStoreError(
                    f"secret_key was given but {config.sealed_verifier_file} does not exist: "
                    "this database was created without a secret_key"
                )
            open_sealed_verifier(config.sealed_verifier_file, config.secret_key)
        return keys

    # -- epochs ------------------------------------------------------------------------

    def sync(self, epoch: int) -> None:
        """Bring the key store to the database's ``epoch`` (call with the append lock held).

        Another appender may have advanced the epoch (reload the file), or
        crashed between committing a seal and advancing the file (advance it now).
        A key file ahead of the database means the database was rolled back.
        """
        if self.store.epoch == epoch:
            return
        fresh = SigningKeyStore.load(self.config.signing_file)
        if fresh.epoch > epoch:
            raise KeyStoreError(
                f"key file {self.config.signing_file} is at epoch {fresh.epoch} but the "
                f"database is at epoch {epoch}: the database was restored from an older copy "
                "or rolled back (the erased epoch keys cannot be recovered)"
            )
        while fresh.epoch < epoch:
            fresh.advance_epoch(now=self._clock())
        self.store = fresh

    def epoch_due(self) -> bool:
        """Whether the current epoch has lasted ``epoch_seconds`` by the store's clock."""
        return self.store.epoch_due(self._clock())

    # -- derived secrets and verifier material -----------------------------------------

    def cursor_key(self) -> bytes:
        """The key that authenticates paging cursors (derived from the checkpoint key)."""
        return hmac.digest(self.store.signer.seed, b"logaudit/audit-cursor/v1", "sha256")

    def verifier_material(
        self, verifier_path: str | os.PathLike[str] | None = None
    ) -> tuple[VerifierMaterial, str]:
        """Return the best verifier material at hand, and a sentence saying what it is."""
        cfg = self.config
        if verifier_path is not None:
            vf = VerifierFile.load(verifier_path)
            source = f"verifier file {verifier_path}: every epoch's MACs are checked"
        elif cfg.secret_key is not None and cfg.sealed_verifier_file.exists():
            vf = open_sealed_verifier(cfg.sealed_verifier_file, cfg.secret_key)
            source = (
                f"sealed verifier {cfg.sealed_verifier_file} opened with secret_key: every "
                "epoch's MACs are checked; a secret kept on this host gives no forward security"
            )
        elif cfg.verifier_file.exists():
            vf = VerifierFile.load(cfg.verifier_file)
            source = (
                f"verifier file {cfg.verifier_file} kept on this host: every epoch's MACs are "
                "checked, but a verifier kept on the host gives up forward security"
            )
        else:
            return self.store.verifier_material(), (
                "no verifier file: checkpoint signatures, chain and tree are checked, MACs "
                "only from the current epoch on (pass the verifier file to check all)"
            )
        if vf.origin != self.store.origin:
            raise ConfigError(
                f"the verifier is for stream {vf.origin!r}, not {self.store.origin!r}"
            )
        return vf.material(), source
