"""No read-up through any path (search, count, text, iteration, cursors); reads are recorded."""

from __future__ import annotations

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.errors import AccessDeniedError, ConfigError
from logging_audit.persistence.models import ClearanceLevel as C

SECRET = "TOPSECRETWORD"


@pytest.fixture
def classified(store: AuditStore) -> AuditStore:
    """One event per level 1..5, each mentioning the secret word and its level."""
    store.append(
        [
            AuditEvent(
                "data_access",
                "read",
                "spy",
                resource=f"file-{level}",
                clearance=level,
                details={"level": level, "note": f"{SECRET} level{level}"},
            )
            for level in range(1, 6)
        ]
    )
    return store


def _levels(events: list[object]) -> list[int]:
    return sorted(e.event.clearance for e in events)  # type: ignore[attr-defined]


@pytest.mark.parametrize("level", list(C))
def test_search_count_text_and_iteration_never_read_up(classified: AuditStore, level: C) -> None:
    reader = Requestor("reader", level)
    visible = list(range(1, level + 1))
    for criteria in (
        {"actor": "spy"},
        {"text": SECRET},
        {"text": f"level{5}"},
        {"details.level": {"gte": 1}},
        {"resource": {"contains": "file"}},
        {"clearance": 5},
        {"clearance_level": {"gt": int(level)}},
    ):
        query = EventQuery.build({**criteria, "event_type": "data_access"})
        page = classified.search(query, reader)
        assert all(e.event.clearance <= level for e in page.events), criteria
        counted = classified.count(query, reader)
        iterated = list(classified.iter_events(query, reader))
        assert counted == len(page.events) == len(iterated), criteria
    everything = EventQuery.build({"event_type": "data_access"})
    assert _levels(classified.search(everything, reader).events) == visible
    assert classified.count(everything, reader) == len(visible)


def test_cursors_cannot_be_reused_by_another_clearance_or_query_or_forged(
    classified: AuditStore,
) -> None:
    low, high = Requestor("r", C.LEVEL_2), Requestor("r", C.LEVEL_5)
    query = EventQuery.build({"event_type": "data_access"})
    page = classified.search(query, low, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ConfigError, match="another search"):
        classified.search(query, high, limit=1, cursor=page.next_cursor)  # escalate
    with pytest.raises(ConfigError, match="another search"):
        classified.search(query, Requestor("someone-else", C.LEVEL_2), cursor=page.next_cursor)
    with pytest.raises(ConfigError, match="another search"):
        classified.search(EventQuery.build({}), low, cursor=page.next_cursor)
    body, tag = page.next_cursor.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + tag
    with pytest.raises(ConfigError, match="invalid paging cursor"):
        classified.search(query, low, cursor=forged)
    high_page = classified.search(query, high, limit=1)
    assert high_page.next_cursor is not None
    with pytest.raises(
        ConfigError, match="another search"
    ):  # a LEVEL_5 cursor cannot be replayed low
        classified.search(query, low, cursor=high_page.next_cursor)
    walked = []
    cursor = None
    while True:
        p = classified.search(query, low, limit=1, cursor=cursor)
        walked.extend(p.events)
        if (cursor := p.next_cursor) is None:
            break
    assert _levels(walked) == [1, 2]


def test_raw_stream_needs_level_5(classified: AuditStore) -> None:
    with pytest.raises(AccessDeniedError):
        classified.iter_lines(Requestor("r", C.LEVEL_4))
    lines = list(classified.iter_lines(Requestor("r", C.LEVEL_5)))
    assert [seq for seq, _ in lines] == list(range(len(lines)))


def test_every_read_is_recorded_at_the_readers_level(classified: AuditStore) -> None:
    reader = Requestor("analyst-7", C.LEVEL_3)
    query = EventQuery.build({"actor": "spy"})
    classified.search(query, reader)
    classified.count(query, reader)
    list(classified.iter_events(query, reader, purpose="export"))
    top = Requestor("admin", C.LEVEL_5)
    reads = classified.search(EventQuery.build({"event_type": "query", "actor": "analyst-7"}), top)
    assert [e.event.action for e in reads.events] == ["search", "count", "export"]
    for e in reads.events:
        assert e.event.clearance == C.LEVEL_3
        assert e.event.details["criteria"]["conditions"] == [["actor", "eq", "spy"]]
        assert e.event.details["result_count"] == 3
    low = Requestor("low", C.LEVEL_2)  # a lower reader does not see what analyst-7 looked for
    assert classified.search(EventQuery.build({"actor": "analyst-7"}), low).events == []


def test_tampered_clearance_column_still_does_not_read_up(
    classified: AuditStore, raw_sql: object
) -> None:
    raw_sql("UPDATE entries SET clearance = 1 WHERE clearance = 5")  # type: ignore[operator]
    reader = Requestor("r", C.LEVEL_1)
    page = classified.search(EventQuery.build({"actor": "spy"}), reader)
    assert _levels(page.events) == [1]  # the bytes say 5: filtered after decoding
    assert not classified.verify_integrity().verified


def test_no_api_changes_or_deletes_events(store: AuditStore) -> None:
    public = {n for n in dir(store) if not n.startswith("_")}
    assert not {n for n in public if any(w in n for w in ("update", "delete", "edit", "modify"))}
