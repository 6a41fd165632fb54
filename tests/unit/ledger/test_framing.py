"""Entry framing: exact bytes, the fixed MAC suffix, round trips, and every malformed line."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import FormatError, FramingError
from logging_audit.ledger import (
    RESERVED_FIELDS,
    ZERO_HASH,
    build_entry,
    format_ts,
    frame_line,
    parse_entry,
    unframe_line,
)
from logging_audit.ledger.framing import MAC_SUFFIX_LEN, now_ts

TS = "2026-11-29T10:00:00.123456Z"
PREV = bytes(range(32))
MAC = bytes(range(32, 64))
MAC_B64 = base64.b64encode(MAC)


def _line(entry: bytes, mac_b64: bytes = MAC_B64) -> bytes:
    """Frame ``entry`` by hand, so that tests can build lines the library would refuse to."""
    return entry[:-1] + b',"mac":"' + mac_b64 + b'"}'


def _entry(**fields: Any) -> bytes:
    base: dict[str, Any] = {"seq": 0, "ts": TS, "epoch": 0, "prev": base64.b64encode(PREV).decode()}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


# -- the exact bytes ------------------------------------------------------------------------


def test_entry_bytes_known_answer() -> None:
    entry = build_entry(41, TS, 3, ZERO_HASH, {"level": "INFO", "msg": "héllo", "n": [1, 2.5]})
    assert entry == (
        b'{"epoch":3,"level":"INFO","msg":"h\xc3\xa9llo","n":[1,2.5],'
        b'"prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","seq":41,'
        b'"ts":"2026-11-29T10:00:00.123456Z"}'
    )


def test_framed_line_known_answer() -> None:
    entry = build_entry(0, TS, 0, ZERO_HASH, {})
    line = frame_line(entry, MAC)
    assert line == entry[:-1] + b',"mac":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}'
    assert len(line) - len(entry) + 1 == MAC_SUFFIX_LEN
    assert orjson.loads(line)["mac"] == MAC_B64.decode()  # jq can read it


def test_keys_are_sorted_and_compact() -> None:
    entry = build_entry(1, TS, 0, ZERO_HASH, {"z": {"b": 1, "a": 2}, "a": None})
    assert entry.startswith(b'{"a":null,"epoch":0,"prev":')
    assert b'"z":{"a":2,"b":1}' in entry
    assert b" " not in entry


# -- round trips ------------------------------------------------------------------------------

json_text = st.text(st.characters(codec="utf-8"), max_size=20)  # no lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)
caller_fields = st.dictionaries(
    json_text.filter(lambda k: k not in RESERVED_FIELDS), json_values, max_size=6
)


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    epoch=st.integers(min_value=0, max_value=2**63 - 1),
    ts=json_text,
    prev=st.binary(min_size=32, max_size=32),
    mac=st.binary(min_size=32, max_size=32),
    fields=caller_fields,
    newline=st.sampled_from([b"", b"\n", b"\r\n"]),
)
def test_build_frame_unframe_round_trip(
    seq: int,
    epoch: int,
    ts: str,
    prev: bytes,
    mac: bytes,
    fields: dict[str, Any],
    newline: bytes,
) -> None:
    entry = build_entry(seq, ts, epoch, prev, fields)
    line = frame_line(entry, mac)
    assert b"\n" not in line
    assert unframe_line(line + newline) == (entry, mac)
    parsed = parse_entry(entry)
    assert (parsed.seq, parsed.ts, parsed.epoch, parsed.prev) == (seq, ts, epoch, prev)
    assert parsed.fields == fields
    assert parsed.raw == entry
    assert parsed.ledger_kind is None
    # Re-framing what was unframed gives the very same bytes: nothing is re-serialised.
    assert frame_line(*unframe_line(line)) == line
    assert orjson.loads(line)["mac"] == base64.b64encode(mac).decode()


@pytest.mark.parametrize("name", sorted(RESERVED_FIELDS))
def test_reserved_field_names_are_rejected(name: str) -> None:
    with pytest.raises(FramingError, match=f"reserved by the ledger: {name}"):
        build_entry(0, TS, 0, ZERO_HASH, {name: 1, "msg": "x"})


def test_all_clashing_names_are_listed() -> None:
    with pytest.raises(FramingError, match="mac, seq"):
        build_entry(0, TS, 0, ZERO_HASH, {"seq": 1, "mac": 2})


def test_nested_reserved_names_are_the_callers_business() -> None:
    entry = build_entry(0, TS, 0, ZERO_HASH, {"ctx": {"mac": "x", "seq": 9}})
    assert parse_entry(entry).fields == {"ctx": {"mac": "x", "seq": 9}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"obj": object()}, "cannot be serialised"),
        ({"big": 2**64}, "cannot be serialised"),
        ({"when": datetime(2026, 1, 1, tzinfo=timezone.utc).date()}, None),  # orjson: ISO date
        ({1: "non-string key"}, "cannot be serialised"),
    ],
)
def test_unserialisable_fields(fields: dict[Any, Any], message: str | None) -> None:
    if message is None:
        build_entry(0, TS, 0, ZERO_HASH, fields)
        return
    with pytest.raises(FramingError, match=message):
        build_entry(0, TS, 0, ZERO_HASH, fields)


def test_default_converts_values_json_cannot_hold() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    entry = build_entry(0, TS, 0, ZERO_HASH, {"x": Thing()}, default=str)
    assert parse_entry(entry).fields == {"x": "thing"}


def test_prev_must_be_32_bytes() -> None:
    with pytest.raises(FramingError, match="prev must be 32 bytes, got 31"):
        build_entry(0, TS, 0, bytes(31), {})


@pytest.mark.parametrize(
    ("entry", "mac", "message"),
    [
        (b'{"a":1}', bytes(31), "mac must be 32 bytes, got 31"),
        (b'{"a":1} ', MAC, "ending in '}'"),
        (b"[1]", MAC, "ending in '}'"),
    ],
)
def test_frame_line_rejects(entry: bytes, mac: bytes, message: str) -> None:
    with pytest.raises(FramingError, match=re.escape(message)):
        frame_line(entry, mac)


def test_now_ts_has_the_format_ts_shape() -> None:
    before = datetime.now(timezone.utc)
    stamp = now_ts()
    after = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(seconds=1) <= when <= after + timedelta(seconds=1)
    stamps = [now_ts() for _ in range(50)]
    assert stamps == sorted(stamps)  # same width, so text order is time order


def test_format_ts() -> None:
    when = datetime(2026, 11, 29, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(when) == "2026-11-29T10:00:00.123456Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", format_ts())
    with pytest.raises(FramingError, match="timezone-aware"):
        format_ts(datetime(2026, 1, 1))


# -- malformed lines: each names its problem ----------------------------------------------

GOOD = _entry(msg="hello")
GOOD_LINE = _line(GOOD)

MALFORMED_LINES = {
    "empty": (b"", "too short"),
    "truncated in the mac": (GOOD_LINE[:-10], 'does not end with a ,"mac"'),
    "truncated to a few bytes": (GOOD_LINE[:20], "too short"),
    "missing mac suffix": (GOOD + b"\n", 'does not end with a ,"mac"'),
    "mac field not last": (
        b'{"a":1,"mac":"' + MAC_B64 + b'","b":2}',
        'does not end with a ,"mac"',
    ),
    "not closed by the mac field": (GOOD_LINE + b" ", 'does not end with a ,"mac"'),
    "no opening brace": (b" " + GOOD_LINE[1:], "not a JSON object closed by its mac field"),
    "array instead of object": (
        b'["x","y","z",1,"mac":"' + MAC_B64 + b'"}',
        "not a JSON object closed by its mac field",
    ),
    "bad base64 mac": (_line(GOOD, b"!" * 44), "mac is not valid base64"),
    "mac with spaces": (_line(GOOD, b" " * 44), "mac is not valid base64"),
    "mac decodes to 31 bytes": (_line(GOOD, b"A" * 42 + b"=="), "mac must be 32 bytes, got 31"),
    "mac decodes to 33 bytes": (_line(GOOD, b"A" * 44), "mac must be 32 bytes, got 33"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_LINES))
def test_malformed_line_is_a_framing_error(case: str) -> None:
    line, message = MALFORMED_LINES[case]
    with pytest.raises(FramingError, match=re.escape(message)):
        unframe_line(line)


P = base64.b64encode(PREV).decode()

MALFORMED_ENTRIES = {
    "invalid UTF-8": (b'{"seq":0,"msg":"\xff\xfe"}', "not valid UTF-8 JSON"),
    "invalid JSON": (b'{"seq":0,,}', "not valid UTF-8 JSON"),
    "truncated JSON": (GOOD[:-5] + b"}", "not valid UTF-8 JSON"),
    "array": (b"[1,2,3]", "not a JSON object"),
    "string": (b'"x"', "not a JSON object"),
    "number": (b"17", "not a JSON object"),
    "null": (b"null", "not a JSON object"),
    "missing seq": (_entry(seq=...), "no valid 'seq'"),
    "missing ts": (_entry(ts=...), "no valid 'ts'"),
    "missing epoch": (_entry(epoch=...), "no valid 'epoch'"),
    "missing prev": (_entry(prev=...), "no valid 'prev'"),
    "seq as string": (_entry(seq="1"), "no valid 'seq'"),
    "seq negative": (_entry(seq=-1), "no valid 'seq'"),
    "seq boolean": (_entry(seq=True), "no valid 'seq'"),
    "seq float": (_entry(seq=1.0), "no valid 'seq'"),
    "epoch negative": (_entry(epoch=-3), "no valid 'epoch'"),
    "epoch float": (_entry(epoch=1.5), "no valid 'epoch'"),
    "epoch null": (_entry(epoch=None), "no valid 'epoch'"),
    "ts number": (_entry(ts=5), "no valid 'ts'"),
    "prev number": (_entry(prev=5), "no valid 'prev'"),
    "prev not base64": (_entry(prev="not base64!"), "prev is not valid base64"),
    "prev 31 bytes": (_entry(prev=base64.b64encode(bytes(31)).decode()), "prev must be 32 bytes"),
    "mac inside the entry": (_entry(mac=P), "contain a 'mac' field"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_ENTRIES))
def test_malformed_entry_is_a_framing_error(case: str) -> None:
    entry, message = MALFORMED_ENTRIES[case]
    with pytest.raises(FramingError, match=re.escape(message)):
        parse_entry(entry)
    if entry.startswith(b"{") and entry.endswith(b"}") and len(entry) > 2:
        # The same problem, reached through a whole framed line.
        raw, _ = unframe_line(_line(entry))
        assert raw == entry
        with pytest.raises(FramingError, match=re.escape(message)):
            parse_entry(raw)


def test_framing_error_is_a_format_error() -> None:
    assert issubclass(FramingError, FormatError)


def test_ledger_kind() -> None:
    assert parse_entry(_entry(ledger="seal")).ledger_kind == "seal"
    assert parse_entry(_entry(ledger=7)).ledger_kind is None
    assert parse_entry(_entry()).ledger_kind is None


def test_entry_is_immutable_and_keeps_exact_bytes() -> None:
    entry = parse_entry(GOOD)
    assert entry.raw is GOOD
    assert entry.fields == {"msg": "hello"}
    with pytest.raises(AttributeError):
        entry.seq = 5  # type: ignore[misc]


@pytest.mark.parametrize("unused_bits", [1, 2, 3])
def test_mac_with_unused_base64_bits_set_is_rejected(unused_bits: int) -> None:
    """A line has one spelling: a MAC whose unused base64 bits are set is another line.

    The 44th base64 character is ``=``; the 43rd carries 4 data bits and 2 unused ones.
    Accepting them set lets a single flipped bit of a stored line pass every check (the
    MAC still verifies) and breaks ``frame_line(*unframe_line(line)) == line``.
    """
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    spelled = bytearray(MAC_B64)
    assert spelled[43] == ord("=")
    spelled[42] = alphabet[alphabet.index(spelled[42]) ^ unused_bits]
    with pytest.raises(FramingError, match="base64"):
        unframe_line(_line(GOOD, bytes(spelled)))
