"""Covert-channel attempts: encoded data smuggled in fields, machine-regular request timing;
and repeated reads denied for clearance."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from logging_audit.detection.baseline import BURST_GAP, Baseline
from logging_audit.detection.detectors._base import HOUR, BuiltinDetector, hourly_windows
from logging_audit.detection.detectors._window import (
    KeyedWindows,
    Window,
    actor_window_finding,
)
from logging_audit.detection.features import encoded_values, is_denied_read, looks_encoded
from logging_audit.detection.model import Finding, Obs, Thresholds, score_from_ratio

__all__ = ["BeaconingDetector", "DeniedReadsDetector", "EncodedDataDetector"]


class DeniedReadsDetector(BuiltinDetector):
    """Repeated reads refused for clearance: probing above one's level.

    Counts reads denied for clearance
    (:func:`~logging_audit.detection.features.is_denied_read`) per actor in a
    sliding hour. Ratio = distinct resources denied / ``denied_reads`` (5 at
    medium). One mistaken click is one resource; probing is many.
    """

    name = "denied_reads"
    category = "discovery"
    needs_baseline = False

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds``; no baseline needed."""
        super().__init__(thresholds, baseline)
        self._windows = hourly_windows(Window)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if not is_denied_read(obs.event_type, obs.action, obs.outcome, obs.details):
            return None
        window = self._windows.get(obs.actor, obs.ts)
        window.add(obs, (obs.resource or obs.event_id, obs.details.get("required_clearance")))
        if self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        resources = {h.value[0] for h in window}
        ratio = len(resources) / self.t.denied_reads
        if ratio < self.min_ratio:
            return None
        levels = sorted({h.value[1] for h in window if isinstance(h.value[1], int)})
        return actor_window_finding(
            self,
            obs,
            window,
            ratio,
            explanation=(
                f"{obs.actor} was refused {len(window)} reads of {len(resources)} distinct "
                f"resources within an hour for insufficient clearance"
                + (f" (required levels {levels})" if levels else "")
                + f"; {self.t.denied_reads} resources reach the threshold at {self.t.name} "
                "sensitivity"
            ),
            facts={
                "denied": len(window),
                "resources": sorted(r for r in resources if r)[:20],
                "threshold": self.t.denied_reads,
            },
        )


class EncodedDataDetector(BuiltinDetector):
    """Encoded binary data (base64/hex, high entropy) carried in event fields.

    Every string in ``details`` of at least ``encoded_min_len`` characters (48
    at medium) that :func:`~logging_audit.detection.features.looks_encoded`
    counts, unless its field routinely carries encoded values in the baseline
    (≥ 1 % of them: ids, digests, signatures) and the value is no longer than
    twice the longest seen there. Ratio = encoded characters of the actor
    within one hour / ``encoded_chars`` (384 at medium).
    """

    name = "encoded_data"
    category = "covert_channel"
    needs_baseline = False

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and, if given, the fields' encoded-value history."""
        super().__init__(thresholds, baseline)
        self._windows = hourly_windows(Window)
        self._carrier_cache: dict[str, int] | None = None
        self._carrier_of: Baseline | None = None

    def _carriers(self) -> dict[str, int]:
        """Field path → longest value still ordinary there (twice the longest seen)."""
        b = self.baseline
        if b is None:
            return {}
        if self._carrier_cache is None or self._carrier_of is not b:
            self._carrier_of = b
            self._carrier_cache = {
                p: 2 * b.field_max_encoded(p) for p in b.fields if b.field_is_carrier(p)
            }
        return self._carrier_cache

    def _suspicious(self, obs: Obs) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        min_len = self.t.encoded_min_len
        carriers = self._carriers()
        nested: dict[str, Any] = {}
        for key, value in obs.details.items():
            if type(value) is not str:
                if isinstance(value, dict | list):
                    nested[key] = value
                continue
            if len(value) < min_len:
                continue
            path = "details." + key
            if len(value) <= carriers.get(path, -1) or not looks_encoded(value, min_len):
                continue
            found.append((path, len(value)))
        if nested:
            for path, value in encoded_values(nested, min_len):
                if len(value) > carriers.get(path, -1):
                    found.append((path, len(value)))
        res = obs.resource
        if res and len(res) >= self.t.encoded_min_len:
            for part in res.replace(":", "/").replace(".", "/").split("/"):
                if looks_encoded(part, self.t.encoded_min_len):
                    found.append(("resource", len(part)))
        return found

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if not obs.details and not obs.resource:
            return None
        found = self._suspicious(obs)
        if not found:
            return None
        window = self._windows.get(obs.actor, obs.ts)
        window.add(obs, found)
        if self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        chars = sum(n for h in window for _, n in h.value)
        ratio = chars / self.t.encoded_chars
        if ratio < self.min_ratio:
            return None
        paths = sorted({p for h in window for p, _ in h.value})
        return actor_window_finding(
            self,
            obs,
            window,
            ratio,
            explanation=(
                f"{obs.actor} carried {chars} characters of encoded-looking data in "
                f"{len(window)} event(s) within an hour, in field(s) {', '.join(paths[:5])} "
                f"that do not normally carry such data; {self.t.encoded_chars} characters "
                f"reach the threshold at {self.t.name} sensitivity"
            ),
            facts={"characters": chars, "fields": paths, "threshold": self.t.encoded_chars},
        )


