"""Pure parts: event model and limits, criteria parsing, dates, cursors, the pruned proof tree."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.audit.cursors import CursorCodec
from logging_audit.audit.dates import parse_time_bound
from logging_audit.audit.events import AuditEvent, event_from_fields
from logging_audit.audit.limits import Limits, normalize_details
from logging_audit.audit.proof_tree import StoredTree
from logging_audit.audit.query import EventQuery, SortSpec
from logging_audit.audit.records import Requestor
from logging_audit.errors import ConfigError, FramingError, ProofError
from logging_audit.ledger import Frontier, MerkleTree, StreamStart, leaf_hash
from logging_audit.persistence.models import ClearanceLevel

US = 1_000_000
JAN1 = int(datetime(2023, 1, 1, tzinfo=timezone.utc).timestamp()) * US


class Colour(Enum):
    RED = "red"


def test_details_are_normalised_to_plain_json() -> None:
    when = datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    out = normalize_details(
        {
            "t": when,
            "d": date(2023, 1, 2),
            "u": UUID(int=1),
            "m": Decimal("1.50"),
            "e": Colour.RED,
            "tup": (1, 2),
            "set": {3, 1, 2},
        }
    )
    assert out == {
        "t": when.isoformat(),
        "d": "2023-01-02",
        "u": str(UUID(int=1)),
        "m": "1.50",
        "e": "red",
        "tup": [1, 2],
        "set": [1, 2, 3],
    }


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"b": b"\xff"}, "bytes cannot be stored"),
        ({"n": float("nan")}, "not a finite number"),
        ({"i": 2**70}, "does not fit in 64 bits"),
        ({1: "x"}, "is not a string"),
        ({"s": "\ud800"}, "not valid UTF-8"),
        ({"o": object()}, "not JSON"),
        ("not a dict", "must be a mapping"),
    ],
)
def test_details_that_cannot_be_stored_exactly_are_refused(details: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalize_details(details)  # type: ignore[arg-type]


def test_limits_are_configurable() -> None:
    small = Limits(max_details_bytes=10, max_depth=2, max_string=5)
    with pytest.raises(ConfigError, match="limit of 10 bytes"):
        normalize_details({"x": "0123456789"}, small)
    with pytest.raises(ConfigError, match="nested deeper than 2"):
        normalize_details({"a": {"b": {"c": 1}}}, small)
    with pytest.raises(ConfigError, match="longer than 5"):
        AuditEvent("system", "x", "toolong", limits=small)
    with pytest.raises(ConfigError, match="positive integer"):
        Limits(max_depth=0)


def test_event_fields_round_trip_and_refuse_foreign_entries() -> None:
    ev = AuditEvent("authentication", "login", "alice", resource="r", details={"a": [1]})
    assert event_from_fields(ev.to_fields()) == ev
    assert "resource" in ev.to_fields()
    assert "source_ip" not in ev.to_fields()
    with pytest.raises(FramingError):
        event_from_fields({"msg": "a log line"})
    with pytest.raises(FramingError):
        event_from_fields({**ev.to_fields(), "actor": 5})
    with pytest.raises(ConfigError):
        AuditEvent("authentication", "login", "")


def test_clearance_coercion() -> None:
    assert ClearanceLevel.coerce("LEVEL_3") is ClearanceLevel.LEVEL_3
    assert ClearanceLevel.coerce("4") is ClearanceLevel.LEVEL_4
    assert ClearanceLevel.coerce(5) is ClearanceLevel.LEVEL_5
    for bad in (0, 6, True, "LEVEL_9", 2.0, None):
        with pytest.raises(ConfigError):
            ClearanceLevel.coerce(bad)


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        ("2023-01-01", False, JAN1),
        ("2023-01-01", True, JAN1 + 86400 * US),
        (date(2023, 1, 1), True, JAN1 + 86400 * US),
        ("2023-01-01T00:00:00Z", False, JAN1),
        ("2023-01-01T02:00:00+02:00", False, JAN1),
        ("2023-01-01T00:00:00", False, JAN1),  # no zone: UTC
        ("2023-01-01T00:00:00Z", True, JAN1 + 1),  # an instant end includes itself
        (datetime(2023, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), False, JAN1),
        (None, False, None),
    ],
)
def test_time_bounds(value: object, end: bool, expected: int | None) -> None:
    assert parse_time_bound(value, "start_date", end=end) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["2023-13-01", "yesterday", "2023-01-01T25:00", "", 20230101])
def test_bad_time_bounds_name_the_parameter(bad: object) -> None:
    with pytest.raises(ConfigError, match="end_date"):
        parse_time_bound(bad, "end_date")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"nope": 1}, "unknown search field 'nope'"),
        ({"actor": {"like": "x"}}, "unknown operator 'like'"),
        ({"actor": 5}, "expected a string"),
        ({"seq": "5"}, "expected an integer"),
        ({"actor": {"in": []}}, "needs 1 to 1000 values"),
        ({"actor": {"gt": None}}, "cannot compare with None"),
        ({"details.": 1}, "path part"),
        ({'details.a"b': 1}, "path part"),
        ({"details.x": {"gt": True}}, "cannot compare with a bool"),
        ({"details.x": {"a": 1}}, "unknown operator 'a'"),
        ({"details.x": [{"a": 1}]}, "expected a string, number"),
        ({"ts": {"in": ["2023-01-01"]}}, "times support"),
        ({"text": "   "}, "holds no word"),
        ({"success": "yes"}, "true or false"),
        ({"clearance": 9}, "LEVEL_1"),
    ],
)
def test_bad_criteria_name_what_is_wrong(criteria: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EventQuery.build(criteria)


def test_criteria_parsing() -> None:
    q = EventQuery.build(
        {"user_id": "u", "ts": {"lte": "2023-01-01"}, "resource_id": ["a", "b"]},
        start="2022-12-01",
        sort="-timestamp",
    )
    assert [(c.field.name, c.op) for c in q.conditions] == [
        ("actor_type", "eq"),
        ("actor", "eq"),
        ("ts", "lt"),
        ("resource", "in"),
    ]
    assert q.conditions[2].value == JAN1 + 86400 * US
    assert q.sort == SortSpec("ts", True)
    assert q.fingerprint() != EventQuery.build({"user_id": "u"}).fingerprint()
    with pytest.raises(ConfigError, match="before start_date"):
        EventQuery.build(start="2023-02-01", end="2023-01-01")
    with pytest.raises(ConfigError, match="cannot sort by"):
        EventQuery.build(sort="details.x")


def test_cursor_codec() -> None:
    codec = CursorCodec(b"k" * 32)
    q = EventQuery.build({"actor": "a"})
    r = Requestor("r", ClearanceLevel.LEVEL_2)
    cursor = codec.encode(q, r, "value", 7)
    pos = codec.decode(cursor, q, r)
    assert (pos.value, pos.seq) == ("value", 7)
    with pytest.raises(ConfigError, match="invalid"):
        CursorCodec(b"x" * 32).decode(cursor, q, r)
    for junk in ("", "a.b.c", "!!!.???", 5, "x" * 9000):
        with pytest.raises(ConfigError, match="invalid"):
            codec.decode(junk, q, r)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=80), st.data())
def test_pruned_tree_proofs_match_the_full_tree(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    full = MerkleTree(leaves)
    p = data.draw(st.integers(min_value=0, max_value=n))
    start = None
    if p:
        f = Frontier()
        f.extend(leaves[:p])
        start = StreamStart(p, leaves[p - 1], f.hashes)
    tree = StoredTree(start, leaves[p:])
    assert tree.size == n
    assert tree.root() == full.root()
    size = data.draw(st.integers(min_value=max(p, 1), max_value=n))
    for i in range(p, size):
        assert tree.inclusion_proof(i, size) == full.inclusion_proof(i, size)
    old = data.draw(st.integers(min_value=max(p, 1), max_value=size))
    assert tree.consistency_proof(old, size) == full.consistency_proof(old, size)
    if p:
        with pytest.raises(ProofError, match="pruned"):
            tree.inclusion_proof(p - 1, size)
