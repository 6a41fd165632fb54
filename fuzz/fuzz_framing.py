"""Fuzz the parsers of framed lines: ``unframe_line``, ``parse_entry``, ``StreamStart.from_fields``.

Contract: untrusted bytes either parse, or raise a ``logging_audit.errors.Error``
subclass (``FramingError``); nothing else escapes. What parses round-trips byte-exactly.

Run (atheris): ``python fuzz/fuzz_framing.py /tmp/new-corpus fuzz/corpus/framing``
(libFuzzer writes new inputs into the first directory; keep the second one small).
Without atheris, ``tests/unit/ledger/test_fuzz_parsers.py`` replays the kept corpus.
"""

from __future__ import annotations

import sys

import orjson

from logging_audit.errors import Error, FramingError
from logging_audit.ledger import StreamStart, frame_line, parse_entry, unframe_line


def target(data: bytes) -> None:
    """One fuzz input. Raises ``AssertionError`` (or an unexpected exception) on a bug."""
    try:
        raw, mac = unframe_line(data)
    except FramingError:
        pass
    else:
        line = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
        assert frame_line(raw, mac) == line, "unframe_line accepted a line it cannot re-frame"
        _parse(raw)
    _parse(data)
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if isinstance(obj, dict):
        try:
            start = StreamStart.from_fields(obj)
        except FramingError:
            return
        assert StreamStart.from_fields(start.to_fields()) == start


def _parse(raw: bytes) -> None:
    try:
        entry = parse_entry(raw)
    except FramingError:
        return
    except Error as exc:  # pragma: no cover - a contract breach, reported with its type
        raise AssertionError(f"parse_entry raised {type(exc).__name__}, not FramingError") from exc
    assert entry.raw == raw
    assert entry.seq >= 0
    assert entry.epoch >= 0
    assert len(entry.prev) == 32
    assert not {"seq", "ts", "epoch", "prev", "mac"} & set(entry.fields)


def main() -> None:
    import atheris  # optional: only a fuzzing run needs it, never the tests

    atheris.instrument_all()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
