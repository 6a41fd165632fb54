"""Per-agent behavioural baselines: what an actor usually does, from its audit events.

A baseline covers one actor (agent or user: the event's ``actor``) over a
period of whole UTC days and holds, over all its events:

- ``hour_of_week``: events per hour of the week (168 slots, Monday 00:00 UTC first);
- ``resources``, ``actions`` (``event_type/action``), ``source_ips``: counts per value;
- ``query_shapes``: for the actor's own searches of the audit data (``query``
  events), the shape of the criteria — which fields and operators, never the
  values (e.g. ``"actor eq, ts gte"``);
- ``daily``: events per day of the period.

:func:`features` says which values of each feature one event has;
:mod:`~logging_audit.forensics.pattern_analyzer` scores deviations against it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logging_audit.audit.records import StoredEvent
from logging_audit.forensics._common import format_us, ts_us, us_to_datetime

__all__ = [
    "FEATURES",
    "WEEKDAYS",
    "AgentBaseline",
    "Observation",
    "build_baseline",
    "features",
    "hour_of_week_label",
    "observe",
    "query_shape",
]

FEATURES = ("hour_of_week", "resource", "action", "source_ip", "query_shape")
"""The categorical features of an event."""

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_US = 86_400_000_000


def hour_of_week_label(slot: int) -> str:
    """``"Sun 03:00-04:00 UTC"`` for a slot 0..167."""
    day, hour = divmod(slot, 24)
    return f"{WEEKDAYS[day]} {hour:02d}:00-{(hour + 1) % 24:02d}:00 UTC"


def query_shape(details: Mapping[str, Any]) -> str | None:
    """The shape of a recorded query's criteria: its fields and operators, not its values."""
    criteria = details.get("criteria")
    if not isinstance(criteria, Mapping):
        return None
    parts = set()
    conditions = criteria.get("conditions")
    if isinstance(conditions, list):
        for cond in conditions:
            if isinstance(cond, list) and len(cond) >= 2:
                parts.add(f"{cond[0]} {cond[1]}")
    if criteria.get("text"):
        parts.add("text")
    if criteria.get("start"):
        parts.add("ts gte")
    if criteria.get("end_before"):
        parts.add("ts lt")
    return ", ".join(sorted(parts)) or "(everything)"


@dataclass(frozen=True)
class Observation:
    """One event reduced to what baselines use."""

    event_id: str
    time_us: int
    day: int
    """Day index within the period (0 = first day)."""
    values: Mapping[str, str]
    """Feature name -> value (absent when the event has none)."""


def features(stored: StoredEvent) -> dict[str, str]:
    """The feature values of one event."""
    e = stored.event
    when = us_to_datetime(ts_us(stored.ts))
    out = {
        "hour_of_week": str(when.weekday() * 24 + when.hour),
        "action": f"{e.event_type}/{e.action}",
    }
    if e.resource:
        out["resource"] = e.resource
    if e.source_ip:
        out["source_ip"] = e.source_ip
    if e.event_type == "query":
        shape = query_shape(e.details)
        if shape is not None:
            out["query_shape"] = shape
    return out


def observe(stored: StoredEvent, period_start_us: int) -> Observation:
    """An observation of ``stored`` within a period starting at ``period_start_us``."""
    t = ts_us(stored.ts)
    return Observation(stored.event.event_id, t, (t - period_start_us) // _DAY_US, features(stored))


@dataclass
class AgentBaseline:
    """An actor's behaviour over a period (see the module docstring)."""

    agent_id: str
    start_us: int
    days: int
    events: int = 0
    daily: list[int] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        """First instant of the period."""
        return us_to_datetime(self.start_us)

    @property
    def end(self) -> datetime:
        """End of the period (exclusive)."""
        return self.start + timedelta(days=self.days)

    @property
    def hour_of_week(self) -> list[int]:
        """Events per hour of the week (168 slots, Monday 00:00 UTC first)."""
        c = self.counts.get("hour_of_week", Counter())
        return [c.get(str(i), 0) for i in range(168)]

    def top(self, feature: str, n: int = 5) -> list[tuple[str, int]]:
        """The ``n`` most frequent values of a feature."""
        return self.counts.get(feature, Counter()).most_common(n)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (top values per feature, not every value)."""
        busiest = max(range(168), key=lambda i: self.hour_of_week[i]) if self.events else None
        return {
            "agent_id": self.agent_id,
            "start": format_us(self.start_us),
            "days": self.days,
            "events": self.events,
            "daily": list(self.daily),
            "busiest_hour_of_week": None if busiest is None else hour_of_week_label(busiest),
            "resources": dict(self.top("resource", 10)),
            "actions": dict(self.top("action", 10)),
            "source_ips": dict(self.top("source_ip", 10)),
            "query_shapes": dict(self.top("query_shape", 10)),
            "distinct": {f: len(self.counts.get(f, Counter())) for f in FEATURES},
        }


def build_baseline(
    agent_id: str, start_us: int, days: int, observations: Iterable[Observation]
) -> AgentBaseline:
    """Count the observations of a period into a baseline."""
    base = AgentBaseline(agent_id, start_us, days, daily=[0] * days)
    base.counts = {f: Counter() for f in FEATURES}
    for obs in observations:
        if not 0 <= obs.day < days:
            continue
        base.events += 1
        base.daily[obs.day] += 1
        for name, value in obs.values.items():
            base.counts[name][value] += 1
    return base
