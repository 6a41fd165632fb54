"""Behavioural baselines: what each actor (and the population) did over ``baseline_days``.

A :class:`Baseline` is learned by streaming events through a
:class:`BaselineBuilder` (one pass, memory proportional to actors × active
hours, never to events) and kept as versioned JSON in a models directory (see
:func:`save_baseline` / :func:`load_baseline`). It records what it was learned
from: the stream origin, the time window, the number of entries in the stream
(tree size) and the newest signed checkpoint at that moment, so a baseline can
be tied to exactly the ledger prefix it summarises.

Per actor it keeps: events and active days; for every hour of the day and of
the week, on how many distinct days the actor was active then; the
collections it used (see :func:`~logging_audit.detection.features.collection_of`)
and the highest classification it read; its networks and client families
(successful events only: an attacker's failed attempts must not make his
network familiar); its privileged actions; its largest hourly read count and
byte volume; the dominant periods of its request bursts (machine schedules).
For the population: how many actors use each collection, every network seen,
and per ``details`` field path how often values look encoded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from logging_audit.detection.features import (
    client_family,
    collection_of,
    hour_of_day,
    hour_of_week,
    is_privileged,
    is_read,
    looks_encoded,
    network_of,
    string_fields,
)
from logging_audit.detection.model import Obs
from logging_audit.errors import ConfigError, FormatError, StorageError

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_VERSION",
    "ActorProfile",
    "Baseline",
    "BaselineBuilder",
    "baseline_path",
    "load_baseline",
    "save_baseline",
]

BASELINE_FORMAT = "logaudit-baseline"
BASELINE_VERSION = 1
"""Bumped whenever the stored fields change meaning; older files are relearned."""

NIGHT_BONUS = 2.0
"""Extra hours of distance for activity in a person's own night (see ``hours_away``)."""
BURST_GAP = 2.0
"""Events of one actor closer than this (seconds) are one request burst."""
_PERIOD_BIN = math.log(1.05)
_ENCODED_PROBE_LEN = 24
_MAX_PERIODS = 4


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ActorProfile:
    """One actor's learned behaviour (see the module docstring)."""

    actor_type: str = "user"
    events: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    active_days: int = 0
    hod_days: list[int] = field(default_factory=lambda: [0] * 24)
    how_days: list[int] = field(default_factory=lambda: [0] * 168)
    collections: dict[str, int] = field(default_factory=dict)
    max_read_clearance: int = 0
    networks: dict[str, int] = field(default_factory=dict)
    clients: dict[str, int] = field(default_factory=dict)
    privileged: dict[str, int] = field(default_factory=dict)
    max_hourly_reads: int = 0
    max_hourly_bytes: float = 0.0
    periods: list[float] = field(default_factory=list)
    _distance: list[float] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "actor_type": self.actor_type,
            "events": self.events,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "active_days": self.active_days,
            "hod_days": self.hod_days,
            "how_days": self.how_days,
            "collections": self.collections,
            "max_read_clearance": self.max_read_clearance,
            "networks": self.networks,
            "clients": self.clients,
            "privileged": self.privileged,
            "max_hourly_reads": self.max_hourly_reads,
            "max_hourly_bytes": self.max_hourly_bytes,
            "periods": self.periods,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActorProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def weeks_active_at(self, how: int) -> int:
        """On how many distinct days (one per week) the actor was active at hour-of-week ``how``."""
        return self.how_days[how]

    def hours_away(self, ts: float) -> float:
        """Hours from ``ts`` to the actor's nearest habitual hour (0 inside them).

        Habitual hours of the day: active there on at least 5 % of its active
        days. Habitual hours of the week: active there in at least two distinct
        weeks (one if the baseline is shorter than two weeks). The distance is
        the smaller of the two circular distances, so Saturday 14:00 is habitual
        for a weekday nine-to-five worker, 03:00 on any day is not. For people, an
        hour outside the habitual ones that falls in their own night (23:00-05:59
        counted from the middle of their active hours, taken as 12:00 local) is
        :data:`NIGHT_BONUS` hours further away.
        """
        if self._distance is None:
            self._distance = self._distance_table()
        return self._distance[hour_of_week(ts)]

    def _distance_table(self) -> list[float]:
        days = max(1, self.active_days)
        by_day = _circular_distance([n >= max(1.0, 0.05 * days) for n in self.hod_days])
        span_weeks = (self.last_ts - self.first_ts) / (7 * 86400)
        need = 2 if span_weeks >= 2 else 1
        by_week = _circular_distance([n >= need for n in self.how_days])
        table = [min(by_day[c % 24], by_week[c]) for c in range(168)]
        noon = self.local_noon()
        if noon is not None:  # people sleep: the actor's own night counts extra
            for c in range(168):
                local = (c % 24 - noon + 12) % 24
                if table[c] >= 1 and (local < 6 or local >= 23):
                    table[c] += NIGHT_BONUS
        return table

    def local_noon(self) -> int | None:
        """The UTC hour at the middle of the actor's active hours (circular mean), for people.

        ``None`` for agents, and for actors active around the clock (no clear middle).
        """
        if self.actor_type != "user" or not any(self.hod_days):
            return None
        x = sum(n * math.cos(2 * math.pi * h / 24) for h, n in enumerate(self.hod_days))
        y = sum(n * math.sin(2 * math.pi * h / 24) for h, n in enumerate(self.hod_days))
        if math.hypot(x, y) < 0.3 * sum(self.hod_days):
            return None
        return round(math.atan2(y, x) * 24 / (2 * math.pi)) % 24

    def knows_period(self, seconds: float, tolerance: float = 0.1) -> bool:
        """True when ``seconds`` is within ``tolerance`` of one of the actor's known periods."""
        return any(abs(seconds - p) <= tolerance * p for p in self.periods)


