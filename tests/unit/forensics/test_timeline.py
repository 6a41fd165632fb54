"""Timelines: one order across nodes that keeps each stream's order, skew handled, gaps marked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from forensics_helpers import SKEW_B, T0, two_nodes, write_log

from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.errors import ConfigError
from logging_audit.forensics.timeline import Timeline, TimelineAnalyzer


def _ids(timeline: Timeline) -> list[str]:
    return [e.event_id for e in timeline.events]


def _expected_order(scenario: object, log: Path, n: int = 4) -> list[str]:
    origin = "logaudit/node-b/app"
    out = []
    for i in range(n):
        out += [scenario.requests[i], f"{origin}#{i}", scenario.replies[i]]  # type: ignore[attr-defined]
    return out


def test_skew_is_estimated_from_causal_links_both_ways(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    timeline = TimelineAnalyzer(service, log_streams=[scenario.log]).reconstruct(
        start_time=T0 - timedelta(hours=1), end_time=T0 + timedelta(hours=1)
    )
    clocks = timeline.clocks
    assert clocks.reference == "node-a"
    node_b = clocks.clocks["node-b"]
    assert node_b.method == "estimated"
    assert node_b.offset_seconds == pytest.approx(SKEW_B, abs=1e-3)
    assert node_b.links == 8
    assert clocks.violations_before == 4  # replies appear before node-b handled them
    assert clocks.violations_after == 0
    assert _ids(timeline) == _expected_order(scenario, scenario.log)
    handled = [e for e in timeline.events if e.node == "node-b"]
    assert handled[0].time == "2025-10-15T10:00:00.500000Z"
    assert handled[0].recorded_time == "2025-10-15T10:02:00.500000Z"
    assert handled[0].clock_offset_seconds == pytest.approx(SKEW_B, abs=1e-3)
    assert [e.position for e in timeline.events] == list(range(len(timeline.events)))


def test_given_offset_wins_and_without_correction_causality_breaks(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    given = TimelineAnalyzer(
        service, log_streams=[scenario.log], clock_offsets={"node-b": SKEW_B}
    ).reconstruct()
    assert given.clocks.clocks["node-b"].method == "given"
    assert _ids(given) == _expected_order(scenario, scenario.log)

    raw = TimelineAnalyzer(service, log_streams=[scenario.log], estimate_skew=False).reconstruct()
    assert raw.clocks.clocks["node-b"].method == "not_estimated"
    assert raw.clocks.violations_after == 4
    assert _ids(raw) != _expected_order(scenario, scenario.log)
    # every stream still in its own order
    b = [e.seq for e in raw.events if e.node == "node-b"]
    assert b == sorted(b)


def test_one_way_links_get_the_smallest_correction(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    """node-c runs 300 s slow and only receives: its records must not precede their causes."""
    clock.now = T0
    cause = service.record_event("A-12345", "send", {"span_id": "x1"}, 2)
    log = write_log(
        tmp_path / "logs-c",
        "node-c",
        [(T0 - timedelta(seconds=300) + timedelta(seconds=2), "got x1", {"parent_span_id": "x1"})],
    )
    timeline = TimelineAnalyzer(service, log_streams=[log]).reconstruct()
    c = timeline.clocks.clocks["node-c"]
    assert c.method == "estimated"
    assert "smallest correction" in c.note
    assert c.offset_seconds == pytest.approx(-298.0, abs=1e-3)
    assert _ids(timeline) == [cause, "logaudit/node-c/app#0"]


def test_each_stream_keeps_its_order_when_its_clock_steps_back(
    service: AuditService, tmp_path: Path
) -> None:
    times = [T0, T0 + timedelta(seconds=10), T0 - timedelta(seconds=5), T0 + timedelta(seconds=20)]
    log = write_log(
        tmp_path / "logs-c", "node-c", [(t, f"step {i}", {}) for i, t in enumerate(times)]
    )
    service.record_event("A-1", "ping", {}, 1)  # at T0 on node-a
    timeline = TimelineAnalyzer(service, log_streams=[log]).reconstruct()
    c = [e for e in timeline.events if e.node == "node-c"]
    assert [e.seq for e in c] == [0, 1, 2, 3]
    assert not c[1].notes
    assert c[2].notes
    assert "time goes back 15.000000 s" in c[2].notes[0]
    assert [e.position for e in c] == sorted(e.position for e in c)


def test_silences_and_missing_seqs_are_marked(service: AuditService, tmp_path: Path) -> None:
    times = [
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(hours=3),
        T0 + timedelta(hours=3, minutes=1),
    ]
    log = write_log(tmp_path / "logs-c", "node-c", [(t, f"r{i}", {}) for i, t in enumerate(times)])
    segment = next((log / "segments").iterdir())
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(b"".join(lines[:1] + lines[2:]))  # seq 1 deleted
    timeline = TimelineAnalyzer(service, log_streams=[log], gap_threshold=3600).reconstruct()
    kinds = {(g.kind, g.first_seq, g.last_seq) for g in timeline.gaps}
    assert ("missing", 1, 1) in kinds
    missing = next(g for g in timeline.gaps if g.kind == "missing")
    assert missing.start == "2025-10-15T10:00:00.000000Z"
    assert missing.end == "2025-10-15T13:00:00.000000Z"
    silence = [g for g in timeline.gaps if g.kind == "silence"]
    assert len(silence) == 1
    assert silence[0].start == "2025-10-15T10:00:00.000000Z"
    assert "3h00m00s" in silence[0].reason
    rows = list(timeline.rows())
    assert (
        rows.index(missing)
        < [r.event_id for r in timeline.events].index("logaudit/node-c/app#2") + 3
    )
    # the records after the deletion cannot be proven any more
    after = next(e for e in timeline.events if e.event_id == "logaudit/node-c/app#2")
    assert not after.integrity.verified


def test_related_agents_filter_audit_events_and_log_records(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    other = service.record_event("A-99999", "data_access", {}, 2, resource="doc-x")
    about = service.register_agent("A-12345", 2).agent_id  # an admin event about the agent
    timeline = TimelineAnalyzer(service, log_streams=[scenario.log]).reconstruct(
        related_agents=["A-12345"]
    )
    ids = _ids(timeline)
    assert other not in ids
    assert any(e.action == "agent_register" and e.resource == about for e in timeline.events)
    assert sum(1 for e in timeline.events if e.source_kind == "log") == 4
    assert timeline.parameters["log_scope"] == "related"


def test_window_uses_corrected_times_and_rejects_reversed_bounds(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    # node-b records its first handling at 10:02:00.5 by its own clock, 10:00:00.5 in truth
    narrow = TimelineAnalyzer(
        service, log_streams=[scenario.log], clock_offsets={"node-b": SKEW_B}
    ).reconstruct(start_time=T0, end_time=T0 + timedelta(seconds=0.9))
    assert _ids(narrow) == [scenario.requests[0], "logaudit/node-b/app#0"]
    with pytest.raises(ConfigError, match="before start_time"):
        TimelineAnalyzer(service).reconstruct(start_time="2025-10-16", end_time="2025-10-15")


def test_node_filter(service: AuditService, clock: FakeClock, tmp_path: Path) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    only_b = TimelineAnalyzer(service, log_streams=[scenario.log]).reconstruct(nodes=["node-b"])
    assert {e.node for e in only_b.events} == {"node-b"}
    assert len(only_b.events) == 4


def test_three_streams_two_log_nodes_with_opposite_skews(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    """node-b runs 120 s fast, node-c 30 s slow; both answer node-a's requests."""
    b_records, c_records = [], []
    for i in range(3):
        clock.now = T0 + timedelta(minutes=i)
        service.record_event("A-12345", "ask", {"span_id": f"q{i}"}, 2)
        b_records.append(
            (
                clock.now + timedelta(seconds=0.2 + 120),
                f"b{i}",
                {"parent_span_id": f"q{i}", "span_id": f"rb{i}"},
            )
        )
        c_records.append(
            (
                clock.now + timedelta(seconds=0.4 - 30),
                f"c{i}",
                {"parent_span_id": f"rb{i}", "span_id": f"rc{i}"},
            )
        )
        clock.now = T0 + timedelta(minutes=i, seconds=0.6)
        service.record_event("A-12345", "done", {"caused_by": f"rc{i}"}, 2)
        b_records.append(
            (clock.now + timedelta(seconds=0.2 + 120), f"b-ack{i}", {"parent_span_id": f"rc{i}"})
        )
    b = write_log(tmp_path / "logs-b", "node-b", sorted(b_records, key=lambda r: r[0]))
    c = write_log(tmp_path / "logs-c", "node-c", c_records)
    timeline = TimelineAnalyzer(service, log_streams=[b, c]).reconstruct(log_scope="all")
    offsets = {n: c.offset_seconds for n, c in timeline.clocks.clocks.items()}
    assert offsets["node-a"] == 0
    assert offsets["node-b"] == pytest.approx(120.0, abs=0.25)
    assert offsets["node-c"] == pytest.approx(-30.0, abs=0.25)
    assert timeline.clocks.violations_before > 0
    assert timeline.clocks.violations_after == 0
    # causal order holds everywhere after correction
    position = {e.event_id: e.position for e in timeline.events}
    for link in timeline.clocks.links:
        assert position[link.cause] < position[link.effect]
    for node in ("node-b", "node-c"):
        seqs = [e.seq for e in timeline.events if e.node == node]
        assert seqs == sorted(seqs)
