"""Fuzz C2SP signed notes, checkpoints and note keys.

Contract: ``verify_note``, ``parse_checkpoint``, ``open_checkpoint`` and the key-string
parsers raise only ``NoteError`` (``CheckpointError`` is one) on untrusted input, and a
checkpoint that parses is written back byte for byte.

Run (atheris): ``python fuzz/fuzz_notes.py /tmp/new-corpus fuzz/corpus/notes``.
"""

from __future__ import annotations

import contextlib
import sys

from logging_audit.errors import NoteError
from logging_audit.ledger import (
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    parse_checkpoint,
    verify_note,
)

ORIGIN = "example.com/fuzz"
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(100, 132)))
VERIFIERS = (SIGNER.verifier(),)


def target(data: bytes) -> None:
    """One fuzz input. Raises ``AssertionError`` (or an unexpected exception) on a bug."""
    try:
        note = verify_note(data, VERIFIERS)
    except NoteError:
        pass
    else:
        assert note.signatures, "a verified note has a verified signature"
        assert data.decode("utf-8").startswith(note.text)
    with contextlib.suppress(NoteError):
        open_checkpoint(data, VERIFIERS, origin=ORIGIN)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        cp = parse_checkpoint(text)
    except NoteError:
        pass
    else:
        assert cp.to_text() == text, "parse_checkpoint is not byte-exact"
    for line in text.split("\n")[:4]:
        # Key IDs may be written in either case (as Go's note package reads them), so
        # the check is that what we write reads back to the same key.
        try:
            verifier = NoteVerifier.from_string(line)
        except NoteError:
            pass
        else:
            assert NoteVerifier.from_string(verifier.to_string()) == verifier
            assert verifier.to_string().lower() == line.lower()
        try:
            signer = NoteSigner.from_private_key_string(line)
        except NoteError:
            pass
        else:
            again = NoteSigner.from_private_key_string(signer.private_key_string())
            assert (again.name, again.seed) == (signer.name, signer.seed)


def main() -> None:
    import atheris  # optional: only a fuzzing run needs it, never the tests

    atheris.instrument_all()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
