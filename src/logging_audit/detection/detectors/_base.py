"""What the built-in detectors share: thresholds, baseline, the emit floor, no mute.

:class:`BuiltinDetector` holds the thresholds and the baseline, starts with the
engine's emit floor (:data:`EMIT_RATIO`, raised by the engine to the alert
cut), no mute rule (set by the engine from the policy) and six hours of cooldown
between findings; :func:`hourly_windows` makes what five of them count in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from logging_audit.detection.baseline import Baseline
from logging_audit.detection.detectors._window import KeyedWindows, Window, never_muted
from logging_audit.detection.model import Thresholds

__all__ = ["EMIT_RATIO", "HOUR", "BuiltinDetector", "hourly_windows"]

W = TypeVar("W", bound=Window)

EMIT_RATIO = 0.7
"""Detectors report findings from this ratio on (score ≈ 0.49); the engine applies
``alert_threshold``."""

HOUR = 3600.0


class BuiltinDetector:
    """Thresholds, baseline, emit floor and mute rule of a built-in detector."""

    min_ratio = EMIT_RATIO
    muted = staticmethod(never_muted)
    cooldown = 6 * HOUR

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and, where the detector learns from one, ``baseline``."""
        self.t = thresholds
        self.baseline = baseline


def hourly_windows(make: Callable[[float], W]) -> KeyedWindows[W]:
    """One sliding window of an hour per actor (``make(HOUR)``), forgotten after two idle hours."""
    return KeyedWindows(lambda: make(HOUR), 2 * HOUR)
