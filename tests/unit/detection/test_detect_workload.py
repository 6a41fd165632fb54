"""The labelled workload and the evaluation protocol (a small world; the full one is a bench)."""

from __future__ import annotations

import pytest

from logging_audit.detection.evaluation import evaluate, learn_workload_baseline
from logging_audit.detection.sigma import builtin_rules
from logging_audit.detection.workload import SCENARIO_KINDS, generate_workload


def test_generator_is_deterministic_and_labels_only_the_test_period() -> None:
    a = generate_workload(seed=3, n_actors=20, days=10, test_days=3, scenarios_per_kind=1)
    b = generate_workload(seed=3, n_actors=20, days=10, test_days=3, scenarios_per_kind=1)
    assert [e.event_id for e in a.events[:500]] == [e.event_id for e in b.events[:500]]
    assert {s.kind for s in a.scenarios} == set(SCENARIO_KINDS)
    ids = a.attack_ids()
    assert all(e.ts >= a.split for e in a.events if e.event_id in ids)
    assert all(s.event_ids for s in a.scenarios)
    assert all(a.events[i].ts <= a.events[i + 1].ts for i in range(len(a.events) - 1))


@pytest.mark.slow
def test_small_world_evaluation_by_sensitivity() -> None:
    w = generate_workload(seed=11, n_actors=60, days=21, test_days=7, scenarios_per_kind=3)
    base = learn_workload_baseline(w)
    rules = builtin_rules()
    results = {
        s: evaluate(w, s, baseline=base, sigma_rules=rules) for s in ("low", "medium", "high")
    }
    med = results["medium"]
    detected = sum(k.detected for k in med.kinds.values())
    injected = sum(k.injected for k in med.kinds.values())
    assert detected / injected >= 0.8
    assert med.false_per_10k < 5
    # sensitivity moves alert volume the documented way
    low, high = results["low"], results["high"]
    assert sum(r.alerts for r in low.detectors.values()) <= sum(
        r.alerts for r in high.detectors.values()
    )
    # a stricter threshold never adds alerts
    strict = evaluate(w, "medium", baseline=base, alert_threshold=0.9, sigma_rules=rules)
    assert sum(r.alerts for r in strict.detectors.values()) <= sum(
        r.alerts for r in med.detectors.values()
    )
