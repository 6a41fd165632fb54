"""The verifier file: what a verifier needs to check every MAC and checkpoint of a stream.

It holds the stream origin, the checkpoint verifier key(s), the epoch length and
K(0), the key of epoch 0 from which every later epoch key is derived. K(0) is
secret — whoever has it can forge the MACs of every epoch — so the file is
written 0600 and belongs **off the host** that writes the log: a copy kept on
that host gives up forward security (see docs/adr/0003-key-stores.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logging_audit.crypto import _files
from logging_audit.crypto._names import check_origin
from logging_audit.errors import ConfigError, Error, KeyStoreError
from logging_audit.ledger.notes import NoteVerifier
from logging_audit.ledger.verifier import VerifierMaterial

__all__ = ["VERIFIER_KIND", "VerifierFile"]

VERIFIER_KIND = "logaudit-verifier"
"""The ``"kind"`` of a verifier file."""

EPOCH_KEY_SIZE = 32


@dataclass(frozen=True)
class VerifierFile:
    """Verifier material for one stream, as kept in a ``logaudit-verifier`` file.

    ``epoch0_key`` is left out of ``repr()`` so that it never ends up in a log.
    """

    origin: str
    verifier_keys: tuple[str, ...]
    epoch0_key: bytes = field(repr=False)
    epoch_seconds: int

    def __post_init__(self) -> None:
        try:
            check_origin(self.origin)
        except ConfigError as exc:
            raise ConfigError(f"verifier: {exc}") from exc
        if not self.verifier_keys:
            raise ConfigError("verifier: at least one checkpoint verifier key is needed")
        for vkey in self.verifier_keys:
            _parse_vkey(vkey)
        if len(self.epoch0_key) != EPOCH_KEY_SIZE:
            raise ConfigError(f"verifier: K(0) must be {EPOCH_KEY_SIZE} bytes")
        if type(self.epoch_seconds) is not int or self.epoch_seconds < 1:
            raise ConfigError("verifier: epoch_seconds must be a positive integer")

    # -- use ---------------------------------------------------------------------------

    def note_verifiers(self) -> tuple[NoteVerifier, ...]:
        """Return the checkpoint verifiers parsed from :attr:`verifier_keys`."""
        return tuple(_parse_vkey(vkey) for vkey in self.verifier_keys)

    def material(self) -> VerifierMaterial:
        """Return the material for full verification: public keys and K(0)."""
        return VerifierMaterial(
            origin=self.origin,
            note_verifiers=self.note_verifiers(),
            epoch0_key=self.epoch0_key,
        )

    # -- files -------------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Return the file's bytes (indented JSON with a final newline)."""
        obj: dict[str, Any] = {
            "version": _files.FORMAT_VERSION,
            "kind": VERIFIER_KIND,
            "origin": self.origin,
            "verifier_keys": list(self.verifier_keys),
            "epoch_seconds": self.epoch_seconds,
            "epoch0_key": _files.b64(self.epoch0_key),
        }
        return _files.dump(obj)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the verifier file to ``path`` (0600, atomically); never overwrites a file."""
        _files.write_new(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VerifierFile:
        """Read and check a verifier file; any problem is a :class:`KeyStoreError` naming it."""
        file = Path(path)
        obj, _ = _files.read_object(file, VERIFIER_KIND)
        origin = _files.field_str(obj, "origin", file)
        vkeys = obj.get("verifier_keys")
        if (
            not isinstance(vkeys, list)
            or not vkeys
            or not all(isinstance(v, str) and v for v in vkeys)
        ):
            raise KeyStoreError(
                f"key file {file}: field 'verifier_keys' must be a non-empty list of strings"
            )
        epoch_seconds = _files.field_int(obj, "epoch_seconds", file, minimum=1)
        epoch0_key = _files.field_b64(obj, "epoch0_key", file, length=EPOCH_KEY_SIZE)
        try:
            return cls(
                origin=origin,
                verifier_keys=tuple(vkeys),
                epoch0_key=epoch0_key,
                epoch_seconds=epoch_seconds,
            )
        except ConfigError as exc:
            raise KeyStoreError(f"key file {file}: {exc}") from exc


def _parse_vkey(vkey: str) -> NoteVerifier:
    try:
        return NoteVerifier.from_string(vkey)
    except (Error, ValueError) as exc:
        raise ConfigError(f"{vkey!r} is not a valid checkpoint verifier key: {exc}") from exc
