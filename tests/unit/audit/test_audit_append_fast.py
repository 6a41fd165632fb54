"""The fast recording path derives exactly what the stored bytes say.

Rows are derived once from the validated event (not by parsing the line back),
large batches are streamed to the database in chunks, and event construction,
details normalisation and search text take shortcuts for plain values. Each
shortcut is checked here against the slow, canonical derivation.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import pickle
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.audit.appending import STREAM_CHUNK, AppendBatch, row_from_line
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.index import derive_index, search_text, words
from logging_audit.audit.limits import DEFAULT_LIMITS, Limits, normalize_details
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import ConfigError
from logging_audit.ledger import parse_entry, unframe_line
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


class Colour(str, Enum):
    RED = "red"


def _tricky(i: int) -> AuditEvent:
    """Events that leave the shortcuts: NULs, non-ASCII, nesting, enums, absent fields."""
    kinds = [
        {"details": {"n": i, "path": "/a/b", "ok": True, "x": None, "f": 1.5}},
        {
            "resource": f"doc\x00{i}",
            "details": {"k\x00": "v\x00w", "deep": {"a": ["x", {"b": "y"}]}},
        },
        {"source_ip": "10.0.0.1", "details": {"ünïcode": "grüße 東京 ٣", "list": ["a", 1, None]}},
        {
            "actor_type": "agent",
            "details": {"colour": Colour.RED, "t": ("p", "q"), "s": {"z", "y"}},
        },
        {"source_node": "node-1", "outcome": "failure", "details": {}},
        {"details": {"big": 2**64 - 1, "neg": -(2**63), "\\u0000": "not a nul"}},
    ]
    kw = kinds[i % len(kinds)]
    level: Any = 1 + i % 5  # an int, as callers pass it
    return AuditEvent(
        event_type="data_access",
        action="read",
        actor=f"user{i % 7}",
        clearance=level,
        **kw,  # type: ignore[arg-type]
    )


def test_rows_made_from_events_equal_rows_parsed_from_their_bytes(
    make_store: Callable[..., AuditStore],
) -> None:
    store = make_store()
    events = [_tricky(i) for i in range(60)]
    with pytest.raises(_Abort):
        _check_rows(store, events)  # in a transaction that is rolled back
    assert store.size == 0


class _Abort(Exception):
    pass


def _check_rows(store: AuditStore, events: list[AuditEvent]) -> None:
    ledger = ("seq", "ts", "epoch", "prev")
    with store.driver.write() as tx:
        batch = AppendBatch(tx, store.keys, store.now)
        for row in batch.add_events(events):
            assert row.columns == row_from_line(row.line).columns
            entry = parse_entry(unframe_line(row.line)[0])
            assert row.index == derive_index(entry)
            assert row.search_text == search_text(entry)
            assert row.fields is not None
            assert {k: v for k, v in row.fields.items() if k not in ledger} == entry.fields
        raise _Abort


def test_a_streamed_batch_after_a_seal_verifies(
    make_store: Callable[..., AuditStore], clock: FakeClock
) -> None:
    store = make_store(epoch_seconds=60)
    store.append([_tricky(0)])
    clock.advance(120)  # the next append seals the epoch first, then streams its chunks
    n = 2 * STREAM_CHUNK + 17
    stored = store.append([_tricky(i) for i in range(n)])
    assert [s.seq for s in stored] == list(range(stored[0].seq, stored[0].seq + n))
    assert len({s.ts for s in stored}) == 1
    report = store.verify_integrity()
    assert report.verified, report.to_dict()
    assert store.count(EventQuery.build({}), TOP) == n + 1
    page = store.search(EventQuery.build({}, text="grüße"), TOP, limit=1000)
    assert len(page.events) == len([i for i in range(n) if i % 6 == 2])
    nul = store.search(EventQuery.build({"resource": "doc\x007"}), TOP, limit=1000)
    assert [(e.event.resource, e.event.details["k\x00"]) for e in nul.events] == [
        ("doc\x007", "v\x00w")
    ]


def test_a_duplicate_inside_a_streamed_batch_records_nothing(
    make_store: Callable[..., AuditStore],
) -> None:
    store = make_store()
    events = [_tricky(i) for i in range(STREAM_CHUNK + 50)]
    events.append(dataclasses.replace(events[3], actor="someone-else"))  # same event_id
    with pytest.raises(ConfigError, match="event_id"):
        store.append(events)
    assert store.size == 0
    store.append(events[:10])
    assert store.verify_integrity().verified


# -- AuditEvent: the written-out __init__ is the dataclass's -------------------------------


def test_event_init_has_the_fields_signature() -> None:
    params = list(inspect.signature(AuditEvent).parameters.values())
    fields = dataclasses.fields(AuditEvent)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is not inspect.Parameter.empty, f.name
        else:
            assert p.default is inspect.Parameter.empty, f.name


def test_event_construction_checks_as_before() -> None:
    three: Any = 3
    ev = AuditEvent("authentication", "login", "alice", clearance=three, details={"a": (1, 2)})
    assert ev.clearance is ClearanceLevel.LEVEL_3
    assert ev.details == {"a": [1, 2]}
    assert len(ev.event_id) == 32
    assert AuditEvent("a", "b", "c").event_id != AuditEvent("a", "b", "c").event_id
    four: Any = "LEVEL_4"
    assert AuditEvent("a", "b", "c", clearance=four).clearance is ClearanceLevel.LEVEL_4
    assert dataclasses.replace(ev, actor="bob").event_id == ev.event_id
    assert pickle.loads(pickle.dumps(ev)) == ev  # noqa: S301 (our own bytes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.actor = "mallory"  # type: ignore[misc]
    bad: dict[str, Any]
    for bad in (
        {"event_id": None},
        {"actor": ""},
        {"actor": "x" * 257},
        {"action": "bad\ud800"},
        {"resource": ""},
        {"clearance": 6},
        {"clearance": True},
        {"details": []},
    ):
        with pytest.raises(ConfigError):
            AuditEvent(**{"event_type": "a", "action": "b", "actor": "c", **bad})  # type: ignore[arg-type]


# -- details normalisation: the shortcuts give the general case's results -----------------

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _reference(value: Any, depth: int, limits: Limits) -> Any:
    """The general normalisation (as it was before the shortcuts), for plain JSON values."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        value.encode("utf-8")
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ConfigError("int")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("float")
        return float(value)
    if isinstance(value, Mapping):
        if depth >= limits.max_depth:
            raise ConfigError("depth")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError("key")
            key.encode("utf-8")
            out[key] = _reference(item, depth + 1, limits)
        return out
    if isinstance(value, list | tuple):
        if depth >= limits.max_depth:
            raise ConfigError("depth")
        return [_reference(v, depth + 1, limits) for v in value]
    raise AssertionError(type(value))


