"""Pattern analysis: baselines over a month of generated behaviour, injected deviations found.

Normal behaviour: on weekdays, 15-25 events between 09:00 and 17:00 UTC, reads
and some writes of six documents, from one address, plus a daily search of
the audit trail. On one day an agent also works at 03:00, from a new
address, reading 120 documents it never touched before (a mass download).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.factory import open_store
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import ConfigError
from logging_audit.forensics.pattern_analyzer import PatternAnalyzer

END = datetime(2025, 10, 15, tzinfo=timezone.utc)
START = END - timedelta(days=30)
ATTACK_DAY = END - timedelta(days=4)  # a Saturday


def _normal(store: AuditStore, clock: FakeClock, agent: str, rng: random.Random) -> list[str]:
    ids = []
    for day in range(30):
        date = START + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for _ in range(rng.randint(15, 25)):
            clock.now = date + timedelta(hours=9, seconds=rng.randint(0, 8 * 3600 - 1))
            ev = AuditEvent(
                "agent_action",
                rng.choice(["read", "read", "read", "write"]),
                agent,
                actor_type="agent",
                resource=f"doc-{rng.randint(1, 6)}",
                source_ip="10.0.0.5",
            )
            ids.append(store.append([ev])[0].event.event_id)
    return ids


def _attack(store: AuditStore, clock: FakeClock, agent: str) -> list[str]:
    ids = []
    for i in range(120):
        clock.now = ATTACK_DAY + timedelta(hours=3, seconds=20 * i)
        ev = AuditEvent(
            "agent_action",
            "read",
            agent,
            actor_type="agent",
            resource=f"secret-{i:03d}",
            source_ip="203.0.113.7",
        )
        ids.append(store.append([ev])[0].event.event_id)
    return ids


@pytest.fixture(scope="module")
def month(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AuditStore, dict[str, list[str]]]]:
    path = Path(tmp_path_factory.mktemp("patterns")) / "audit.db"
    clock = FakeClock(START)
    store = open_store(path, clock=clock, node_id="n1", epoch_seconds=10**8, synchronous="NORMAL")
    rng = random.Random(20251015)
    ids = {
        "A-12345": _normal(store, clock, "A-12345", rng),
        "A-67890": _normal(store, clock, "A-67890", rng),
    }
    ids["attack"] = _attack(store, clock, "A-12345")
    clock.now = END
    yield store, ids
    store.close()


def test_injected_deviations_are_found_with_evidence(
    month: tuple[AuditStore, dict[str, list[str]]],
) -> None:
    store, ids = month
    deviations = PatternAnalyzer(store).identify_anomalies(
        agent_id="A-12345", time_period_days=30, significance_threshold=0.85, end=END
    )
    assert deviations
    features = {d.feature for d in deviations}
    assert {"hour_of_week", "source_ip", "new_resource", "volume"} <= features
    attack = set(ids["attack"])
    recorded = set(ids["A-12345"]) | attack
    for d in deviations:
        assert 0.0 <= d.score <= 1.0
        assert d.score >= 0.85
        assert d.evidence
        assert set(d.evidence) <= recorded
        assert d.evidence_count >= len(d.evidence)
        assert d.explanation
        assert d.window_start.startswith("2025-10-11")
    new_ip = next(d for d in deviations if d.feature == "source_ip")
    assert new_ip.value == "203.0.113.7"
    assert set(new_ip.evidence) <= attack
    assert len(new_ip.evidence) == 50  # max_evidence
    assert new_ip.evidence_count == len(attack)
    assert "never seen on other days" in new_ip.explanation
    night = next(d for d in deviations if d.feature == "hour_of_week")
    assert "Sat 03:00-04:00 UTC" in night.explanation
    assert set(night.evidence) <= attack
    assert [d.score for d in deviations] == sorted((d.score for d in deviations), reverse=True)


def test_normal_behaviour_has_no_significant_deviation(
    month: tuple[AuditStore, dict[str, list[str]]],
) -> None:
    store, _ = month
    report = PatternAnalyzer(store).analyze("A-67890", 30, 0.85, end=END)
    assert report.baseline.events > 300
    assert report.deviations == []
    assert report.scored  # candidates were scored, none reached the threshold
    assert all(0.0 <= d.score <= 1.0 for d in report.scored)
    assert max(d.score for d in report.scored) < 0.85


def test_threshold_filters_and_baseline_summarises(
    month: tuple[AuditStore, dict[str, list[str]]],
) -> None:
    store, _ = month
    analyzer = PatternAnalyzer(store)
    everything = analyzer.analyze("A-12345", 30, 0.0, end=END)
    strict = analyzer.analyze("A-12345", 30, 0.999, end=END)
    assert len(everything.deviations) == len(everything.scored)
    assert len(strict.deviations) < len(everything.deviations)
    assert all(d.score >= 0.999 for d in strict.deviations)
    base = everything.baseline.to_dict()
    assert base["days"] == 30
    assert set(base["resources"]) >= {"doc-1", "doc-2"}
    assert base["source_ips"]["10.0.0.5"] > 100
    assert base["busiest_hour_of_week"].endswith("UTC")


def test_too_little_history_is_said_not_guessed(
    month: tuple[AuditStore, dict[str, list[str]]],
) -> None:
    store, _ = month
    report = PatternAnalyzer(store).analyze("A-nobody", 30, 0.85, end=END)
    assert report.deviations == []
    assert "at least 20 are needed" in report.notes[0]


def test_arguments_are_checked(month: tuple[AuditStore, dict[str, list[str]]]) -> None:
    store, _ = month
    with pytest.raises(ConfigError):
        PatternAnalyzer(store).identify_anomalies("A-1", 0)
    with pytest.raises(ConfigError):
        PatternAnalyzer(store).identify_anomalies("A-1", 30, 1.5)
