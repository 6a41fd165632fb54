"""No read-up through exports: events above the reader's clearance leave no trace, nor a count."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from audit_export_helpers import AUDITOR, READER3, SECRET_WORD, populate

from logging_audit.audit.export import ExportFormat, export_events, read_csv_events
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.persistence.models import ClearanceLevel

LAYOUTS = [(f.value, False) for f in ExportFormat] + [("json", True), ("jsonl", True)]


def _hidden(stored: list[StoredEvent], clearance: int) -> list[StoredEvent]:
    return [e for e in stored if e.event.clearance > clearance]


@pytest.mark.parametrize(("fmt", "bundle"), LAYOUTS)
def test_events_above_clearance_are_never_written(
    store: AuditStore, tmp_path: Path, fmt: str, bundle: bool
) -> None:
    stored = populate(store)
    hidden = _hidden(stored, 3)
    assert len(hidden) == 2
    out = tmp_path / f"out.{fmt}"
    result = export_events(store, EventQuery.build({}), READER3, out, format=fmt, bundle=bundle)
    data = out.read_bytes()
    assert SECRET_WORD.encode() not in data
    for e in hidden:
        assert e.event.event_id.encode() not in data
        assert e.line not in data
    visible = [e for e in stored if e.event.clearance <= 3]
    # the count covers what the reader may see (its own query events included), nothing above
    assert result.count >= len(visible)
    assert all(e.event.event_id.encode() in data for e in visible)


def test_counts_and_custody_say_nothing_about_hidden_events(
    store: AuditStore, tmp_path: Path
) -> None:
    populate(store)
    only_secret = EventQuery.build({"details.word": SECRET_WORD})
    result = export_events(store, only_secret, READER3, tmp_path / "x.json")
    assert result.count == 0
    assert orjson.loads((tmp_path / "x.json").read_bytes()) == []
    custody = store.search(EventQuery.build({"action": "export_custody"}), AUDITOR).events[-1].event
    assert custody.details["result_count"] == 0
    assert custody.clearance == ClearanceLevel.LEVEL_3  # classified at the reader's level
    # a LEVEL_5 export of the same query sees both
    assert export_events(store, only_secret, AUDITOR, io.BytesIO()).count == 2


def test_text_search_does_not_read_up(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    # (the reader's own query records carry the search text, so leave them out)
    q = EventQuery.build({"event_type": {"ne": "query"}}, text=SECRET_WORD)
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"t.{fmt}"
        assert export_events(store, q, READER3, out, format=fmt).count == 0
    assert list(read_csv_events(tmp_path / "t.csv")) == []
    assert export_events(store, q, AUDITOR, io.BytesIO(), format="jsonl").count == 2


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_each_level_sees_exactly_its_share(store: AuditStore, tmp_path: Path, level: int) -> None:
    stored = populate(store)
    reader = Requestor(f"reader{level}", ClearanceLevel(level))
    q = EventQuery.build({"event_type": {"ne": "query"}})
    out = tmp_path / "out.jsonl"
    export_events(store, q, reader, out, format="jsonl")
    got = [orjson.loads(x)["event_id"] for x in out.read_bytes().splitlines()]
    assert got == [e.event.event_id for e in stored if e.event.clearance <= level]


def test_custody_records_of_a_higher_reader_are_hidden_from_lower_ones(
    store: AuditStore, tmp_path: Path
) -> None:
    populate(store)
    export_events(store, EventQuery.build({}), AUDITOR, tmp_path / "a.json")
    low = Requestor("low", ClearanceLevel.LEVEL_1)
    q = EventQuery.build({"event_type": "query"})
    seen = store.search(q, low, limit=1000).events
    assert all(e.event.actor != "auditor" for e in seen)
