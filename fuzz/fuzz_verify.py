"""Fuzz the stream verifier with whole streams.

An input is the stream's lines (split on ``\\n``), then optionally ``\\x00`` and checkpoint
notes separated by ``\\x00``. The verifier must never raise, must report every line that
does not frame or parse as ``malformed_line`` at its line number, and may call a stream
verified only when it really is one: seqs 0..n-1 in order, each ``prev`` the leaf hash of
the line before, every MAC right under K(epoch).

Run (atheris): ``python fuzz/fuzz_verify.py /tmp/new-corpus fuzz/corpus/verify``.
The kept corpus holds real streams written with the constants below (see make_corpus.py),
so mutations start from deep inside the verifier.
"""

from __future__ import annotations

import sys

from logging_audit.errors import FramingError
from logging_audit.ledger import (
    ZERO_HASH,
    FailureKind,
    NoteSigner,
    VerifierMaterial,
    epoch_key,
    leaf_hash,
    parse_entry,
    unframe_line,
    verify_mac,
    verify_stream,
)

ORIGIN = "example.com/fuzz"
K0 = bytes(range(32))
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(100, 132)))
MATERIAL = VerifierMaterial(ORIGIN, (SIGNER.verifier(),), epoch0_key=K0)
MAX_EPOCH = 64  # keep key derivation in the checker itself bounded


def split(data: bytes) -> tuple[list[bytes], list[str]]:
    """Lines and checkpoint notes of one fuzz input."""
    stream, *notes = data.split(b"\x00")
    return stream.split(b"\n"), [n.decode("utf-8", "replace") for n in notes]


def target(data: bytes) -> None:
    """One fuzz input. Raises ``AssertionError`` (or an unexpected exception) on a bug."""
    lines, notes = split(data)
    report = verify_stream(lines, MATERIAL, checkpoints=notes)
    assert report.entries == len(lines)
    malformed = {f.line for f in report.failures if f.kind is FailureKind.MALFORMED_LINE}
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            raw, mac = unframe_line(line)
            entries.append((parse_entry(raw), mac))
        except FramingError:
            assert number in malformed, f"line {number} does not frame but is not reported"
    if not report.verified:
        return
    assert len(entries) == len(lines)
    prev = ZERO_HASH
    for seq, (entry, mac) in enumerate(entries):
        assert entry.seq == seq, "verified a stream with a gap or reordering"
        assert entry.prev == prev, "verified a broken chain"
        if entry.epoch <= MAX_EPOCH:
            assert verify_mac(epoch_key(K0, entry.epoch), entry.raw, mac), "verified a bad MAC"
        prev = leaf_hash(entry.raw)
    assert report.tree_size == len(lines)


def main() -> None:
    import atheris  # optional: only a fuzzing run needs it, never the tests

    atheris.instrument_all()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
