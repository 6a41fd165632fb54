"""What detectors see and say: the event view, findings, the score scale, sensitivities.

- :class:`Obs` is the light view of one stored audit event that every detector
  reads (built from a :class:`~logging_audit.audit.records.StoredEvent` by
  :func:`obs_from_stored`, or directly by the workload generator).
- A detector turns evidence into a *ratio*: how far past its threshold the
  evidence is (1.0 = exactly at the threshold of the chosen sensitivity).
  :func:`score_from_ratio` maps every ratio onto one scale,
  ``score = 1 - 0.25 / ratio**2`` (0 below ratio 0.5), so that

  ======  =====  ====  ====  ====  ====
  ratio   0.71   1.0   1.29  1.58  2.0
  score   0.50   0.75  0.85  0.90  0.94
  ======  =====  ====  ====  ====  ====

  ``alert_threshold`` cuts on that scale: the default 0.75 alerts exactly when a
  detector's own threshold is reached; 0.9 needs 1.58 times the threshold.
- :data:`SENSITIVITIES` holds the detectors' thresholds for ``low``, ``medium``
  (default) and ``high``: higher sensitivity lowers every threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from logging_audit.audit.index import ts_to_us
from logging_audit.audit.records import StoredEvent
from logging_audit.errors import ConfigError, FramingError

__all__ = [
    "EVENT_TIME_KEY",
    "SENSITIVITIES",
    "Finding",
    "Obs",
    "Thresholds",
    "obs_from_stored",
    "ratio_for_score",
    "score_from_ratio",
    "severity",
    "thresholds_for",
    "ts_seconds",
]

EVENT_TIME_KEY = "event_time"
"""``details`` key holding an imported event's own time (RFC 3339); detectors use it
instead of the recording time when present."""


@dataclass(slots=True)
class Obs:
    """One audit event as detectors see it (times in seconds since the epoch, UTC)."""

    ts: float
    event_id: str
    event_type: str
    action: str
    actor: str
    outcome: str = "success"
    actor_type: str = "user"
    resource: str | None = None
    source_ip: str | None = None
    source_node: str | None = None
    clearance: int = 1
    details: Mapping[str, Any] = field(default_factory=dict)
    seq: int = -1

    @property
    def failed(self) -> bool:
        """True when the outcome is ``failure``."""
        return self.outcome == "failure"


_TS_CACHE: dict[str, float] = {}


def ts_seconds(ts: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (cached: a batch shares one time)."""
    value = _TS_CACHE.get(ts)
    if value is None:
        value = ts_to_us(ts) / 1e6
        if len(_TS_CACHE) > 4096:
            _TS_CACHE.clear()
        _TS_CACHE[ts] = value
    return value


def obs_from_stored(stored: StoredEvent) -> Obs:
    """The detector view of a stored event (``details.event_time`` wins over the entry time)."""
    ev = stored.event
    own = ev.details.get(EVENT_TIME_KEY)
    when = _own_time(own) if isinstance(own, str) else None
    if when is None:
        when = ts_seconds(stored.ts)
    return Obs(
        ts=when,
        event_id=ev.event_id,
        event_type=ev.event_type,
        action=ev.action,
        actor=ev.actor,
        outcome=ev.outcome,
        actor_type=ev.actor_type,
        resource=ev.resource,
        source_ip=ev.source_ip,
        source_node=ev.source_node,
        clearance=int(ev.clearance),
        details=ev.details,
        seq=stored.seq,
    )


def _own_time(text: str) -> float | None:
    for candidate in (text, text + "Z"):
        try:
            return ts_seconds(candidate)
        except FramingError:
            continue
    return None


def score_from_ratio(ratio: float) -> float:
    """The common score in [0, 1] of a ratio to a detector's threshold (see module docs)."""
    if ratio <= 0.5:
        return 0.0
    return round(min(1.0, 1.0 - 0.25 / (ratio * ratio)), 4)


def ratio_for_score(score: float) -> float:
    """The smallest ratio whose score reaches ``score`` (inverse of :func:`score_from_ratio`)."""
    if score <= 0:
        return 0.0
    if score >= 1:
        return math.inf
    return math.sqrt(0.25 / (1.0 - score))


