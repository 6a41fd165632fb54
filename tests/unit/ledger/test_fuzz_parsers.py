"""Untrusted input into every parser of the ledger: only ``logging_audit.errors.Error`` escapes.

Two halves: Hypothesis throws arbitrary and line-shaped bytes at the parsers and the
verifier, and the kept corpus of the atheris harnesses in ``fuzz/`` is replayed through
the very same target functions, so that the corpus runs in CI without atheris.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logging_audit.errors import Error, FramingError
from logging_audit.ledger import (
    FailureKind,
    StreamStart,
    frame_line,
    parse_entry,
    unframe_line,
    verify_stream,
)

FUZZ = Path(__file__).resolve().parents[3] / "fuzz"
HARNESSES = ("framing", "notes", "verify")
CORPUS = sorted(
    (name, path.name) for name in HARNESSES for path in (FUZZ / "corpus" / name).iterdir()
)


@functools.cache
def harness(name: str) -> ModuleType:
    """Import ``fuzz/fuzz_<name>.py`` by path (``fuzz/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"fuzz_{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def target(name: str) -> Callable[[bytes], None]:
    fn: Callable[[bytes], None] = harness(name).target
    return fn


# -- the kept corpus -----------------------------------------------------------------------


def test_every_harness_has_a_corpus() -> None:
    for name in HARNESSES:
        assert any(n == name for n, _ in CORPUS), name
        assert (FUZZ / f"fuzz_{name}.py").is_file()


@pytest.mark.parametrize(("name", "file"), CORPUS, ids=[f"{n}/{f}" for n, f in CORPUS])
def test_corpus_replays_cleanly(name: str, file: str) -> None:
    target(name)((FUZZ / "corpus" / name / file).read_bytes())


def test_the_verify_corpus_holds_a_verified_stream() -> None:
    data = (FUZZ / "corpus" / "verify" / "seed-stream-with-checkpoints").read_bytes()
    lines, notes = harness("verify").split(data)
    report = verify_stream(lines, harness("verify").MATERIAL, checkpoints=notes)
    assert report.verified, report.failures
    assert report.checkpoints_verified == 2


# -- arbitrary bytes -----------------------------------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ_SETTINGS
@given(st.binary(max_size=300))
def test_unframe_line_raises_only_framing_errors(data: bytes) -> None:
    try:
        raw, mac = unframe_line(data)
    except FramingError:
        return
    assert len(mac) == 32
    assert raw.startswith(b"{")
    assert raw.endswith(b"}")


@FUZZ_SETTINGS
@given(st.binary(max_size=300) | st.builds(lambda b: b"{" + b + b"}", st.binary(max_size=200)))
def test_parse_entry_raises_only_framing_errors(data: bytes) -> None:
    try:
        entry = parse_entry(data)
    except FramingError:
        return
    assert entry.raw == data


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
b64_hash = st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode())
prune_like = st.fixed_dictionaries(
    {},
    optional={
        "size": st.integers(min_value=-2, max_value=2**66) | json_scalars,
        "last_hash": b64_hash | json_scalars,
        "frontier": st.lists(b64_hash | json_scalars, max_size=6) | json_values,
        "reason": json_values,
    },
)


@FUZZ_SETTINGS
@given(prune_like | st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_stream_start_from_fields_raises_only_framing_errors(fields: dict[str, Any]) -> None:
    try:
        start = StreamStart.from_fields(fields)
    except FramingError:
        return
    assert StreamStart.from_fields(start.to_fields()) == start


@FUZZ_SETTINGS
@given(st.binary(max_size=400))
def test_framing_harness_on_arbitrary_bytes(data: bytes) -> None:
    target("framing")(data)


@FUZZ_SETTINGS
@given(st.binary(max_size=400))
def test_notes_harness_on_arbitrary_bytes(data: bytes) -> None:
    target("notes")(data)


# -- the verifier on arbitrary and line-shaped streams --------------------------------------


small_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
ledger_names = st.sampled_from(
    ["msg", "ledger", "origin", "size", "root", "last_hash", "frontier", "reason"]
)


@st.composite
def framed_lines(draw: st.DrawFn) -> bytes:
    """Lines the framing accepts, with plausible but unchecked ledger and seal/prune fields."""
    obj: dict[str, Any] = draw(
        st.dictionaries(ledger_names, small_json | b64_hash | st.sampled_from(["seal", "prune"]))
    )
    obj["seq"] = draw(st.integers(min_value=0, max_value=40))
    obj["ts"] = "2026-01-01T00:00:00.000000Z"
    obj["epoch"] = draw(st.integers(min_value=0, max_value=8))  # no huge epochs: see test_verify
    obj["prev"] = draw(b64_hash | st.just(base64.b64encode(bytes(32)).decode()))
    entry = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return frame_line(entry, draw(st.binary(min_size=32, max_size=32)))


any_line = st.binary(max_size=120) | framed_lines()


@settings(FUZZ_SETTINGS, max_examples=150)
@given(st.lists(any_line, max_size=12))
def test_verify_stream_never_raises_on_arbitrary_lines(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    target("verify")(data)


@FUZZ_SETTINGS
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=8))
def test_verify_stream_reports_every_malformed_line(lines: list[bytes]) -> None:
    report = verify_stream(lines, harness("verify").MATERIAL)
    malformed = {f.line for f in report.failures if f.kind is FailureKind.MALFORMED_LINE}
    for number, line in enumerate(lines, start=1):
        try:
            parse_entry(unframe_line(line)[0])
        except FramingError:
            assert number in malformed


def _stream_lines() -> list[bytes]:
    data = (FUZZ / "corpus" / "verify" / "seed-stream").read_bytes()
    lines: list[bytes] = harness("verify").split(data)[0]
    return lines


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """The corpus stream after a few random deletions, copies, moves and byte edits."""
    lines = _stream_lines()
    for _ in range(draw(st.integers(1, 4), label="edits")):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "copy", "move", "byte", "truncate", "splice"]))
        if op == "delete":
            del lines[i]
        elif op == "copy":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(i))
        elif op == "byte" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            b = draw(st.integers(0, 255).filter(lambda v: v != 0))
            lines[i] = lines[i][:j] + bytes([b]) + lines[i][j + 1 :]
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            lines[i:i] = [draw(framed_lines())]
    return b"\n".join(line.replace(b"\n", b"") for line in lines)


@FUZZ_SETTINGS
@given(mutated_streams())
def test_verify_harness_on_mutated_streams(data: bytes) -> None:
    target("verify")(data)


def test_errors_are_one_family() -> None:
    assert issubclass(FramingError, Error)