def _circular_distance(marked: list[bool]) -> list[float]:
    """Distance from each slot of a cycle to the nearest marked slot (the cycle length if none)."""
    n = len(marked)
    if not any(marked):
        return [float(n)] * n
    dist = [float(n)] * n
    for _ in range(2):  # two laps let distances wrap around the cycle
        last = None
        for i in range(2 * n):
            j = i % n
            if marked[j]:
                last = i
            if last is not None:
                dist[j] = min(dist[j], i - last)
        last = None
        for i in range(2 * n - 1, -1, -1):
            j = i % n
            if marked[j]:
                last = i
            if last is not None:
                dist[j] = min(dist[j], last - i)
    return dist


@dataclass
class Baseline:
    """Actors' profiles plus population statistics, and what they were learned from."""

    actors: dict[str, ActorProfile]
    collection_actors: dict[str, int]
    networks: set[str]
    fields: dict[str, list[int]]
    """Per ``details`` path: [string values, encoded-looking values, longest encoded]."""
    start_ts: float
    end_ts: float
    events: int
    baseline_days: float
    learned_at: str = ""
    origin: str | None = None
    tree_size: int | None = None
    checkpoint: dict[str, Any] | None = None
    version: int = BASELINE_VERSION

    def profile(self, actor: str) -> ActorProfile | None:
        """The actor's profile, or ``None`` if it was not active in the baseline."""
        return self.actors.get(actor)

    def field_is_carrier(self, path: str) -> bool:
        """True when at least 1 % of the field's values looked encoded in the baseline."""
        stats = self.fields.get(path)
        return stats is not None and stats[0] >= 20 and stats[1] >= 0.01 * stats[0]

    def field_max_encoded(self, path: str) -> int:
        """The longest encoded-looking value the field carried in the baseline."""
        stats = self.fields.get(path)
        return 0 if stats is None else stats[2]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document kept in the models directory."""
        return {
            "format": BASELINE_FORMAT,
            "version": self.version,
            "origin": self.origin,
            "learned_at": self.learned_at,
            "baseline_days": self.baseline_days,
            "window": {"start": _iso(self.start_ts), "end": _iso(self.end_ts)},
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "tree_size": self.tree_size,
            "checkpoint": self.checkpoint,
            "events": self.events,
            "actors": {k: v.to_dict() for k, v in sorted(self.actors.items())},
            "collection_actors": self.collection_actors,
            "networks": sorted(self.networks),
            "fields": self.fields,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        """Parse a baseline document; :class:`FormatError` if it is not one of this version."""
        if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
            raise FormatError("not a logaudit baseline document")
        if data.get("version") != BASELINE_VERSION:
            raise FormatError(
                f"baseline version {data.get('version')!r}; this library reads {BASELINE_VERSION}"
            )
        try:
            return cls(
                actors={k: ActorProfile.from_dict(v) for k, v in data["actors"].items()},
                collection_actors=dict(data["collection_actors"]),
                networks=set(data["networks"]),
                fields={k: list(v) for k, v in data["fields"].items()},
                start_ts=float(data["start_ts"]),
                end_ts=float(data["end_ts"]),
                events=int(data["events"]),
                baseline_days=float(data["baseline_days"]),
                learned_at=str(data.get("learned_at", "")),
                origin=data.get("origin"),
                tree_size=data.get("tree_size"),
                checkpoint=data.get("checkpoint"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"baseline document is malformed: {exc}") from exc

    def summary(self) -> dict[str, Any]:
        """A short description (no per-actor data)."""
        return {
            "version": self.version,
            "origin": self.origin,
            "learned_at": self.learned_at,
            "baseline_days": self.baseline_days,
            "window": {"start": _iso(self.start_ts), "end": _iso(self.end_ts)},
            "events": self.events,
            "actors": len(self.actors),
            "tree_size": self.tree_size,
            "checkpoint": self.checkpoint,
        }


@dataclass
class _ActorState:
    profile: ActorProfile
    days: set[int] = field(default_factory=set)
    day_hours: set[int] = field(default_factory=set)
    hourly_reads: dict[int, int] = field(default_factory=dict)
    hourly_bytes: dict[int, float] = field(default_factory=dict)
    last_burst: float | None = None
    period_bins: dict[int, int] = field(default_factory=dict)
    intervals: int = 0


class BaselineBuilder:
    """Learns a :class:`Baseline` from events fed in (roughly) time order."""

    def __init__(self, start_ts: float, end_ts: float, baseline_days: float) -> None:
        """Learn from events with ``start_ts <= ts < end_ts``; others are ignored."""
        self.start_ts = start_ts
        self.end_ts = end_ts
        self.baseline_days = baseline_days
        self._actors: dict[str, _ActorState] = {}
        self._collections: dict[str, set[str]] = {}
        self._networks: set[str] = set()
        self._fields: dict[str, list[int]] = {}
        self.events = 0

    def add(self, obs: Obs) -> None:
        """Learn from one event."""
        ts = obs.ts
        if not self.start_ts <= ts < self.end_ts:
            return
        self.events += 1
        state = self._actors.get(obs.actor)
        if state is None:
            state = _ActorState(ActorProfile(actor_type=obs.actor_type, first_ts=ts, last_ts=ts))
            self._actors[obs.actor] = state
        p = state.profile
        p.events += 1
        p.first_ts = min(p.first_ts, ts)
        p.last_ts = max(p.last_ts, ts)
        day = int(ts // 86400)
        if day not in state.days:
            state.days.add(day)
            p.active_days += 1
        hour = int(ts // 3600)
        if hour not in state.day_hours:
            state.day_hours.add(hour)
            p.hod_days[hour_of_day(ts)] += 1
            p.how_days[hour_of_week(ts)] += 1
        success = obs.outcome != "failure"
        coll = collection_of(obs.resource)
        if coll is not None and success:
            p.collections[coll] = p.collections.get(coll, 0) + 1
            self._collections.setdefault(coll, set()).add(obs.actor)
        if success and is_read(obs.action):
            p.max_read_clearance = max(p.max_read_clearance, obs.clearance)
            state.hourly_reads[hour] = state.hourly_reads.get(hour, 0) + 1
            size = obs.details.get("bytes")
            if type(size) is int or type(size) is float:
                state.hourly_bytes[hour] = state.hourly_bytes.get(hour, 0.0) + float(size)
        if success and obs.source_ip:
            net = network_of(obs.source_ip)
            if net is not None:
                p.networks[net] = p.networks.get(net, 0) + 1
                self._networks.add(net)
        if success:
            fam = client_family(obs.details.get("user_agent"))
            if fam is not None:
                p.clients[fam] = p.clients.get(fam, 0) + 1
        if is_privileged(obs.event_type, obs.action) and success:
            p.privileged[obs.action] = p.privileged.get(obs.action, 0) + 1
        if obs.details:
            self._learn_fields(obs)
        if state.last_burst is None or ts - state.last_burst >= BURST_GAP:
            if state.last_burst is not None and ts > state.last_burst:
                b = round(math.log(ts - state.last_burst) / _PERIOD_BIN)
                state.period_bins[b] = state.period_bins.get(b, 0) + 1
                state.intervals += 1
            state.last_burst = ts

    def _learn_fields(self, obs: Obs) -> None:
        fields = self._fields
        for path, value in string_fields(obs.details):
            stats = fields.get(path)
            if stats is None:
                stats = fields[path] = [0, 0, 0]
            stats[0] += 1
            if len(value) >= _ENCODED_PROBE_LEN and looks_encoded(value, _ENCODED_PROBE_LEN):
                stats[1] += 1
                stats[2] = max(stats[2], len(value))

    def add_all(self, observations: Iterable[Obs]) -> None:
        """Learn from many events."""
        for obs in observations:
            self.add(obs)

    def build(self, **meta: Any) -> Baseline:
        """The learned baseline; ``meta``: origin, tree_size, checkpoint, learned_at."""
        actors: dict[str, ActorProfile] = {}
        for name, state in self._actors.items():
            p = state.profile
            if state.hourly_reads:
                p.max_hourly_reads = max(state.hourly_reads.values())
            if state.hourly_bytes:
                p.max_hourly_bytes = max(state.hourly_bytes.values())
            p.periods = _dominant_periods(state.period_bins, state.intervals)
            actors[name] = p
        return Baseline(
            actors=actors,
            collection_actors={c: len(a) for c, a in self._collections.items()},
            networks=set(self._networks),
            fields=self._fields,
            start_ts=self.start_ts,
            end_ts=self.end_ts,
            events=self.events,
            baseline_days=self.baseline_days,
            **meta,
        )


def _dominant_periods(bins: dict[int, int], total: int) -> list[float]:
    """Burst intervals that make up ≥ 20 % of an actor's intervals (at least 10 of them).

    Neighbouring 5 % bins are merged, so a schedule with a little jitter is one period.
    """
    if total < 10:
        return []
    out: list[tuple[int, float]] = []
    for b, n in bins.items():
        merged = n + bins.get(b - 1, 0) + bins.get(b + 1, 0)
        if n >= bins.get(b - 1, 0) and n > bins.get(b + 1, 0) and merged >= max(10, 0.2 * total):
            out.append((merged, math.exp(b * _PERIOD_BIN)))
    out.sort(reverse=True)
    return [round(p, 3) for _, p in out[:_MAX_PERIODS]]


def baseline_path(models_dir: str | os.PathLike[str], origin: str | None) -> Path:
    """The file of a stream's baseline: ``<models_dir>/baseline-<origin as a file name>.json``."""
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in (origin or "default"))
    return Path(models_dir) / f"baseline-{name}.json"


def save_baseline(baseline: Baseline, path: str | os.PathLike[str]) -> Path:
    """Write the baseline atomically (temporary file, then rename)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(orjson.dumps(baseline.to_dict(), option=orjson.OPT_SORT_KEYS))
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot write baseline {target}: {exc}") from exc
    return target


def load_baseline(path: str | os.PathLike[str]) -> Baseline | None:
    """Read a baseline; ``None`` if there is none or it is of another version.

    A file that is not a baseline at all is a :class:`ConfigError` naming it.
    """
    target = Path(path)
    try:
        data = orjson.loads(target.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read baseline {target}: {exc}") from exc
    except (orjson.JSONDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{target} is not JSON: {exc}") from exc
    current = isinstance(data, dict) and data.get("version") == BASELINE_VERSION
    if isinstance(data, dict) and data.get("format") == BASELINE_FORMAT and not current:
        return None
    try:
        return Baseline.from_dict(data)
    except FormatError as exc:
        raise ConfigError(f"{target}: {exc}") from exc