_text = st.text(st.characters(blacklist_categories=()), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_text | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text, _json, max_size=5))
def test_normalize_details_matches_the_general_case(details: dict[str, Any]) -> None:
    limits = Limits(max_depth=3, max_details_bytes=1 << 20)
    try:
        expected = _reference(details, 0, limits)
    except (ConfigError, UnicodeEncodeError):
        with pytest.raises(ConfigError):
            normalize_details(details, limits)
        return
    assert normalize_details(details, limits) == expected


def test_normalize_details_errors_name_the_place() -> None:
    cases: list[tuple[Any, str]] = [
        ({"a": {"b": 2**64}}, "details.a.b: integer"),
        ({"a": [1, float("nan")]}, r"details.a\[1\]: nan"),
        ({"k\ud800": 1}, "lone surrogate"),
        ({"a": {"b": "x\udfff"}}, r"details.a.b: string is not valid UTF-8"),
        ({"a": {1: 2}}, "details.a: key 1 is not a string"),
    ]
    for details, message in cases:
        with pytest.raises(ConfigError, match=message):
            normalize_details(details, DEFAULT_LIMITS)


# -- search text ---------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=()), max_size=40))
def test_words_are_the_regex_words(text: str) -> None:
    assert words(text) == " ".join(_WORD.findall(text))


@settings(max_examples=300, deadline=None)
@given(_json)
def test_search_text_of_an_event_matches_its_stored_bytes(value: Any) -> None:
    try:
        details = normalize_details({"v": value}, Limits(max_details_bytes=1 << 20))
    except ConfigError:
        return
    ev = AuditEvent("data_access", "read", "alice", resource="r 1", details=details)
    writer_batch = _row_of(ev)
    entry = parse_entry(unframe_line(writer_batch.line)[0])
    assert writer_batch.search_text == search_text(entry)
    assert writer_batch.index == derive_index(entry)


def _row_of(ev: AuditEvent) -> Any:
    from logging_audit.ledger import LedgerWriter

    class _Tx:
        def one(self, sql: str, params: Any = ()) -> tuple[Any, ...]:
            return (0, bytes(32), b"", 0, False, None)

    class _Keys:
        class store:  # stands in for the key store
            origin = "logaudit/test/fast"
            epoch_key = bytes(32)

        def sync(self, epoch: int) -> None:
            pass

        def epoch_due(self) -> bool:
            return False

    from datetime import datetime, timezone

    batch = AppendBatch(_Tx(), _Keys(), lambda: datetime(2026, 1, 1, tzinfo=timezone.utc))  # type: ignore[arg-type]
    assert isinstance(batch.writer, LedgerWriter)
    return batch.add_events([ev])[0]
