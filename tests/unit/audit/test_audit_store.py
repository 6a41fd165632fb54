"""Recording and searching on both backends: operators, nested details, text, time, sort, paging."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import ConfigError
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


def _ev(actor: str = "alice", **kw: object) -> AuditEvent:
    kw.setdefault("event_type", "authentication")
    kw.setdefault("action", "login")
    return AuditEvent(actor=actor, **kw)  # type: ignore[arg-type]


def _seed(store: AuditStore, clock: FakeClock) -> None:
    rows = [
        _ev("alice", source_ip="10.0.0.1", details={"ip_address": "10.0.0.1", "mfa": True, "n": 1}),
        _ev(
            "bob",
            outcome="failure",
            details={"reason": "bad password", "n": 2, "geo": {"cc": "DE"}},
        ),
        _ev(
            "alice",
            event_type="data_access",
            action="read",
            resource="doc-1",
            details={"size": 10.5, "tags": ["x", "y"], "geo": {"cc": "FR"}},
        ),
        _ev(
            "carol",
            event_type="administrative",
            action="config_change",
            resource="mfa.required",
            details={"old_value": False, "new_value": True, "note": "quarterly review"},
        ),
        _ev(
            "A-1",
            actor_type="agent",
            event_type="agent_action",
            action="data_access",
            details={"n": 3, "none": None},
        ),
    ]
    for ev in rows:
        store.append([ev])
        clock.advance(60)


def _search(
    store: AuditStore, criteria: dict[str, object] | None = None, **kw: object
) -> list[str]:
    # the searches themselves are recorded as "query" events: leave them out here
    criteria = {"event_type": {"ne": "query"}, **(criteria or {})}
    query = EventQuery.build(criteria, **kw)  # type: ignore[arg-type]
    return [f"{e.event.actor}:{e.event.action}" for e in store.search(query, TOP, limit=100).events]


def test_appended_events_come_back_exactly(store: AuditStore) -> None:
    ev = _ev("alice", details={"k": "v", "nested": {"a": [1, 2.5, None, True]}})
    stored = store.append([ev])[0]
    assert stored.seq == 0
    page = store.search(EventQuery.build({"event_id": ev.event_id}), TOP)
    assert [p.event for p in page.events] == [ev]
    assert page.events[0].line == stored.line
    d = page.events[0].to_dict()
    assert set(d) == {
        "event_id",
        "seq",
        "timestamp",
        "event_type",
        "action",
        "outcome",
        "success",
        "actor",
        "actor_type",
        "user_id",
        "agent_id",
        "resource",
        "source_ip",
        "source_node",
        "clearance_level",
        "details",
        "agent_signature",
    }
    assert (d["user_id"], d["agent_id"], d["success"]) == ("alice", None, True)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"user_id": "alice"}, ["alice:login", "alice:read"]),
        ({"agent_id": "A-1"}, ["A-1:data_access"]),
        ({"actor": ["bob", "carol"]}, ["bob:login", "carol:config_change"]),
        ({"actor": {"not_in": ["alice", "bob"]}}, ["carol:config_change", "A-1:data_access"]),
        (
            {"event_type": {"ne": "authentication"}},
            ["alice:read", "carol:config_change", "A-1:data_access"],
        ),
        ({"success": False}, ["bob:login"]),
        ({"resource": {"contains": "doc"}}, ["alice:read"]),
        ({"resource": {"exists": True}}, ["alice:read", "carol:config_change"]),
        ({"resource_id": "mfa.required"}, ["carol:config_change"]),
        ({"ip_address": "10.0.0.1"}, ["alice:login"]),
        ({"details.ip_address": "10.0.0.1"}, ["alice:login"]),
        ({"details.geo.cc": "DE"}, ["bob:login"]),
        ({"details.geo.cc": ["DE", "FR"]}, ["bob:login", "alice:read"]),
        ({"details.n": {"gte": 2}}, ["bob:login", "A-1:data_access"]),
        ({"details.n": {"gt": 1, "lt": 3}}, ["bob:login"]),
        ({"details.n": 2}, ["bob:login"]),
        ({"details.n": "2"}, []),  # equality is typed: the string "2" is not the number 2
        ({"details.size": {"lte": 10.5}}, ["alice:read"]),
        ({"details.mfa": True}, ["alice:login"]),
        ({"details.new_value": False}, []),
        ({"details.old_value": False}, ["carol:config_change"]),
        (
            {"details.mfa": {"exists": False}},
            ["bob:login", "alice:read", "carol:config_change", "A-1:data_access"],
        ),
        (
            {"details.none": None},
            ["alice:login", "bob:login", "alice:read", "carol:config_change", "A-1:data_access"],
        ),
        ({"details.reason": {"contains": "pass"}}, ["bob:login"]),
        (
            {"details.reason": {"ne": "bad password"}},
            ["alice:login", "alice:read", "carol:config_change", "A-1:data_access"],
        ),
        ({"details.geo.cc": {"gt": "E"}}, ["alice:read"]),
        ({"clearance": {"gte": 1}, "seq": {"lt": 2}}, ["alice:login", "bob:login"]),
        ({"text": "quarterly"}, ["carol:config_change"]),
        ({"text": "bad password"}, ["bob:login"]),
        ({"text": "password quarterly"}, []),
        ({"q": "doc"}, ["alice:read"]),  # "doc-1" holds the words "doc" and "1"
        ({"q": "do"}, []),  # whole words, not prefixes
        ({"q": "doc 1"}, ["alice:read"]),
    ],
)
def test_search_operators(
    store: AuditStore, clock: FakeClock, criteria: dict[str, object], expected: list[str]
) -> None:
    _seed(store, clock)
    assert _search(store, criteria) == expected


def test_time_range_and_sort(store: AuditStore, clock: FakeClock) -> None:
    _seed(store, clock)  # events at 00:00, 00:01, 00:02, 00:03, 00:04 on 2026-01-01
    assert _search(store, start="2026-01-01T00:01:00Z", end="2026-01-01T00:02:00+00:00") == [
        "bob:login",
        "alice:read",
    ]
    assert _search(
        store, start=datetime(2026, 1, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    ) == ["bob:login", "alice:read", "carol:config_change", "A-1:data_access"]
    assert len(_search(store, start="2026-01-01", end="2026-01-01")) == 5  # the whole day
    assert _search(store, start="2026-01-02") == []
    assert _search(store, end="2025-12-31") == []
    assert _search(store, {"ts": {"gt": "2026-01-01T00:03:00Z"}}) == ["A-1:data_access"]
    assert _search(store, sort="-ts")[0] == "A-1:data_access"
    assert _search(store, sort="actor") == [
        "A-1:data_access",
        "alice:login",
        "alice:read",
        "bob:login",
        "carol:config_change",
    ]
    assert _search(store, sort="actor desc")[0] == "carol:config_change"


@pytest.mark.parametrize(
    "sort", [None, "-seq", "actor", "-actor", "ts", "-clearance", "event_type"]
)
def test_cursor_paging_walks_every_event_once(store: AuditStore, sort: str | None) -> None:
    store.append([_ev(f"user{i % 7}", clearance=1 + i % 3) for i in range(53)])
    query = EventQuery.build({"event_type": "authentication"}, sort=sort)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = store.search(query, TOP, limit=10, cursor=cursor)
        seen.extend(e.seq for e in page.events)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == list(range(53))
    assert pages == 6
    everything = [e.seq for e in store.search(query, TOP, limit=100).events]
    assert seen == everything[: len(seen)]


def test_count_and_iter_events(store: AuditStore, clock: FakeClock) -> None:
    _seed(store, clock)
    query = EventQuery.build({"user_id": "alice"})
    assert store.count(query, TOP) == 2
    assert [e.event.action for e in store.iter_events(query, TOP, batch_size=1)] == [
        "login",
        "read",
    ]


def test_batch_is_atomic_and_event_ids_unique(store: AuditStore) -> None:
    first = _ev("alice")
    store.append([first])
    with pytest.raises(ConfigError, match="event_id"):
        store.append(
            [_ev("bob"), AuditEvent("authentication", "login", "eve", event_id=first.event_id)]
        )
    assert store.count(EventQuery.build({"actor": ["bob", "eve"]}), TOP) == 0
    assert store.verify_integrity().verified


HOSTILE = [
    "'; DROP TABLE entries; --",
    'a" OR "1"="1',
    "100% _wild_ \\ card",
    "nul\x00byte",
    "emoji 🔐 and ünïcödé",
    "$.details[0] ? @> #>> ::jsonb",
    "\u202eright-to-left",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_stored_and_returned_exactly(store: AuditStore, text: str) -> None:
    ev = AuditEvent(
        "data_access", text, text, resource=text, details={text: text, "list": [text], "k": text}
    )
    store.append([ev])
    for criteria in ({"actor": text}, {"resource": text}, {"action": [text]}, {"details.k": text}):
        events = store.search(EventQuery.build(criteria), TOP).events
        assert [e.event for e in events] == [ev], criteria
    assert store.search(EventQuery.build({"resource": {"contains": text[2:6]}}), TOP).events
    assert store.verify_integrity().verified


def test_large_details_within_the_limit(store: AuditStore) -> None:
    big = {"blob": "x" * 60_000, "deep": {"a": {"b": {"c": [[[["bottom"]]]]}}}}
    store.append([_ev(details=big)])
    (got,) = store.search(EventQuery.build({"details.blob": {"exists": True}}), TOP).events
    assert got.event.details == big


def test_bad_input_is_a_clear_config_error(store: AuditStore) -> None:
    with pytest.raises(ConfigError, match="unknown search field 'colour'"):
        EventQuery.build({"colour": "red"})
    with pytest.raises(ConfigError, match="start_date 'yesterday'"):
        EventQuery.build(start="yesterday")
    with pytest.raises(ConfigError, match="limit"):
        store.search(EventQuery.build(), TOP, limit=0)
    with pytest.raises(ConfigError, match="expected AuditEvent"):
        store.append(["not an event"])  # type: ignore[list-item]


def test_derived_columns_do_not_depend_on_key_order(store: AuditStore) -> None:
    details = {"z": "last words", "a": {"y": "inner", "b": "first"}, "m": ["mid", {"q": "x"}]}
    store.append([_ev(details=details)])
    assert store.verify_integrity().verified
    assert len(store.search(EventQuery.build({"text": "inner first"}), TOP).events) == 1


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("document", True),  # a part of resource document_456: "_" separates words
        ("DOCUMENT_456", True),  # case and "_" as the index saw them
        ("cafe", True),  # diacritics are folded: Café
        ("CAFÉ crème", True),
        ("creme brulee", False),  # every word must be there
        ("x" * 600, False),  # a word too long to be a lexeme matches nothing...
        ("x" * 600 + " crème", True),  # ...and is left out of the search
    ],
)
def test_text_search_words_are_the_same_on_every_backend(
    store: AuditStore, text: str, found: bool
) -> None:
    ev = _ev(resource="document_456", details={"note": "Café crème", "blob": "x" * 600})
    store.append([ev, _ev(details={"note": "unrelated"})])
    events = store.search(EventQuery.build({"text": text}), TOP).events
    assert [e.event for e in events] == ([ev] if found else [])
