"""The seed's forensic examples run as written, on the embedded default store."""

from __future__ import annotations

from pathlib import Path

import pytest

from logging_audit.audit_service import AuditService


def test_seed_examples_run_on_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGAUDIT_AUDIT_DB", raising=False)
    with AuditService() as audit_service:
        recorded = audit_service.record_event("A-12345", "data_access", {"doc": "d1"}, 3)

    # the seed, verbatim (``...`` means an open bound)
    from logging_audit.forensics.pattern_analyzer import PatternAnalyzer
    from logging_audit.forensics.timeline import TimelineAnalyzer

    timeline = TimelineAnalyzer()
    incident_timeline = timeline.reconstruct(
        incident_id="INC-20251015-001",
        start_time=...,
        end_time=...,
        related_agents=["A-12345", "A-67890"],
    )
    unusual_patterns = PatternAnalyzer().identify_anomalies(
        agent_id="A-12345", time_period_days=30, significance_threshold=0.85
    )

    assert [e.event_id for e in incident_timeline.events] == [recorded]
    assert incident_timeline.events[0].integrity.verified  # AuditService.close() checkpointed
    assert unusual_patterns == []
    assert (tmp_path / "audit_service" / "audit.db").exists()


def test_environment_variable_names_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "elsewhere" / "trail.db"
    monkeypatch.setenv("LOGAUDIT_AUDIT_DB", str(db))
    monkeypatch.chdir(tmp_path)
    with AuditService() as svc:
        svc.record_event("A-1", "ping")
    from logging_audit.forensics.timeline import TimelineAnalyzer

    assert len(TimelineAnalyzer().reconstruct(related_agents=["A-1"])) == 1
    assert len(TimelineAnalyzer(str(db)).reconstruct(related_agents=["A-1"])) == 1
    assert not (tmp_path / "audit_service").exists()
