"""The detection engine: runs detectors over events in time order and decides what alerts.

For every event each detector may report a :class:`~logging_audit.detection.model.Finding`.
The engine keeps those with ``score >= alert_threshold`` and, per detector and
key (a source address, an actor, a Sigma rule and actor), at most one per
detector ``cooldown`` — a 30-minute brute force is one alert, not 300. It knows
nothing of storage: :mod:`~logging_audit.detection.alerts` records what it
returns, :mod:`~logging_audit.detection.streaming` feeds it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from logging_audit.detection.detectors import EMIT_RATIO, Detector
from logging_audit.detection.model import Finding, Obs, ratio_for_score
from logging_audit.errors import ConfigError

__all__ = ["DetectionEngine", "check_threshold"]

_log = logging.getLogger(__name__)
_CLEARANCE_MEMORY = 200_000


def check_threshold(value: object) -> float:
    """``alert_threshold`` as a float in [0, 1] (else :class:`ConfigError`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"alert_threshold must be a number from 0 to 1, got {value!r}")
    return float(value)


class DetectionEngine:
    """Detectors + alert threshold + per-key cooldown."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        alert_threshold: float = 0.75,
        *,
        ignore_actors: Iterable[str] = (),
    ) -> None:
        """``ignore_actors``: actors whose events are never scored (the detector's own)."""
        self.detectors = list(detectors)
        self._threshold = 0.0
        self.alert_threshold = check_threshold(alert_threshold)
        self.ignore_actors = frozenset(ignore_actors)
        self._last_alert: dict[tuple[str, str], float] = {}
        for det in self.detectors:
            if hasattr(det, "muted"):  # lets a detector skip work whose alert would be muted
                det.muted = self._muted_for(det.cooldown)
        self._clearance: OrderedDict[str, int] = OrderedDict()
        self.events = 0
        self.errors: dict[str, int] = {}

    @property
    def alert_threshold(self) -> float:
        """Findings scoring below it are dropped."""
        return self._threshold

    @alert_threshold.setter
    def alert_threshold(self, value: float) -> None:
        self._threshold = check_threshold(value)
        floor = ratio_for_score(self._threshold) * 0.999  # let rounding err on the safe side
        for det in self.detectors:
            if hasattr(det, "min_ratio"):
                det.min_ratio = max(EMIT_RATIO, floor)  # findings below the cut are wasted work

    def _muted_for(self, cooldown: float) -> Callable[[str, str, float], bool]:
        last_alert = self._last_alert

        def muted(detector: str, key: str, ts: float) -> bool:
            last = last_alert.get((detector, key))
            return last is not None and ts - last < cooldown

        return muted

    def process(self, obs: Obs) -> list[Finding]:
        """Score one event; return the alerts it raises (usually none)."""
        if obs.actor in self.ignore_actors:
            return []
        self.events += 1
        clearance = self._clearance
        clearance[obs.event_id] = obs.clearance
        if len(clearance) > _CLEARANCE_MEMORY:
            clearance.popitem(last=False)
        out: list[Finding] = []
        for det in self.detectors:
            try:
                found = det.observe(obs)
            except Exception:  # a detector bug must not stop the stream
                self.errors[det.name] = self.errors.get(det.name, 0) + 1
                _log.exception("detector %s failed on event %s", det.name, obs.event_id)
                continue
            if found is None or found.score < self.alert_threshold:
                continue
            key = (found.detector, found.key)
            last = self._last_alert.get(key)
            if last is not None and obs.ts - last < det.cooldown:
                continue
            self._last_alert[key] = obs.ts
            level = max((clearance.get(e, 1) for e in found.evidence), default=obs.clearance)
            facts = dict(found.facts)
            facts["evidence_clearance"] = level
            out.append(replace(found, facts=facts))
        if len(self._last_alert) > 100_000:
            limit = obs.ts - 86400
            for k in [k for k, v in self._last_alert.items() if v < limit]:
                del self._last_alert[k]
        return out

    def run(self, observations: Iterable[Obs]) -> list[Finding]:
        """Score events in order; return every alert."""
        out: list[Finding] = []
        for obs in observations:
            out.extend(self.process(obs))
        return out
