"""Time-window searches read only the seqs the window can hold, and never miss an event."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.audit.time_order import load_time_order, seq_window
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


def _record(store: AuditStore, clock: FakeClock, steps: list[float]) -> list[tuple[Any, int]]:
    """Append one event per step (the clock moves by the step first); return (time, seq)."""
    out = []
    for i, step in enumerate(steps):
        clock.advance(step)
        (stored,) = store.append([AuditEvent("data_access", "read", f"user{i % 3}")])
        out.append((clock(), stored.seq))
    return out


def _window_state(store: AuditStore, start: Any, end: Any) -> Any:
    q = EventQuery.build({}, start=start, end=end)
    with store.driver.read() as tx:
        return load_time_order(tx), seq_window(tx, q.start_us, q.end_us)


@pytest.mark.parametrize("backwards", [False, True], ids=["ordered", "clock-stepped-back"])
def test_time_window_results_equal_a_full_scan(
    store: AuditStore, clock: FakeClock, backwards: bool
) -> None:
    rnd = random.Random(5)
    steps = [rnd.choice((0.0, 1.0, 30.0, 3600.0)) for _ in range(60)]
    if backwards:
        steps[35] = -7200.0  # a clock that stepped back: times no longer rise with seq
    recorded = _record(store, clock, steps)
    times = sorted({t for t, _ in recorded})
    for _ in range(40):
        a, b = sorted(rnd.sample(times, 2))
        b += timedelta(seconds=rnd.choice((0, 1)))
        expected = [seq for t, seq in recorded if a <= t <= b]  # an end instant is included
        only = {"event_type": "data_access"}  # not the searches themselves (recorded too)
        q = EventQuery.build(only, start=a.isoformat(), end=b.isoformat())
        got = [e.seq for e in store.search(q, TOP, limit=1000).events]
        assert got == expected
        assert store.count(q, TOP) == len(expected)
        assert [e.seq for e in store.iter_events(q, TOP)] == expected
        desc = EventQuery.build(only, start=a.isoformat(), end=b.isoformat(), sort="-seq")
        assert [e.seq for e in store.search(desc, TOP, limit=1000).events] == expected[::-1]
    order, _ = _window_state(store, times[0], times[-1])
    assert order is not None
    assert order[0] is (not backwards)


def test_the_window_is_the_seqs_of_its_entries(store: AuditStore, clock: FakeClock) -> None:
    recorded = _record(store, clock, [60.0] * 10)
    (t3, s3), (t7, s7) = recorded[3], recorded[7]
    order, window = _window_state(store, t3, t7 - timedelta(microseconds=1))
    assert order is not None
    assert order[0]
    assert window == (s3, s7 - 1)
    # no entry at or after the end yet: later entries may still fall inside, so no upper bound
    _, open_ended = _window_state(store, t3, t7 + timedelta(days=1))
    assert open_ended == (s3, None)
    # a window after every entry holds none of them
    _, empty = _window_state(store, t7 + timedelta(days=1), None)
    assert empty is not None
    assert empty[0] > recorded[-1][1]


def test_a_clock_stepping_back_turns_the_bounds_off(store: AuditStore, clock: FakeClock) -> None:
    recorded = _record(store, clock, [60.0, 60.0, -3600.0, 60.0])
    order, window = _window_state(store, recorded[0][0], recorded[1][0])
    assert order is not None
    assert order[0] is False
    assert window is None


def test_a_forged_order_row_is_named(store: AuditStore, clock: FakeClock, raw_sql: Any) -> None:
    _record(store, clock, [60.0, 60.0, -3600.0, 60.0])
    assert store.verify_integrity().verified
    raw_sql("UPDATE entry_times SET ordered = 1 WHERE id = 1")
    columns = {f.column for f in store.verify_integrity().index_failures}
    assert "entry_times.ordered" in columns


def test_a_changed_latest_time_is_named(store: AuditStore, clock: FakeClock, raw_sql: Any) -> None:
    _record(store, clock, [60.0, 60.0])
    raw_sql("UPDATE entry_times SET latest_us = latest_us - 1 WHERE id = 1")
    columns = {f.column for f in store.verify_integrity().index_failures}
    assert columns == {"entry_times.latest_us"}


def test_windows_after_a_prune_equal_a_full_scan(store: AuditStore, clock: FakeClock) -> None:
    recorded = _record(store, clock, [3600.0] * 12)
    store.prune(recorded[5][0])  # the head goes; the ledger records a prune entry
    kept = [(t, s) for t, s in recorded if t >= recorded[5][0]]
    only = {"event_type": "data_access"}
    for a, b in ((recorded[0][0], recorded[7][0]), (recorded[6][0], recorded[9][0])):
        q = EventQuery.build(only, start=a.isoformat(), end=b.isoformat())
        expected = [s for t, s in kept if a <= t <= b]
        assert [e.seq for e in store.search(q, TOP, limit=100).events] == expected
        assert store.count(q, TOP) == len(expected)
    assert store.verify_integrity().verified
