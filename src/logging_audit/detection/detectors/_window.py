"""Sliding windows of events per key, with idle keys swept away."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, TypeVar

from logging_audit.detection.model import MAX_EVIDENCE, Finding, Obs, score_from_ratio

__all__ = ["Hit", "KeyedWindows", "SumWindow", "Window", "actor_window_finding", "never_muted"]

T = TypeVar("T")


@dataclass(slots=True)
class Hit:
    """One event in a window: its time, id, seq and the detector's own value."""

    ts: float
    event_id: str
    seq: int
    value: Any = None


@dataclass
class Window:
    """The hits of one key within the last ``width`` seconds."""

    width: float
    hits: deque[Hit] = field(default_factory=deque)

    def add(self, obs: Obs, value: Any = None) -> None:
        """Add an event and drop what fell out of the window (by the newest time)."""
        self.hits.append(Hit(obs.ts, obs.event_id, obs.seq, value))
        self.evict(obs.ts)

    def evict(self, now: float) -> None:
        """Drop hits older than ``now - width``."""
        limit = now - self.width
        hits = self.hits
        while hits and hits[0].ts < limit:
            hits.popleft()

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def evidence(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Event ids and seqs of the newest :data:`MAX_EVIDENCE` hits."""
        tail = list(islice(reversed(self.hits), MAX_EVIDENCE))[::-1]
        return tuple(h.event_id for h in tail), tuple(h.seq for h in tail)

    @property
    def first_ts(self) -> float:
        """Time of the oldest hit."""
        return self.hits[0].ts

    @property
    def last_ts(self) -> float:
        """Time of the newest hit."""
        return self.hits[-1].ts


@dataclass
class SumWindow(Window):
    """A window that also keeps the running sum of its hits' (numeric) values."""

    total: float = 0.0

    def add(self, obs: Obs, value: Any = 0.0) -> None:
        """Add an event with a number; keep the sum."""
        self.total += value
        super().add(obs, value)

    def evict(self, now: float) -> None:
        """Drop old hits and take their values off the sum."""
        limit = now - self.width
        hits = self.hits
        while hits and hits[0].ts < limit:
            self.total -= hits.popleft().value
        if not hits:
            self.total = 0.0


def never_muted(detector: str, key: str, ts: float) -> bool:
    """The default mute check: nothing is muted (the engine installs its cooldown check)."""
    return False


class KeyedWindows(Generic[T]):
    """A value per key, made on first use; keys idle for ``idle`` seconds are dropped."""

    def __init__(self, factory: Callable[[], T], idle: float, sweep_every: int = 50_000) -> None:
        """``factory()`` makes a new key's value."""
        self._factory = factory
        self._idle = idle
        self._sweep_every = sweep_every
        self._items: dict[str, tuple[float, T]] = {}
        self._ops = 0

    def get(self, key: str, now: float) -> T:
        """The key's value (touched at ``now``)."""
        self._ops += 1
        if self._ops >= self._sweep_every:
            self._ops = 0
            limit = now - self._idle
            self._items = {k: v for k, v in self._items.items() if v[0] >= limit}
        item = self._items.get(key)
        value = self._factory() if item is None else item[1]
        self._items[key] = (now, value)
        return value

    def __len__(self) -> int:
        return len(self._items)


def actor_window_finding(
    detector: Any,
    obs: Obs,
    window: Window,
    ratio: float,
    *,
    explanation: str,
    facts: dict[str, Any],
) -> Finding:
    """The finding of a per-actor detector: scored by ``ratio``, evidence from ``window``.

    ``detector`` supplies ``name`` and ``category``; the key is the actor.
    """
    ids, seqs = window.evidence()
    return Finding(
        detector=detector.name,
        category=detector.category,
        key=f"actor={obs.actor}",
        score=score_from_ratio(ratio),
        explanation=explanation,
        evidence=ids,
        evidence_seqs=seqs,
        first_ts=window.first_ts,
        last_ts=window.last_ts,
        actor=obs.actor,
        source_ip=obs.source_ip,
        facts=facts,
    )
