"""Custody of each reconstruction, and the outputs: JSON, CSV, Timesketch JSONL, HTML."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from forensics_helpers import two_nodes

from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.forensics._common import canonical_json
from logging_audit.forensics.custody import CUSTODY_ACTION, custody_records
from logging_audit.forensics.outputs import CSV_COLUMNS, write_timeline
from logging_audit.forensics.timeline import Timeline, TimelineAnalyzer
from logging_audit.persistence.models import ClearanceLevel


@pytest.fixture
def timeline(service: AuditService, clock: FakeClock, tmp_path: Path) -> Timeline:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    service.store.checkpoint()
    service.record_event("A-12345", "late", {}, 2)  # not yet covered by a checkpoint
    return TimelineAnalyzer(service, log_streams=[scenario.log], analyst="carol").reconstruct(
        incident_id="INC-20251015-001", related_agents=["A-12345"]
    )


def test_custody_record_holds_who_parameters_and_digest(
    timeline: Timeline, service: AuditService
) -> None:
    custody = timeline.custody
    assert custody is not None
    assert custody.analyst == "carol"
    assert custody.operation == "timeline_reconstruction"
    assert custody.subject == "INC-20251015-001"
    assert custody.parameters["related"] == ["A-12345"]
    assert custody.parameters["log_streams"]
    assert custody.result_sha256 == timeline.digest()
    # the digest is over the JSON document without its custody member
    doc = json.loads(timeline.to_json())
    assert doc["custody"]["result_sha256"] == custody.result_sha256
    del doc["custody"]
    assert hashlib.sha256(canonical_json(doc)).hexdigest() == custody.result_sha256
    # and it is in the ledger, as an administrative event at the analyst's clearance
    recorded = custody_records(
        service.store, Requestor("auditor", ClearanceLevel.LEVEL_5), "INC-20251015-001"
    )
    assert [r.event_id for r in recorded] == [custody.event_id]
    assert recorded[0].matches(timeline.digest())
    low = custody_records(service.store, Requestor("x", ClearanceLevel.LEVEL_4))
    assert low == []


def test_each_reconstruction_gets_its_own_custody(service: AuditService) -> None:
    service.record_event("A-1", "ping", {}, 1)
    analyzer = TimelineAnalyzer(service)
    first = analyzer.reconstruct()
    second = analyzer.reconstruct()
    assert first.custody is not None
    assert second.custody is not None
    assert first.custody.event_id != second.custody.event_id
    assert CUSTODY_ACTION == "forensic_custody"


def test_written_file_gets_a_custody_record_with_its_sha256(
    timeline: Timeline, service: AuditService, tmp_path: Path
) -> None:
    out = write_timeline(timeline, tmp_path / "out" / "t.jsonl", "timesketch", store=service.store)
    data = out.path.read_bytes()
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert out.size == len(data)
    assert out.custody is not None
    assert out.custody.result_sha256 == out.sha256
    assert out.custody.parameters["timeline_sha256"] == timeline.digest()
    assert out.custody.parameters["reconstruction_event_id"] == timeline.custody.event_id  # type: ignore[union-attr]


def test_timesketch_lines_have_the_required_fields(timeline: Timeline) -> None:
    lines = timeline.to_timesketch().splitlines()
    assert len(lines) == len(timeline.events) + sum(1 for g in timeline.gaps if g.start)
    events = []
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj["message"], str)
        assert obj["message"]
        assert datetime.fromisoformat(obj["datetime"]).utcoffset() is not None
        assert obj["timestamp_desc"] in {"Event Recorded", "Log Record Written", "Gap start"}
        assert isinstance(obj["timestamp"], int)
        if obj["timestamp_desc"] != "Gap start":
            events.append(obj)
    assert [e["event_id"] for e in events] == [e.event_id for e in timeline.events]
    states = {e["integrity_state"] for e in events}
    assert {"verified", "not_covered"} <= states
    assert all(e["incident_id"] == "INC-20251015-001" for e in events)


def test_csv_has_one_row_per_entry_and_gap(timeline: Timeline) -> None:
    rows = list(csv.DictReader(io.StringIO(timeline.to_csv())))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(timeline.events) + len(timeline.gaps)
    event_rows = [r for r in rows if r["row"] == "event"]
    assert [r["event_id"] for r in event_rows] == [e.event_id for e in timeline.events]
    assert all(r["integrity_state"] for r in event_rows)


def test_csv_defuses_formulas(service: AuditService) -> None:
    service.record_event("A-1", "data_access", {}, 1, resource="=HYPERLINK(1)")
    rows = list(csv.DictReader(io.StringIO(TimelineAnalyzer(service).reconstruct().to_csv())))
    assert any(r["resource"] == "'=HYPERLINK(1)" for r in rows)


def test_html_is_self_contained_and_escaped(service: AuditService, timeline: Timeline) -> None:
    service.record_event("A-12345", "data_access", {}, 2, resource="<script>alert(1)</script>")
    page = TimelineAnalyzer(service).reconstruct(related_agents=["A-12345"]).to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for attr in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page):
        assert attr.startswith("data:"), attr
    assert not re.search(r"https?://", page)
    assert "<link" not in page
    assert "@import" not in page
    assert "default-src 'none'" in page
    assert "data:image/png;base64," in page


def test_to_dict_round_trips_through_json(timeline: Timeline) -> None:
    doc = json.loads(timeline.to_json())
    assert doc["format"] == "logaudit-timeline/1"
    assert len(doc["events"]) == len(timeline.events)
    assert doc["integrity"] == timeline.integrity_counts()
    assert doc["clocks"]["reference"] == "node-a"
    assert {s["kind"] for s in doc["sources"]} == {"audit", "log"}
