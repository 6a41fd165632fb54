"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is the text of a signed note (see :mod:`logging_audit.ledger.notes`)::

    example.com/behind-the-sofa
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

that is: the origin line, the tree size in decimal, the base64 RFC 6962 root
hash, then optional non-empty extension lines, each ending in a newline.

Parsing is strict and byte-exact: ``parse_checkpoint(text).to_text() == text``
for every text it accepts. Malformed text raises
:class:`~logging_audit.errors.CheckpointError`; signature problems raise
:class:`~logging_audit.errors.NoteError` (its base class).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from logging_audit.errors import CheckpointError
from logging_audit.ledger.notes import (
    Note,
    NoteSigner,
    NoteVerifier,
    _b64decode_canonical,
    sign_note,
    verify_note,
)

__all__ = [
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]

#: Size of an RFC 6962 SHA-256 root hash.
HASH_SIZE = 32

#: Largest tree size accepted: the spec sets no bound, every implementation
#: we interoperate with (Go's uint64) stores it in 64 bits.
MAX_TREE_SIZE = 2**64 - 1

_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_TREE_SIZE_DIGITS = len(str(MAX_TREE_SIZE))
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SHOW_LIMIT = 64


def _show(value: str) -> str:
    if len(value) > _SHOW_LIMIT:
        return repr(value[:_SHOW_LIMIT]) + "..."
    return repr(value)


def _check_line(value: str, what: str) -> None:
    """Raise CheckpointError unless ``value`` is a non-empty, printable, UTF-8 line."""
    if not value:
        raise CheckpointError(f"{what} must not be empty")
    if "\n" in value:
        raise CheckpointError(f"{what} must not contain a newline")
    bad = _FORBIDDEN_CONTROL.search(value)
    if bad is not None:
        raise CheckpointError(f"{what} contains control character U+{ord(bad.group()):04X}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError(f"{what} is not valid UTF-8 (lone surrogate)") from exc


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and extension lines.

    Construction validates every field (``CheckpointError`` otherwise), so any
    ``Checkpoint`` can be written with :meth:`to_text` and signed.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the fields and normalise ``root_hash`` to bytes and ``extensions`` to a tuple."""
        _check_line(self.origin, "checkpoint origin")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise CheckpointError(f"tree size must be an integer in 0..2**64-1, got {self.size!r}")
        object.__setattr__(self, "root_hash", bytes(self.root_hash))
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, got {len(self.root_hash)}")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for number, line in enumerate(self.extensions, start=1):
            _check_line(line, f"extension line {number}")

    def to_text(self) -> str:
        """Return the note text: origin, size, base64 root and extensions, one per line."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        head = f"{self.origin}\n{self.size}\n{root}\n"
        return head + "".join(line + "\n" for line in self.extensions)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly.

    Requires at least three lines, each ending in a newline: a non-empty
    origin; a decimal tree size without sign, spaces or leading zeros (``0``
    itself is allowed) and at most 2**64-1; the canonical base64 of a 32-byte
    root hash; then non-empty extension lines.

    Raises:
        CheckpointError: the text is not a checkpoint.
    """
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(
            f"checkpoint needs origin, tree size and root hash lines, got {len(lines)} line(s)"
        )
    origin, size_line, root_line, *extensions = lines
    _check_line(origin, "checkpoint origin")
    if not _TREE_SIZE.fullmatch(size_line):
        raise CheckpointError(
            f"tree size {_show(size_line)} is not a decimal number without leading zeros"
        )
    # Bound the digits before int(): CPython refuses to convert very long strings.
    if len(size_line) > _MAX_TREE_SIZE_DIGITS or int(size_line) > MAX_TREE_SIZE:
        raise CheckpointError(f"tree size {_show(size_line)} is larger than 2**64-1")
    size = int(size_line)
    root_hash = _b64decode_canonical(root_line, "root hash", CheckpointError)
    if len(root_hash) != HASH_SIZE:
        raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, got {len(root_hash)}")
    return Checkpoint(origin=origin, size=size, root_hash=root_hash, extensions=tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner | Sequence[NoteSigner]) -> str:
    """Return ``cp`` as a signed note, signed by one or more keys.

    The spec recommends that the log's key name equal the origin; that is the
    caller's choice of key name.

    Raises:
        NoteError: no signer, or two different signers share a name and key ID.
    """
    return sign_note(cp.to_text(), signer)


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier], origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and return it.

    The note must verify under :func:`~logging_audit.ledger.notes.verify_note`
    (signatures from unknown keys, such as witness cosignatures, are ignored),
    its text must parse as a checkpoint and, if ``origin`` is given, carry
    exactly that origin.

    Raises:
        NoteError: the note is malformed or no known key validly signed it.
        CheckpointError: the signed text is not a checkpoint, or its origin is
            not ``origin``.
    """
    opened: Note = verify_note(note, verifiers)
    checkpoint = parse_checkpoint(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint origin {_show(checkpoint.origin)} is not the expected {_show(origin)}"
        )
    return checkpoint
