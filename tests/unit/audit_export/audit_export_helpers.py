"""Sample events and requestors shared by the export and bundle tests."""

from __future__ import annotations

from logging_audit.audit.events import AgentSignature, AuditEvent
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.persistence.models import ClearanceLevel

SECRET_WORD = "zanzibar"
"""A word that only LEVEL_4 and LEVEL_5 events carry (tests look for leaks of it)."""


def sample_events() -> list[AuditEvent]:
    """A varied set: every event type, every clearance, awkward strings."""
    L = ClearanceLevel
    return [
        AuditEvent(
            "authentication",
            "login",
            "user123",
            source_ip="192.168.1.1",
            details={"ip_address": "192.168.1.1", "auth_method": "password"},
        ),
        AuditEvent("authentication", "login", "mallory", outcome="failure", details={"n": 3}),
        AuditEvent("authentication", "mfa", "user123", details={"mfa": True}),
        AuditEvent("authentication", "logout", "user123"),
        AuditEvent(
            "data_access",
            "read",
            "user123",
            resource="document_456",
            clearance=L.LEVEL_2,
            details={"bytes": 1024, "ratio": 0.5, "tags": ["a", "b"], "nested": {"x": None}},
        ),
        AuditEvent("data_access", "write", "user123", resource="/srv/files/report.pdf"),
        AuditEvent(
            "administrative",
            "user_create",
            "admin",
            resource="bob",
            clearance=L.LEVEL_3,
            details={"roles": ["viewer"]},
        ),
        AuditEvent(
            "administrative",
            "config_change",
            "admin",
            resource="retention_days",
            clearance=L.LEVEL_3,
            details={"old": 365, "new": 400},
        ),
        AuditEvent("system", "startup", "system", actor_type="system", source_node="web-1"),
        AuditEvent(
            "system",
            "error",
            "system",
            actor_type="system",
            outcome="failure",
            details={"severity": "critical", "message": "disk full"},
        ),
        AuditEvent(
            "agent_action",
            "read_inbox",
            "A-12345",
            actor_type="agent",
            clearance=L.LEVEL_3,
            agent_sig=AgentSignature("0011223344556677", "c2lnbmF0dXJl"),
            details={"items": 4},
        ),
        # formula-looking and awkward strings: stored and exported exactly
        AuditEvent(
            "data_access",
            "read",
            '=HYPERLINK("http://evil")',
            resource="+SUM(A1:A9)",
            details={"cell": "-2+3", "at": "@cmd", "quote": "'x", "tab": "\tx", "nul": "a\x00b"},
        ),
        AuditEvent(
            "data_access",
            "read",
            'user,with"quotes\nand newline',
            resource="@resource",
            source_node="-node",
            details={"unicode": "żółw 🐢", "cr": "\rstart"},
        ),
        # above LEVEL_3: never visible to a LEVEL_3 reader
        AuditEvent(
            "data_access",
            "read",
            "spy",
            resource="vault",
            clearance=L.LEVEL_4,
            details={"word": SECRET_WORD},
        ),
        AuditEvent(
            "administrative",
            "role_grant",
            "root",
            resource="spy",
            clearance=L.LEVEL_5,
            details={"word": SECRET_WORD, "role": "top"},
        ),
    ]


def populate(store: AuditStore) -> list[StoredEvent]:
    """Record :func:`sample_events`; return them as stored."""
    return store.append(sample_events())


AUDITOR = Requestor("auditor", ClearanceLevel.LEVEL_5)
READER3 = Requestor("reader3", ClearanceLevel.LEVEL_3)
