"""Anomaly detection over the audit trail: detectors, baselines, Sigma rules, alerts, streaming.

The face is :class:`logging_audit.anomaly_detection.AnomalyDetector`; this
package holds its parts, each usable on its own:

- :mod:`~logging_audit.detection.model` — the event view (:class:`Obs`),
  :class:`Finding`, the score scale and the sensitivities;
- :mod:`~logging_audit.detection.detectors` — the detectors;
- :mod:`~logging_audit.detection.baseline` — learning and keeping baselines;
- :mod:`~logging_audit.detection.sigma` — Sigma rules;
- :mod:`~logging_audit.detection.engine`, :mod:`~logging_audit.detection.alerts`,
  :mod:`~logging_audit.detection.streaming` — scoring, recording, following;
- :mod:`~logging_audit.detection.workload` and :mod:`~logging_audit.detection.evaluation`
  — the labelled workload generator and the metrics the evaluation reports.
"""

from __future__ import annotations

from logging_audit.detection.alerts import AlertRecorder, alert_dict
from logging_audit.detection.baseline import Baseline, BaselineBuilder, load_baseline, save_baseline
from logging_audit.detection.detectors import DETECTORS, Detector, build_detectors
from logging_audit.detection.engine import DetectionEngine
from logging_audit.detection.model import (
    SENSITIVITIES,
    Finding,
    Obs,
    Thresholds,
    obs_from_stored,
    score_from_ratio,
    thresholds_for,
)
from logging_audit.detection.sigma import SigmaDetector, SigmaRule, parse_sigma
from logging_audit.detection.streaming import StoreFollower, StreamingScorer

__all__ = [
    "DETECTORS",
    "SENSITIVITIES",
    "AlertRecorder",
    "Baseline",
    "BaselineBuilder",
    "DetectionEngine",
    "Detector",
    "Finding",
    "Obs",
    "SigmaDetector",
    "SigmaRule",
    "StoreFollower",
    "StreamingScorer",
    "Thresholds",
    "alert_dict",
    "build_detectors",
    "load_baseline",
    "obs_from_stored",
    "parse_sigma",
    "save_baseline",
    "score_from_ratio",
    "thresholds_for",
]
