"""OCSF mapping: each event type and action lands in its documented class and activity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from logging_audit.audit.events import AgentSignature, AuditEvent, EventType
from logging_audit.audit.ocsf import (
    MAPPING_TABLE,
    OCSF_VERSION,
    OcsfActivity,
    ocsf_activity,
    to_ocsf,
)
from logging_audit.audit.records import StoredEvent

DOCS = Path(__file__).resolve().parents[3] / "docs" / "audit-export.md"

# (event type, action, resource, details) -> (class_uid, activity_id); written out by hand
# from the OCSF 1.3.0 schema, independent of the tables in ocsf.py
CASES: list[tuple[str, str, str | None, dict[str, Any], int, int]] = [
    ("authentication", "login", None, {}, 3002, 1),
    ("authentication", "logon", None, {}, 3002, 1),
    ("authentication", "logout", None, {}, 3002, 2),
    ("authentication", "mfa", None, {}, 3002, 99),
    ("authentication", "password_spray", None, {}, 3002, 99),
    ("administrative", "user_create", "bob", {}, 3001, 1),
    ("administrative", "user_enable", "bob", {}, 3001, 2),
    ("administrative", "password_change", "bob", {}, 3001, 3),
    ("administrative", "password_reset", "bob", {}, 3001, 4),
    ("administrative", "user_disable", "bob", {}, 3001, 5),
    ("administrative", "user_delete", "bob", {}, 3001, 6),
    ("administrative", "role_grant", "bob", {}, 3001, 7),
    ("administrative", "role_revoke", "bob", {}, 3001, 8),
    ("administrative", "user_lock", "bob", {}, 3001, 9),
    ("administrative", "user_update", "bob", {}, 3001, 99),
    ("administrative", "config_change", "retention", {}, 3004, 3),
    ("administrative", "legal_hold_place", "h1", {}, 3004, 1),
    ("administrative", "agent_register", "A-1", {}, 3004, 1),
    ("administrative", "agent_clearance_change", "A-1", {}, 3004, 3),
    ("administrative", "create_api_token", None, {}, 6003, 1),
    ("administrative", "delete_webhook", None, {}, 6003, 4),
    ("administrative", "backup", None, {}, 6003, 99),
    ("system", "startup", None, {}, 6002, 3),
    ("system", "shutdown", None, {}, 6002, 4),
    ("system", "restart", None, {}, 6002, 5),
    ("system", "error", None, {}, 6002, 99),
    ("system", "retention_prune", None, {}, 1008, 2),
    ("data_access", "read", "/srv/report.pdf", {}, 1001, 2),
    ("data_access", "write", "C:\\data\\x.xlsx", {}, 1001, 3),
    ("data_access", "delete", "file:///tmp/x", {}, 1001, 4),
    ("data_access", "read", "document_456", {"path": "/docs/456.pdf"}, 1001, 2),
    ("data_access", "read", "document_456", {}, 6005, 1),
    ("data_access", "write", "document_456", {}, 6005, 5),
    ("data_access", "delete", "document_456", {}, 6005, 7),
    ("data_access", "export", "document_456", {}, 6005, 99),
    ("agent_action", "read_inbox", None, {}, 6003, 2),
    ("agent_action", "update_ticket", None, {}, 6003, 3),
    ("agent_action", "summarise", None, {}, 6003, 99),
    ("query", "search", None, {}, 6005, 4),
    ("query", "count", None, {}, 6005, 4),
    ("query", "ledger_read", None, {}, 6005, 1),
    ("query", "export", None, {}, 1008, 3),
    ("query", "export_manifest", None, {}, 1008, 3),
    ("query", "export_custody", None, {}, 1008, 3),
    ("custom", "whatever", None, {}, 0, 99),
]


@pytest.mark.parametrize(
    ("event_type", "action", "resource", "details", "class_uid", "activity_id"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES],
)
def test_mapping(
    event_type: str,
    action: str,
    resource: str | None,
    details: dict[str, Any],
    class_uid: int,
    activity_id: int,
) -> None:
    got = ocsf_activity(event_type, action, resource, details)
    assert (got.ocsf_class.class_uid, got.activity_id) == (class_uid, activity_id)
    assert got.type_uid == class_uid * 100 + activity_id
    assert got.ocsf_class.category_uid == class_uid // 1000


def test_every_event_type_has_a_real_class() -> None:
    for et in EventType:
        assert ocsf_activity(et.value, "anything").ocsf_class.class_uid != 0, et


def _stored(event: AuditEvent, seq: int = 7) -> StoredEvent:
    return StoredEvent(seq, "2026-11-29T10:00:00.123456Z", b"", event)


def test_full_object_of_a_login() -> None:
    ev = AuditEvent(
        "authentication",
        "login",
        "user123",
        source_ip="192.168.1.1",
        details={"auth_method": "saml", "ip_address": "192.168.1.1"},
    )
    out = to_ocsf(_stored(ev), origin="logaudit/n/audit", node_id="n")
    assert out["class_uid"] == 3002
    assert out["category_name"] == "Identity & Access Management"
    assert out["activity_name"] == "Logon"
    assert out["type_name"] == "Authentication: Logon"
    assert out["time"] == 1795946400123  # 2026-11-29T10:00:00.123Z in ms
    assert out["status_id"] == 1
    assert out["status"] == "Success"
    assert out["severity_id"] == 1
    assert out["metadata"]["version"] == OCSF_VERSION
    assert out["metadata"]["uid"] == ev.event_id
    assert out["metadata"]["sequence"] == 7
    assert out["metadata"]["log_name"] == "logaudit/n/audit"
    assert out["metadata"]["product"]["name"] == "logging_audit"
    assert out["user"] == {"uid": "user123", "name": "user123", "type_id": 1, "type": "User"}
    assert out["actor"]["user"]["uid"] == "user123"
    assert out["src_endpoint"] == {"ip": "192.168.1.1"}
    assert out["auth_protocol"] == "saml"
    assert out["auth_protocol_id"] == 5
    assert out["is_mfa"] is False
    assert out["device"]["hostname"] == "n"
    kept = out["unmapped"]["logging_audit"]
    assert kept["details"] == {"auth_method": "saml", "ip_address": "192.168.1.1"}
    assert kept["clearance_level"] == 1


def test_failures_errors_and_severity() -> None:
    failed = to_ocsf(
        _stored(AuditEvent("authentication", "login", "mallory", outcome="failure")), origin="o"
    )
    assert (failed["status_id"], failed["severity_id"], failed["severity"]) == (2, 3, "Medium")
    crash = to_ocsf(
        _stored(AuditEvent("system", "error", "system", actor_type="system")), origin="o"
    )
    assert crash["severity_id"] == 4
    assert crash["actor"]["user"]["type_id"] == 3
    told = to_ocsf(
        _stored(AuditEvent("system", "error", "system", details={"severity": "critical"})),
        origin="o",
    )
    assert told["severity_id"] == 5
    odd = to_ocsf(_stored(AuditEvent("system", "x", "s", outcome="partial")), origin="o")
    assert (odd["status_id"], odd["status"]) == (99, "partial")


def test_class_specific_objects() -> None:
    mfa = to_ocsf(_stored(AuditEvent("authentication", "mfa", "u")), origin="o")
    assert mfa["is_mfa"] is True
    acct = to_ocsf(
        _stored(AuditEvent("administrative", "user_create", "admin", resource="bob")), origin="o"
    )
    assert acct["user"]["uid"] == "bob"
    assert acct["actor"]["user"]["uid"] == "admin"
    ent = to_ocsf(
        _stored(AuditEvent("administrative", "config_change", "admin", resource="retention")),
        origin="o",
    )
    assert ent["entity"] == {"uid": "retention", "name": "retention", "type": "configuration"}
    api = to_ocsf(
        _stored(
            AuditEvent(
                "agent_action",
                "update_ticket",
                "A-1",
                actor_type="agent",
                resource="T-9",
                agent_sig=AgentSignature("k", "s"),
            )
        ),
        origin="o",
    )
    assert api["api"]["operation"] == "update_ticket"
    assert api["resources"] == [{"uid": "T-9", "name": "T-9"}]
    assert api["actor"]["user"] == {"uid": "A-1", "name": "A-1", "type_id": 99, "type": "Agent"}
    assert api["unmapped"]["logging_audit"]["agent_signature"] == {"kid": "k", "sig": "s"}
    app = to_ocsf(
        _stored(AuditEvent("system", "startup", "system", source_node="web-1")), origin="o"
    )
    assert app["app"] == {"name": "web-1"}
    f = to_ocsf(
        _stored(AuditEvent("data_access", "read", "u", resource="/srv/a/b.pdf")), origin="o"
    )
    assert f["file"]["name"] == "b.pdf"
    assert f["file"]["path"] == "/srv/a/b.pdf"
    assert "device" in f
    q = to_ocsf(
        _stored(AuditEvent("query", "search", "u", details={"criteria": {"text": "x"}})), origin="o"
    )
    assert q["query_info"]["query_string"] == '{"text":"x"}'
    log = to_ocsf(_stored(AuditEvent("query", "export", "u")), origin="logaudit/n/audit")
    assert log["log_name"] == "logaudit/n/audit"
    assert log["device"] == {"type_id": 0, "type": "Unknown"}


def _row(event_type: str, action: str, resource: str | None, act: OcsfActivity) -> str:
    cls = act.ocsf_class
    res = f"`{resource}`" if resource else "any"
    return (
        f"| {event_type} | {action} | {res} | {cls.class_uid} {cls.class_name} | "
        f"{act.activity_id} {act.activity_name} |"
    )


def test_docs_table_is_the_code_table() -> None:
    """docs/audit-export.md lists every row of MAPPING_TABLE exactly as the code maps it."""
    text = DOCS.read_text(encoding="utf-8")
    rows = [_row(*entry) for entry in MAPPING_TABLE]
    missing = [row for row in rows if row not in text]
    assert not missing, "docs/audit-export.md is missing rows:\n" + "\n".join(missing)
