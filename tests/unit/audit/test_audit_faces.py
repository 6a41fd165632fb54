"""The seed's faces: every example runs as written; the helpers around them; secret_key."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.audit_trail_service import AuditTrailService
from logging_audit.errors import AccessDeniedError, ConfigError, KeyStoreError
from logging_audit.persistence.agents import agent_signing_payload
from logging_audit.persistence.db_models import ClearanceLevel, Rule


def test_seed_audit_trail_example_runs_as_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    audit = AuditTrailService(log_dir="audit_logs", retention_days=365)
    audit.log_auth_event(
        user_id="user123",
        success=True,
        details={"ip_address": "192.168.1.1", "auth_method": "password"},
    )
    audit.log_data_access(
        user_id="user123",
        resource_id="document_456",
        action="read",
        success=True,
        details={"reason": "quarterly review"},
    )
    results = audit.search_logs(
        criteria={"user_id": "user123"}, start_date="2023-01-01", end_date="2023-01-31"
    )
    assert results == []  # recorded now, not in January 2023
    exported_count = audit.export_logs(
        output_file="monthly_audit.json", start_date="2023-01-01", end_date="2023-01-31"
    )
    assert exported_count == 0
    assert json.loads(Path("monthly_audit.json").read_text()) == []
    verification = audit.verify_integrity()
    assert verification["verified"] is True
    audit.close()
    assert (tmp_path / "audit_logs" / "audit.db").exists()
    assert (tmp_path / "audit_logs" / "audit.db.keys" / "signing.json").exists()


def test_seed_audit_service_example_runs_as_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGAUDIT_AUDIT_DB", raising=False)
    audit_service = AuditService()
    audit_service.record_event(
        agent_id="A-12345",
        action_type="data_access",
        details={"dataset": "customers", "rows": 120},
        clearance_level=ClearanceLevel.LEVEL_3,
    )
    audit_service.record_event(
        agent_id="A-12345",
        action_type="data_access",
        details={"dataset": "payroll"},
        clearance_level=ClearanceLevel.LEVEL_5,
    )
    events = audit_service.query_events(
        agent_id="A-12345",
        action_types=["data_access", "authentication"],
        time_range_hours=24,
        requestor_clearance=ClearanceLevel.LEVEL_4,
    )
    assert [e["details"]["dataset"] for e in events] == ["customers"]
    assert events[0]["agent_id"] == "A-12345"
    assert events[0]["clearance_level"] == 3
    assert audit_service.verify_integrity()["verified"]
    audit_service.close()
    assert (tmp_path / "audit_service" / "audit.db").exists()


@pytest.fixture
def trail(tmp_path: Path) -> Any:
    clock = FakeClock()
    service = AuditTrailService(log_dir=tmp_path / "logs", retention_days=30, clock=clock)
    yield service, clock
    service.close()


def test_trail_helpers_search_page_count_and_export(trail: Any, tmp_path: Path) -> None:
    audit, clock = trail
    audit.log_auth_event("alice", False, {"ip_address": "10.1.1.1"}, action="mfa")
    audit.log_admin_action("root", "role_grant", "alice", {"role": "dba"})
    audit.log_config_change("root", "session.timeout", 900, 300)
    audit.log_user_management("root", "user_create", "bob")
    audit.log_system_event("startup", {"version": "1.0"})
    audit.log_system_event("error", {"trace": "boom"}, success=False)
    clock.advance(days=1)
    found = audit.search_logs({"success": False}, sort="-ts")
    assert [e["action"] for e in found] == ["error", "mfa"]
    assert found[1]["source_ip"] == "10.1.1.1"
    assert audit.search_logs({"resource": "session.timeout"})[0]["details"] == {
        "new_value": 300,
        "old_value": 900,
    }
    assert audit.count_logs({"event_type": "administrative"}) == 3
    page = audit.search_page({"event_type": ["administrative", "system"]}, limit=2)
    assert page["count"] == 2
    assert page["next_cursor"]
    more = audit.search_page(
        {"event_type": ["administrative", "system"]}, limit=2, cursor=page["next_cursor"]
    )
    assert more["events"][0]["seq"] > page["events"][-1]["seq"]
    out = tmp_path / "exports" / "all.json"
    n = audit.export_logs(out, "2026-01-01", "2026-01-01", criteria={"actor": "root"})
    assert n == 3
    assert [e["actor"] for e in json.loads(out.read_text())] == ["root"] * 3
    custody = audit.search_logs({"action": "export_custody"})
    assert custody[0]["details"]["result_count"] == 3
    assert len(custody[0]["details"]["sha256"]) == 64
    # a reader below LEVEL_3 sees no admin events, and counts say nothing about them
    assert audit.count_logs({"event_type": "administrative"}, requestor_clearance=2) == 0
    assert audit.search_logs({"actor": "root"}, requestor_clearance=ClearanceLevel.LEVEL_2) == []
    assert audit.export_logs(out, criteria={"actor": "root"}, requestor_clearance=1) == 0


def test_trail_retention_on_open(tmp_path: Path) -> None:
    clock = FakeClock()
    first = AuditTrailService(log_dir=tmp_path, retention_days=1, clock=clock)
    first.log_system_event("startup")
    first.close()
    clock.advance(days=3)
    second = AuditTrailService(log_dir=tmp_path, retention_days=1, clock=clock)
    assert second.search_logs({"action": "startup"}) == []
    assert second.search_logs({"action": "retention_prune"})
    assert second.verify_integrity()["verified"]
    second.close()


def test_secret_key_seals_the_kept_verifier(tmp_path: Path) -> None:
    secret = "correct horse battery staple"
    audit = AuditTrailService(log_dir=tmp_path, secret_key=secret, epoch_seconds=1)
    audit.log_system_event("startup")
    report = audit.verify_integrity()
    assert report["verified"]
    assert "sealed verifier" in report["verifier"]
    assert report["mac_epochs_unchecked"] == []
    audit.close()
    keys = tmp_path / "audit.db.keys"
    assert sorted(p.name for p in keys.iterdir()) == ["signing.json", "verifier.sealed.json"]
    for path in [*keys.iterdir(), tmp_path / "audit.db"]:
        assert secret.encode() not in path.read_bytes()
    assert secret not in repr(audit)
    with pytest.raises(KeyStoreError, match="secret_key does not open"):
        AuditTrailService(log_dir=tmp_path, secret_key="wrong secret value")
    with pytest.raises(ConfigError, match="at least 8 bytes"):
        AuditTrailService(log_dir=tmp_path / "other", secret_key="short")


def test_bad_dates_and_fields_name_the_culprit(trail: Any) -> None:
    audit, _ = trail
    with pytest.raises(ConfigError, match="end_date '2023-02-30'"):
        audit.search_logs(end_date="2023-02-30")
    with pytest.raises(ConfigError, match="unknown search field 'usr'"):
        audit.search_logs({"usr": "x"})
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["deep"] = {}
        node = node["deep"]
    with pytest.raises(ConfigError, match=r"nested deeper than 32 levels"):
        audit.log_system_event("x", deep)
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        audit.log_system_event("x", {"bad": "\udcff"})
    with pytest.raises(ConfigError, match="limit of 65536 bytes"):
        audit.log_system_event("x", {"huge": "y" * 70_000})


@pytest.fixture
def service(tmp_path: Path) -> Any:
    svc = AuditService(tmp_path / "agents" / "audit.db")
    yield svc
    svc.close()


def test_agent_signed_events_are_attributed(service: AuditService) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    service.register_agent("A-7", ClearanceLevel.LEVEL_3, public_key=public, registered_by="ops")
    event_id = uuid.uuid4().hex
    details = {"dataset": "x"}
    payload = agent_signing_payload(event_id, "A-7", "data_access", details, 3)
    sig = base64.b64encode(key.sign(payload)).decode()
    service.record_event("A-7", "data_access", details, 3, event_id=event_id, signature=sig)
    (event,) = service.query_events("A-7", requestor_clearance=5)
    assert event["agent_signature"]["kid"] == service.agents.get_agent("A-7").key_id  # type: ignore[union-attr]
    assert service.verify_event_signature(event)
    with pytest.raises(ConfigError, match="already recorded"):  # a signed event cannot be replayed
        service.record_event("A-7", "data_access", details, 3, event_id=event_id, signature=sig)
    with pytest.raises(AccessDeniedError, match="does not verify"):
        service.record_event(
            "A-7", "data_access", {"dataset": "y"}, 3, event_id=uuid.uuid4().hex, signature=sig
        )
    assert service.count_events("A-7", requestor_clearance=5) == 1


def test_agent_registry_policy_and_batch(service: AuditService) -> None:
    service.register_agent("A-1", ClearanceLevel.LEVEL_2)
    assert service.verify_agent_clearance("A-1", 2)
    assert not service.verify_agent_clearance("A-1", 3)
    service.set_agent_clearance("A-1", 4, changed_by="ops")
    assert service.verify_agent_clearance("A-1", 3)
    service.agents.add_rule(Rule("r1", "reads", frozenset({"data_access"}), ClearanceLevel.LEVEL_3))
    assert service.evaluate_policy("A-1", "data_access").allowed
    assert not service.evaluate_policy("A-1", "delete_all").allowed
    ids = service.record_events(
        [{"agent_id": "A-1", "action_type": "step", "details": {"i": i}} for i in range(50)]
    )
    assert len(set(ids)) == 50
    query = EventQuery.build({"event_type": "administrative"})
    admin = service.store.search(query, Requestor("t", ClearanceLevel.LEVEL_5)).events
    assert [e.event.action for e in admin] == [
        "agent_register",
        "agent_clearance_change",
        "policy_evaluate",
        "policy_evaluate",
    ]
    with pytest.raises(ConfigError, match="unknown keys"):
        service.record_events([{"agent_id": "A-1", "action_type": "x", "colour": 1}])


def test_required_registration(tmp_path: Path) -> None:
    svc = AuditService(os.fspath(tmp_path / "a.db"), require_registered_agents=True)
    try:
        with pytest.raises(AccessDeniedError):
            svc.record_event("ghost", "x")
    finally:
        svc.close()
