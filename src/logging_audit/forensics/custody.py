"""Chain of custody of forensic results, recorded in the audit ledger itself.

Every reconstruction (and every file written from one) appends one
``administrative`` event with action ``forensic_custody``: who ran it (the
analyst), when (the ledger's time), what (``operation``, ``subject`` — the
incident id or ``timeline``), with which parameters, and the SHA-256 of the
result. The event is a ledger entry like any other: hash-chained, MAC'd and,
at the next checkpoint, covered by a signed tree head, so the record of who
produced which result cannot be changed afterwards. It is classified at the
analyst's clearance: readers below it do not learn what was investigated.

To check a result later, recompute its digest (:meth:`Timeline.digest
<logging_audit.forensics.timeline.Timeline.digest>`, or SHA-256 of an output
file) and compare it with the recorded ``result_sha256``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from logging_audit import __version__
from logging_audit.audit.events import AuditEvent, EventType
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["CUSTODY_ACTION", "CustodyRecord", "custody_records", "record_custody"]

CUSTODY_ACTION = "forensic_custody"
"""The action of custody events."""


@dataclass(frozen=True)
class CustodyRecord:
    """One custody event as recorded."""

    event_id: str
    seq: int
    recorded_at: str
    analyst: str
    operation: str
    subject: str
    result_sha256: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, sha256: str) -> bool:
        """True when ``sha256`` (hex) is the recorded digest of the result."""
        return sha256.lower() == self.result_sha256

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "event_id": self.event_id,
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "analyst": self.analyst,
            "operation": self.operation,
            "subject": self.subject,
            "result_sha256": self.result_sha256,
            "parameters": dict(self.parameters),
            "summary": dict(self.summary),
        }

    @classmethod
    def from_stored(cls, stored: StoredEvent) -> CustodyRecord:
        """Rebuild a record from its stored event."""
        d = stored.event.details
        params = d.get("parameters")
        summary = d.get("summary")
        return cls(
            stored.event.event_id,
            stored.seq,
            stored.ts,
            stored.event.actor,
            str(d.get("operation", "")),
            stored.event.resource or "",
            str(d.get("result_sha256", "")),
            params if isinstance(params, dict) else {},
            summary if isinstance(summary, dict) else {},
        )


def record_custody(
    store: AuditStore,
    analyst: Requestor,
    *,
    operation: str,
    subject: str,
    parameters: Mapping[str, Any],
    result_sha256: str,
    summary: Mapping[str, Any] | None = None,
    classification: ClearanceLevel | None = None,
) -> CustodyRecord:
    """Append a custody event for a result; return it as recorded."""
    event = AuditEvent(
        event_type=EventType.ADMINISTRATIVE,
        action=CUSTODY_ACTION,
        actor=analyst.requestor_id,
        actor_type=analyst.actor_type,
        resource=subject,
        source_node=store.node_id,
        clearance=classification or analyst.clearance,
        details={
            "operation": operation,
            "parameters": dict(parameters),
            "result_sha256": result_sha256,
            "summary": dict(summary or {}),
            "tool": f"logging_audit {__version__}",
        },
        limits=store.limits,
    )
    return CustodyRecord.from_stored(store.append([event])[0])


def custody_records(
    store: AuditStore, analyst: Requestor, subject: str | None = None
) -> list[CustodyRecord]:
    """The custody records (of ``subject``, or all) the analyst may see, oldest first."""
    criteria: dict[str, Any] = {"event_type": "administrative", "action": CUSTODY_ACTION}
    if subject is not None:
        criteria["resource"] = subject
    query = EventQuery.build(criteria)
    return [
        CustodyRecord.from_stored(s)
        for s in store.iter_events(query, analyst, purpose="custody_read")
    ]
