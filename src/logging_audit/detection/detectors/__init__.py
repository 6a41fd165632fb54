"""The detectors: each a small class that scores events one by one and explains itself.

A detector is anything with ``name``, ``category``, ``cooldown`` (seconds
between two alerts on the same key) and ``observe(obs) -> Finding | None``;
it keeps its own sliding state, so the same object scores a stream (streaming
mode) or a replayed window (``analyze_current_activity``). Detectors report a
finding from 0.7 times their threshold on; the engine applies ``alert_threshold``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from logging_audit.detection.baseline import Baseline
from logging_audit.detection.detectors.auth import (
    EMIT_RATIO,
    BruteForceDetector,
    FirstSeenSourceDetector,
    PasswordSprayDetector,
)
from logging_audit.detection.detectors.behaviour import (
    OffHoursDetector,
    PrivilegeEscalationDetector,
    RareResourceDetector,
    VolumeSpikeDetector,
)
from logging_audit.detection.detectors.covert import (
    BeaconingDetector,
    DeniedReadsDetector,
    EncodedDataDetector,
)
from logging_audit.detection.model import Finding, Obs, Thresholds
from logging_audit.errors import ConfigError

__all__ = [
    "DETECTORS",
    "EMIT_RATIO",
    "BeaconingDetector",
    "BruteForceDetector",
    "DeniedReadsDetector",
    "Detector",
    "EncodedDataDetector",
    "FirstSeenSourceDetector",
    "OffHoursDetector",
    "PasswordSprayDetector",
    "PrivilegeEscalationDetector",
    "RareResourceDetector",
    "VolumeSpikeDetector",
    "build_detectors",
]


class Detector(Protocol):
    """What the engine needs from a detector."""

    name: str
    category: str
    cooldown: float

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event (in time order); a finding when the evidence is strong enough."""


DETECTORS: dict[str, type] = {
    cls.name: cls
    for cls in (
        BruteForceDetector,
        PasswordSprayDetector,
        FirstSeenSourceDetector,
        OffHoursDetector,
        RareResourceDetector,
        VolumeSpikeDetector,
        PrivilegeEscalationDetector,
        DeniedReadsDetector,
        EncodedDataDetector,
        BeaconingDetector,
    )
}
"""Built-in detectors by name, in the order they run."""


def build_detectors(
    thresholds: Thresholds, baseline: Baseline | None, names: Iterable[str] | None = None
) -> list[Detector]:
    """Fresh detector objects (empty state) for ``names`` (default: all built-in ones)."""
    chosen: Sequence[str] = list(DETECTORS) if names is None else list(names)
    unknown = [n for n in chosen if n not in DETECTORS]
    if unknown:
        raise ConfigError(
            f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(DETECTORS)}"
        )
    return [DETECTORS[n](thresholds, baseline) for n in chosen]