@dataclass
class _Timing:
    last_burst: float | None = None
    intervals: deque[float] = field(default_factory=deque)
    bursts: deque[tuple[float, str, int]] = field(default_factory=deque)


class BeaconingDetector(BuiltinDetector):
    """Machine-regular request timing the actor does not normally show (beaconing).

    Events of an actor less than 2 s apart are one burst. Over its last
    ``beacon_min_events`` intervals between bursts (20 at medium), with a
    median of 10 s to 1 h: robust CV = 1.4826 × MAD / median. Ratio =
    ``beacon_cv`` (0.05 at medium) / CV, capped at 4. Skipped when the median
    is within 10 % of one of the actor's known periods (its schedules in the
    baseline), and for agents without a baseline (new services are regular).
    """

    name = "beaconing"
    category = "covert_channel"
    needs_baseline = False

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and the actors' known periods from ``baseline``."""
        super().__init__(thresholds, baseline)
        self._state = KeyedWindows(_Timing, 2 * HOUR)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        state = self._state.get(obs.actor, obs.ts)
        last = state.last_burst
        if last is not None and obs.ts - last < BURST_GAP:
            return None
        state.last_burst = obs.ts
        n = self.t.beacon_min_events
        state.bursts.append((obs.ts, obs.event_id, obs.seq))
        if len(state.bursts) > n + 1:
            state.bursts.popleft()
        if last is None:
            return None
        state.intervals.append(obs.ts - last)
        if len(state.intervals) > n:
            state.intervals.popleft()
        if len(state.intervals) < n or self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        intervals = state.intervals
        a, b, c = intervals[-1], intervals[-2], intervals[-3]
        if max(a, b, c) > 1.5 * min(a, b, c):
            return None  # the latest intervals alone are too irregular
        p = self.baseline.profile(obs.actor) if self.baseline is not None else None
        if p is None and obs.actor_type == "agent":
            return None
        if p is not None and p.knows_period(a, 0.15):
            return None
        med = statistics.median(intervals)
        if not 10.0 <= med <= HOUR:
            return None
        mad = statistics.median(abs(x - med) for x in intervals)
        cv = 1.4826 * mad / med
        ratio = min(4.0, self.t.beacon_cv / max(cv, 1e-9))
        if ratio < self.min_ratio:
            return None
        if p is not None and p.knows_period(med):
            return None
        bursts = list(state.bursts)
        known = ", ".join(f"{x:g} s" for x in p.periods) if p and p.periods else "none"
        return Finding(
            detector=self.name,
            category=self.category,
            key=f"actor={obs.actor}",
            score=score_from_ratio(ratio),
            explanation=(
                f"{obs.actor} made its last {n + 1} requests every {med:.1f} s with a robust "
                f"variation of {cv * 100:.2f} % — machine-regular timing not among its known "
                f"schedules ({known}); "
                f"{self.t.beacon_cv * 100:g} % reaches the threshold at {self.t.name} sensitivity"
            ),
            evidence=tuple(b[1] for b in bursts),
            evidence_seqs=tuple(b[2] for b in bursts),
            first_ts=bursts[0][0],
            last_ts=bursts[-1][0],
            actor=obs.actor,
            source_ip=obs.source_ip,
            facts={"median_interval": med, "robust_cv": cv, "threshold": self.t.beacon_cv},
        )