def severity(score: float) -> str:
    """``critical`` (≥ 0.95), ``high`` (≥ 0.85), ``medium`` (≥ 0.75) or ``low``."""
    if score >= 0.95:
        return "critical"
    if score >= 0.85:
        return "high"
    if score >= 0.75:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Finding:
    """What a detector found: a score, a plain-language explanation and the evidence."""

    detector: str
    category: str
    key: str
    """What the finding is about, e.g. ``source_ip=203.0.113.9`` or ``actor=alice``."""
    score: float
    explanation: str
    evidence: tuple[str, ...]
    """Event ids of the evidence (at most :data:`MAX_EVIDENCE`, newest last)."""
    first_ts: float
    last_ts: float
    actor: str | None = None
    source_ip: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    """The numbers behind the explanation (counts, thresholds, baseline values)."""
    evidence_seqs: tuple[int, ...] = ()


MAX_EVIDENCE = 50


@dataclass(frozen=True)
class Thresholds:
    """Every detector's thresholds at one sensitivity (see docs/anomaly-detection.md)."""

    name: str
    brute_force_failures: int
    """Failed authentications from one source within ``brute_force_window``."""
    brute_force_window: float
    spray_accounts: int
    """Distinct accounts failing from one source within ``spray_window``."""
    spray_window: float
    offhours_hours_away: float
    """Hours between the event's hour and the actor's nearest habitual hour."""
    offhours_min_events: int
    rare_resources: int
    """Distinct resources in collections new to the actor within one hour."""
    volume_factor: float
    """Times the actor's largest hourly volume in the baseline."""
    volume_min: int
    """Smallest hourly read count that can ever be a spike."""
    privilege_factor: float
    """Multiplies the privilege detector's points (1.0 at medium)."""
    denied_reads: int
    """Reads denied for clearance on distinct resources within one hour."""
    encoded_min_len: int
    """Shortest encoded-looking value that counts."""
    encoded_chars: int
    """Encoded characters per actor within one hour that reach the threshold."""
    beacon_cv: float
    """Largest robust coefficient of variation of request intervals that is machine-regular."""
    beacon_min_events: int
    first_seen_points: float
    """Unfamiliarity points (new network 1, new to everyone 0.5, new client 1,
    after failures 0.5) that reach the threshold."""
    min_history_events: int = 20
    min_history_days: int = 7


SENSITIVITIES: dict[str, Thresholds] = {
    "low": Thresholds(
        name="low",
        brute_force_failures=20,
        brute_force_window=600.0,
        spray_accounts=10,
        spray_window=3600.0,
        offhours_hours_away=7.0,
        offhours_min_events=5,
        rare_resources=8,
        volume_factor=5.0,
        volume_min=100,
        privilege_factor=0.8,
        denied_reads=8,
        encoded_min_len=96,
        encoded_chars=1024,
        beacon_cv=0.02,
        beacon_min_events=30,
        first_seen_points=2.5,
    ),
    "medium": Thresholds(
        name="medium",
        brute_force_failures=10,
        brute_force_window=600.0,
        spray_accounts=6,
        spray_window=3600.0,
        offhours_hours_away=5.0,
        offhours_min_events=3,
        rare_resources=5,
        volume_factor=3.0,
        volume_min=50,
        privilege_factor=1.0,
        denied_reads=5,
        encoded_min_len=48,
        encoded_chars=384,
        beacon_cv=0.05,
        beacon_min_events=20,
        first_seen_points=2.0,
    ),
    "high": Thresholds(
        name="high",
        brute_force_failures=5,
        brute_force_window=600.0,
        spray_accounts=4,
        spray_window=3600.0,
        offhours_hours_away=3.0,
        offhours_min_events=2,
        rare_resources=3,
        volume_factor=2.0,
        volume_min=30,
        privilege_factor=1.25,
        denied_reads=3,
        encoded_min_len=32,
        encoded_chars=192,
        beacon_cv=0.1,
        beacon_min_events=15,
        first_seen_points=1.5,
    ),
}
"""The three sensitivities; ``medium`` is the default."""


def thresholds_for(sensitivity: str | Thresholds, **overrides: Any) -> Thresholds:
    """The thresholds of a named sensitivity (or a :class:`Thresholds`), with overrides."""
    if isinstance(sensitivity, Thresholds):
        base = sensitivity
    else:
        if not isinstance(sensitivity, str) or sensitivity.lower() not in SENSITIVITIES:
            raise ConfigError(
                f"sensitivity must be one of {', '.join(SENSITIVITIES)}, got {sensitivity!r}"
            )
        base = SENSITIVITIES[sensitivity.lower()]
    if not overrides:
        return base
    unknown = set(overrides) - set(Thresholds.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown threshold(s): {', '.join(sorted(unknown))}")
    return replace(base, **overrides)
