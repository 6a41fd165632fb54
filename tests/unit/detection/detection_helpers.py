"""Helpers for the detection tests: events by hand, small baselines."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from logging_audit.detection.baseline import Baseline, BaselineBuilder
from logging_audit.detection.model import Obs

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()  # a Monday, 00:00 UTC
_ids = itertools.count()

MakeObs = Callable[..., Obs]


def make_obs(ts: float, actor: str = "alice", **fields: Any) -> Obs:
    """An event at ``ts`` (seconds) with defaults for everything else."""
    n = next(_ids)
    fields.setdefault("event_type", "data_access")
    fields.setdefault("action", "read")
    return Obs(ts=ts, event_id=f"e{n}", actor=actor, seq=n, **fields)


def office_worker_history(
    actor: str = "alice", days: int = 21, *, start_hour: int = 9, per_day: int = 12
) -> list[Obs]:
    """Weekdays 09:00-17:00 UTC of reads in ``eng/docs`` from one network and browser."""
    out = []
    for d in range(days):
        if d % 7 >= 5:
            continue
        for k in range(per_day):
            ts = T0 + d * 86400 + start_hour * 3600 + k * (8 * 3600 / per_day)
            out.append(
                make_obs(
                    ts,
                    actor,
                    resource=f"eng/docs/doc-{k}",
                    source_ip="198.51.100.7",
                    clearance=2,
                    details={
                        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
                        "bytes": 1000,
                    },
                )
            )
    return out


def baseline_of(events: list[Obs], days: float = 21) -> Baseline:
    """A baseline learned from ``events`` over ``days`` from T0."""
    builder = BaselineBuilder(T0, T0 + days * 86400, days)
    builder.add_all(sorted(events, key=lambda e: e.ts))
    return builder.build(origin="test", learned_at="")
