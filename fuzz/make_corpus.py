"""Write the kept seed corpus of the fuzz harnesses (``python fuzz/make_corpus.py``).

The seeds are small, valid or nearly valid inputs built with the harnesses' own
constants, so that fuzzing starts deep inside the parsers. Re-running rewrites the
same files byte for byte (fixed keys, fixed clock).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import fuzz_notes
import fuzz_verify
import orjson

from logging_audit.ledger import (
    Checkpoint,
    Frontier,
    LedgerWriter,
    NoteSigner,
    StreamStart,
    leaf_hash,
    sign_checkpoint,
    unframe_line,
)

HERE = Path(__file__).resolve().parent / "corpus"


def _clock() -> Callable[[], str]:
    ticks = itertools.count()
    return lambda: f"2026-01-01T00:00:{next(ticks) % 60:02d}.000000Z"


def _stream() -> tuple[list[bytes], list[str], StreamStart]:
    w = LedgerWriter(fuzz_verify.ORIGIN, fuzz_verify.K0, clock=_clock())
    lines: list[bytes] = []
    cps: list[str] = []
    for epoch in range(2):
        for i in range(3):
            lines.append(w.append({"level": "INFO", "msg": f"e{epoch} #{i}", "n": [i, None]}))
        lines.append(w.seal() or b"")
        cps.append(w.checkpoint(fuzz_verify.SIGNER))
    lines.append(w.append({"msg": "tail"}))
    hashes = [leaf_hash(unframe_line(x)[0]) for x in lines[:4]]
    frontier = Frontier()
    frontier.extend(hashes)
    start = StreamStart(4, hashes[-1], frontier.hashes)
    lines.append(w.prune(start))
    return lines, cps, start


def _write(kind: str, name: str, data: bytes) -> None:
    (HERE / kind).mkdir(parents=True, exist_ok=True)
    (HERE / kind / f"seed-{name}").write_bytes(data)


def main() -> None:
    lines, cps, start = _stream()
    # framing
    _write("framing", "entry-line", lines[0])
    _write("framing", "entry-line-crlf", lines[1] + b"\r\n")
    _write("framing", "seal-line", lines[3])
    _write("framing", "prune-line", lines[-1])
    _write("framing", "prune-record", orjson.dumps(start.to_fields()))
    _write("framing", "entry-bytes", unframe_line(lines[2])[0])
    _write("framing", "truncated-line", lines[0][:-12])
    _write("framing", "bad-mac", lines[0][:-10] + b'!!!!!!!"}')
    _write("framing", "not-an-object", b'["x",1,"mac":"' + b"A" * 43 + b'="}')
    _write("framing", "empty", b"")
    # notes
    cp = sign_checkpoint(
        Checkpoint(fuzz_notes.ORIGIN, 7, bytes(range(32)), ("ext",)), fuzz_notes.SIGNER
    )
    _write("notes", "checkpoint", cps[0].encode())
    _write("notes", "checkpoint-extension", cp.encode())
    stranger = NoteSigner.from_seed("stranger.example", bytes(32))
    twice = sign_checkpoint(
        Checkpoint(fuzz_notes.ORIGIN, 1, bytes(32)), [stranger, fuzz_notes.SIGNER]
    )
    _write("notes", "unknown-signer", twice.encode())
    _write("notes", "verifier-key", fuzz_notes.SIGNER.verifier().to_string().encode())
    _write("notes", "signer-key", stranger.private_key_string().encode())
    _write("notes", "no-blank-line", b"example.com/fuzz\n1\nAAAA\n")
    # verify
    body = b"\n".join(lines)
    _write("verify", "stream", body)
    _write("verify", "stream-with-checkpoints", body + b"\x00" + "\x00".join(cps).encode())
    _write("verify", "swapped", b"\n".join([lines[0], lines[2], lines[1], *lines[3:]]))
    _write("verify", "replayed", b"\n".join([*lines[:3], lines[2], *lines[3:]]))
    _write("verify", "deleted-seal", b"\n".join([*lines[:3], *lines[4:]]))
    _write("verify", "truncated", b"\n".join(lines[:5]) + b"\x00" + cps[1].encode())
    _write("verify", "garbage-line", b"\n".join([lines[0], b"{}", *lines[1:]]))


if __name__ == "__main__":
    main()
