"""``AnomalyDetector`` on a real store: the seed API, baselines, alerts, handlers, streaming."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from detection_helpers import T0, make_obs, office_worker_history

from logging_audit.anomaly_detection import AnomalyDetector
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.detection.alerts import ALERT_ACTION, HANDLER_FAILURE_ACTION
from logging_audit.detection.model import Obs
from logging_audit.errors import ConfigError

NOW = T0 + 22 * 86400  # Tuesday of week 4, 00:00 UTC
ADMIN = Requestor("auditor", 5)


def record(store: AuditStore, clock: FakeClock, events: list[Obs]) -> list[StoredEvent]:
    """Record events at their own times (the store's clock is moved to each)."""
    out: list[StoredEvent] = []
    saved = clock.now
    for e in sorted(events, key=lambda x: x.ts):
        clock.now = datetime.fromtimestamp(e.ts, timezone.utc)
        event = AuditEvent(
            event_type=e.event_type,
            action=e.action,
            actor=e.actor,
            actor_type=e.actor_type,
            outcome=e.outcome,
            resource=e.resource,
            source_ip=e.source_ip,
            clearance=e.clearance,
            details=dict(e.details),
        )
        out.extend(store.append([event]))
    clock.now = max(saved, clock.now)
    return out


def alerts_in(store: AuditStore) -> list[StoredEvent]:
    query = EventQuery.build({"action": ALERT_ACTION})
    return list(store.iter_events(query, ADMIN))


@pytest.fixture
def history(store: AuditStore, clock: FakeClock) -> AuditStore:
    record(store, clock, office_worker_history("alice") + office_worker_history("bob"))
    clock.now = datetime.fromtimestamp(NOW + 4 * 3600, timezone.utc)
    return store


def night_session(actor: str = "alice", clearance: int = 2) -> list[Obs]:
    return [
        make_obs(NOW + 2 * 3600 + i * 300, actor, resource=f"eng/docs/doc-{i}", clearance=clearance)
        for i in range(5)
    ]


def test_seed_api_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGAUDIT_AUDIT_DB", raising=False)
    monkeypatch.delenv("LOGAUDIT_MODELS_DIR", raising=False)
    received: list[dict[str, Any]] = []

    def alert_handler_function(alert: dict[str, Any]) -> None:
        received.append(alert)

    detector = AnomalyDetector(sensitivity="medium")
    detector.configure(baseline_days=30, update_frequency_hours=24, alert_threshold=0.75)
    anomalies = detector.analyze_current_activity(
        agent_id="A-12345", context={"operation_type": "information_retrieval"}
    )
    detector.register_alert_handler(alert_handler_function)
    assert anomalies == []
    assert (tmp_path / "audit_service" / "audit.db").exists()
    assert detector.baseline_file.parent == tmp_path / "audit_service" / "audit.db.models"
    detector.close()


def test_baseline_is_learned_kept_and_refreshed(history: AuditStore, clock: FakeClock) -> None:
    det = AnomalyDetector(store=history, models_dir=history.driver.path.parent / "models")  # type: ignore[attr-defined]
    b = det.get_baseline()
    assert set(b.actors) == {"alice", "bob"}
    doc = json.loads(det.baseline_file.read_text())
    assert doc["tree_size"] >= 360
    assert doc["checkpoint"]["size"] <= doc["tree_size"]
    assert doc["baseline_days"] == 30
    learned = b.learned_at
    clock.advance(hours=1)
    assert det.get_baseline().learned_at == learned  # fresh: kept
    clock.advance(hours=24)
    assert det.get_baseline().learned_at != learned  # update_frequency_hours passed
    other = AnomalyDetector(store=history, models_dir=det.models_dir)
    assert other.get_baseline().learned_at == det.get_baseline().learned_at  # loaded from disk
    other.configure(baseline_days=7)
    assert other.get_baseline().baseline_days == 7


def test_analyze_records_alerts_once_and_calls_handlers(
    history: AuditStore, clock: FakeClock
) -> None:
    record(history, clock, night_session())
    det = AnomalyDetector(store=history, models_dir=history.driver.path.parent / "m")  # type: ignore[attr-defined]
    got: list[dict[str, Any]] = []
    det.register_alert_handler(got.append)
    anomalies = det.analyze_current_activity("alice", {"operation_type": "administration"})
    assert [a["detector"] for a in anomalies] == ["off_hours"]
    alert = anomalies[0]
    assert alert["score"] >= 0.75
    assert alert["facts"]["outside_operation_type"] == ["read"]
    assert alert["context"] == {"operation_type": "administration"}
    assert got == anomalies
    stored = alerts_in(history)
    assert [s.event.event_id for s in stored] == [alert["alert_id"]]
    assert stored[0].event.details["explanation"] == alert["explanation"]
    assert stored[0].event.details["evidence"] == alert["evidence"]
    # the same incident again: returned, not re-recorded or re-sent — even by a new detector
    again = AnomalyDetector(store=history, models_dir=det.models_dir)
    again.register_alert_handler(got.append)
    assert again.analyze_current_activity("alice")[0]["alert_id"] == alert["alert_id"]
    assert len(alerts_in(history)) == 1
    assert len(got) == 1


def test_threshold_and_sensitivity_change_results(history: AuditStore, clock: FakeClock) -> None:
    record(history, clock, night_session()[:2])  # two events: below medium's three
    models = history.driver.path.parent / "m"  # type: ignore[attr-defined]
    assert AnomalyDetector(store=history, models_dir=models).analyze_current_activity("alice") == []
    high = AnomalyDetector("high", store=history, models_dir=models)
    assert [a["detector"] for a in high.analyze_current_activity("alice")] == ["off_hours"]
    strict = AnomalyDetector("high", store=history, models_dir=models)
    strict.configure(alert_threshold=0.99)
    assert strict.analyze_current_activity("alice") == []


def test_failing_handler_is_reported_and_others_still_run(
    history: AuditStore, clock: FakeClock
) -> None:
    record(history, clock, night_session(clearance=4))
    det = AnomalyDetector(store=history, models_dir=history.driver.path.parent / "m")  # type: ignore[attr-defined]

    def broken(alert: dict[str, Any]) -> None:
        raise RuntimeError("pager down")

    seen: list[dict[str, Any]] = []
    det.register_alert_handler(broken)
    det.register_alert_handler(seen.append)
    anomalies = det.analyze_current_activity("alice")
    assert len(seen) == 1
    failures = list(
        history.iter_events(EventQuery.build({"action": HANDLER_FAILURE_ACTION}), ADMIN)
    )
    assert len(failures) == 1
    assert "pager down" in failures[0].event.details["error"]
    assert failures[0].event.details["alert_id"] == anomalies[0]["alert_id"]
    # the alert is classified like its evidence: a LEVEL_1 reader does not see it
    low = Requestor("intern", 1)
    assert list(history.iter_events(EventQuery.build({"action": ALERT_ACTION}), low)) == []
    with pytest.raises(ConfigError):
        det.register_alert_handler("not callable")  # type: ignore[arg-type]


def test_brute_force_against_the_actor_is_seen(history: AuditStore, clock: FakeClock) -> None:
    attack = [
        make_obs(
            NOW + 3 * 3600 + i * 10,
            "bob",
            event_type="authentication",
            action="login",
            outcome="failure",
            source_ip="203.0.113.9",
        )
        for i in range(12)
    ]
    record(history, clock, attack)
    det = AnomalyDetector(store=history, models_dir=history.driver.path.parent / "m")  # type: ignore[attr-defined]
    found = det.analyze_current_activity("bob", window_hours=6)
    assert "brute_force" in {a["detector"] for a in found}


def test_streaming_observe_and_follow(history: AuditStore, clock: FakeClock) -> None:
    det = AnomalyDetector(store=history, models_dir=history.driver.path.parent / "m")  # type: ignore[attr-defined]
    got: list[dict[str, Any]] = []
    det.register_alert_handler(got.append)
    follower = det.follow(poll_interval=0.01)
    stored = record(history, clock, night_session())
    assert [a["detector"] for a in det.observe(stored)] == ["off_hours"]
    assert len(got) == 1
    # the follower sees the same events by polling; its own engine state is shared, so the
    # incident is not alerted twice
    assert follower.poll_once() == []
    assert follower.events >= 5
    assert follower.poll_once() == []  # nothing new (its own query record is not news)
    more = record(history, clock, [make_obs(NOW + 5 * 3600, "bob", details={"note": "x" * 10})])
    follower.poll_once()
    assert follower.last_seq == more[-1].seq
    thread = follower.start()
    follower.stop()
    assert not thread.is_alive()


def test_configuration_errors(history: AuditStore) -> None:
    det = AnomalyDetector(store=history)
    with pytest.raises(ConfigError, match="alert_threshold"):
        det.configure(alert_threshold=2)
    with pytest.raises(ConfigError, match="baseline_days"):
        det.configure(baseline_days=0)
    with pytest.raises(ConfigError, match="sensitivity"):
        AnomalyDetector("extreme", store=history)
    with pytest.raises(ConfigError, match="not both"):
        AnomalyDetector(database_url="x.db", store=history)
    with pytest.raises(ConfigError, match="agent_id"):
        det.analyze_current_activity("")


def test_sigma_rules_from_the_registry(history: AuditStore, clock: FakeClock) -> None:
    from logging_audit.persistence.agents import AgentDatabase

    rule = """
title: Role granted to admin
id: t-role
level: high
detection:
  sel:
    action: role_grant
    role: admin
  condition: sel
"""
    registry = AgentDatabase()
    AnomalyDetector(store=history).add_sigma_rule(rule, registry=registry)
    det = AnomalyDetector(store=history, registry=registry, detectors=[])
    grab = make_obs(
        NOW + 3 * 3600,
        "bob",
        event_type="administrative",
        action="role_grant",
        details={"role": "admin"},
    )
    stored = record(history, clock, [grab])
    found = det.observe(stored)
    assert [a["detector"] for a in found] == ["sigma:t-role"]
    assert timedelta(seconds=0) <= clock.now - datetime.fromtimestamp(grab.ts, timezone.utc)
