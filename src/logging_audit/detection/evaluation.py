"""Scoring detectors against a labelled :class:`~logging_audit.detection.workload.Workload`.

Protocol: the baseline is learned from the workload's baseline period (no
attacks there); every event of the test period is then scored in time order
by a fresh engine (streaming mode, as the follower would), at one sensitivity
and ``alert_threshold``.

- An alert is a **true positive** when its evidence contains at least one
  event an attack added, otherwise a **false alert**.
- A scenario is **detected** when an alert of its expected detector
  (:data:`~logging_audit.detection.workload.EXPECTED_DETECTORS`) has evidence
  among its events. Recall per kind = detected / injected.
- Precision per detector = true positives / its alerts; false alerts per 10k
  normal events = false alerts / normal test events × 10,000.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from logging_audit.detection.baseline import Baseline, BaselineBuilder
from logging_audit.detection.detectors import Detector, build_detectors
from logging_audit.detection.engine import DetectionEngine
from logging_audit.detection.model import Finding, thresholds_for
from logging_audit.detection.sigma import SigmaDetector, SigmaRule
from logging_audit.detection.workload import SCENARIO_KINDS, Workload

__all__ = ["DetectorRow", "EvaluationResult", "KindRow", "evaluate", "learn_workload_baseline"]


@dataclass
class DetectorRow:
    """Alerts of one detector."""

    detector: str
    alerts: int = 0
    true_positives: int = 0

    @property
    def false_alerts(self) -> int:
        """Alerts with no attack event in their evidence."""
        return self.alerts - self.true_positives

    @property
    def precision(self) -> float | None:
        """True positives / alerts (``None`` without alerts)."""
        return self.true_positives / self.alerts if self.alerts else None


@dataclass
class KindRow:
    """Recall on one scenario kind."""

    kind: str
    injected: int = 0
    detected: int = 0

    @property
    def recall(self) -> float | None:
        """Detected / injected."""
        return self.detected / self.injected if self.injected else None


@dataclass
class EvaluationResult:
    """One evaluation run: per detector, per scenario kind, and overall figures."""

    sensitivity: str
    alert_threshold: float
    detectors: dict[str, DetectorRow]
    kinds: dict[str, KindRow]
    normal_events: int
    attack_events: int
    seconds: float
    alerts: list[Finding] = field(default_factory=list, repr=False)
    missed: list[Any] = field(default_factory=list, repr=False)

    @property
    def false_alerts(self) -> int:
        """False alerts of every detector."""
        return sum(r.false_alerts for r in self.detectors.values())

    @property
    def false_per_10k(self) -> float:
        """False alerts per 10,000 normal events."""
        return self.false_alerts / max(1, self.normal_events) * 10_000

    @property
    def events_per_second(self) -> float:
        """Scoring throughput of the run."""
        return (self.normal_events + self.attack_events) / max(self.seconds, 1e-9)

    def precision_of_kind(self, kind: str) -> float | None:
        """Precision of the detector expected to find ``kind``."""
        from logging_audit.detection.workload import EXPECTED_DETECTORS

        name = EXPECTED_DETECTORS[kind]
        rows = [r for d, r in self.detectors.items() if d == name or d.startswith(name + ":")]
        alerts = sum(r.alerts for r in rows)
        return sum(r.true_positives for r in rows) / alerts if alerts else None


def learn_workload_baseline(workload: Workload, baseline_days: float | None = None) -> Baseline:
    """The baseline of the workload's baseline period."""
    days = baseline_days or (workload.split - workload.start) / 86400
    builder = BaselineBuilder(workload.split - days * 86400, workload.split, days)
    builder.add_all(workload.baseline_events())
    return builder.build(origin="workload", learned_at="")


def _detector_key(name: str) -> str:
    return "sigma" if name.startswith("sigma:") else name


def evaluate(
    workload: Workload,
    sensitivity: str = "medium",
    *,
    alert_threshold: float = 0.75,
    baseline: Baseline | None = None,
    sigma_rules: Sequence[SigmaRule] = (),
    detectors: Iterable[str] | None = None,
) -> EvaluationResult:
    """Score the workload's test period (see the module docstring)."""
    base = baseline if baseline is not None else learn_workload_baseline(workload)
    th = thresholds_for(sensitivity)
    dets: list[Detector] = build_detectors(th, base, detectors)
    if sigma_rules:
        dets.append(SigmaDetector(th, base, sigma_rules))
    engine = DetectionEngine(dets, alert_threshold)
    test = list(workload.test_events())
    start = time.perf_counter()
    alerts = engine.run(test)
    seconds = time.perf_counter() - start
    attack_ids = workload.attack_ids()
    owner: dict[str, int] = {}
    for i, s in enumerate(workload.scenarios):
        for e in s.event_ids:
            owner[e] = i
    rows: dict[str, DetectorRow] = {}
    found: set[int] = set()
    for a in alerts:
        key = _detector_key(a.detector)
        row = rows.setdefault(key, DetectorRow(key))
        row.alerts += 1
        hit = {owner[e] for e in a.evidence if e in owner}
        if hit:
            row.true_positives += 1
        for i in hit:
            expected = workload.scenarios[i].expected_detector
            if key == expected:
                found.add(i)
    kinds = {k: KindRow(k) for k in SCENARIO_KINDS if any(s.kind == k for s in workload.scenarios)}
    missed = []
    for i, s in enumerate(workload.scenarios):
        kinds[s.kind].injected += 1
        if i in found:
            kinds[s.kind].detected += 1
        else:
            missed.append(s)
    attack_in_test = sum(1 for e in test if e.event_id in attack_ids)
    return EvaluationResult(
        sensitivity=th.name,
        alert_threshold=alert_threshold,
        detectors=rows,
        kinds=kinds,
        normal_events=len(test) - attack_in_test,
        attack_events=attack_in_test,
        seconds=seconds,
        alerts=alerts,
        missed=missed,
    )
