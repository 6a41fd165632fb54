"""What the audit store hands back: stored events, checkpoints, pages, reports.

The result shape of one event (:meth:`StoredEvent.to_dict`) is stable::

    {"event_id": str, "seq": int, "timestamp": "2026-11-29T10:00:00.123456Z",
     "event_type": str, "action": str, "outcome": "success" | "failure" | …,
     "success": bool, "actor": str, "actor_type": "user" | "agent" | "system",
     "user_id": str | None, "agent_id": str | None, "resource": str | None,
     "source_ip": str | None, "source_node": str | None, "clearance_level": int,
     "details": {...}, "agent_signature": {"kid": str, "sig": str} | None}

Every key is always present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logging_audit.audit.events import AuditEvent
from logging_audit.errors import ConfigError
from logging_audit.ledger import (
    Checkpoint,
    StreamStart,
    VerificationReport,
    leaf_hash,
    unframe_line,
)
from logging_audit.persistence.models import ClearanceLevel, check_identifier

__all__ = [
    "IndexFailure",
    "IntegrityReport",
    "LegalHold",
    "PruneResult",
    "Requestor",
    "SearchPage",
    "StoredCheckpoint",
    "StoredEvent",
]


@dataclass(frozen=True)
class Requestor:
    """Who reads: an id recorded in the audit trail, and a clearance (no read-up)."""

    requestor_id: str
    clearance: ClearanceLevel
    actor_type: str = "user"

    def __post_init__(self) -> None:
        check_identifier(self.requestor_id, "requestor id")
        check_identifier(self.actor_type, "requestor actor type")
        object.__setattr__(self, "clearance", ClearanceLevel.coerce(self.clearance))


@dataclass(frozen=True, init=False)
class StoredEvent:
    """An event as stored: its seq, time, the framed line (the truth) and the decoded event."""

    seq: int
    ts: str
    line: bytes
    event: AuditEvent

    def __init__(self, seq: int, ts: str, line: bytes, event: AuditEvent) -> None:
        """The dataclass's ``__init__``, written out (appends and reads make one per event)."""
        self.__dict__.update(seq=seq, ts=ts, line=line, event=event)

    @property
    def entry(self) -> bytes:
        """The entry bytes (the line without its MAC), as hashed into the tree."""
        return unframe_line(self.line)[0]

    @property
    def leaf_hash(self) -> bytes:
        """RFC 6962 leaf hash of the entry."""
        return leaf_hash(self.entry)

    def to_dict(self) -> dict[str, Any]:
        """The stable result shape (see the module docstring)."""
        e = self.event
        sig = e.agent_sig
        return {
            "event_id": e.event_id,
            "seq": self.seq,
            "timestamp": self.ts,
            "event_type": e.event_type,
            "action": e.action,
            "outcome": e.outcome,
            "success": e.success,
            "actor": e.actor,
            "actor_type": e.actor_type,
            "user_id": e.actor if e.actor_type == "user" else None,
            "agent_id": e.actor if e.actor_type == "agent" else None,
            "resource": e.resource,
            "source_ip": e.source_ip,
            "source_node": e.source_node,
            "clearance_level": int(e.clearance),
            "details": e.details,
            "agent_signature": None if sig is None else sig.to_fields(),
        }


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint kept in the checkpoints table."""

    checkpoint_id: int
    note: str
    checkpoint: Checkpoint
    created_at: str

    @property
    def size(self) -> int:
        """The tree size it signs."""
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        """The root hash it signs."""
        return self.checkpoint.root_hash


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: events and the cursor of the next page (``None`` at the end)."""

    events: list[StoredEvent]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        """``{"events": [...], "count": n, "next_cursor": str | None}``."""
        return {
            "events": [e.to_dict() for e in self.events],
            "count": len(self.events),
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True)
class IndexFailure:
    """A stored row whose derived data differs from what its entry bytes say.

    ``column`` names the column (or ``state``/``checkpoint`` rows); values are
    not repeated, so a report never leaks an event's content.
    """

    seq: int | None
    column: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "column": self.column, "reason": self.reason}


@dataclass
class IntegrityReport:
    """The ledger's :class:`~logging_audit.ledger.VerificationReport` plus the index checks."""

    ledger: VerificationReport
    index_failures: list[IndexFailure] = field(default_factory=list)
    verifier: str = ""

    @property
    def verified(self) -> bool:
        """True when the ledger verified and every derived column matched."""
        return self.ledger.verified and not self.index_failures

    def to_dict(self) -> dict[str, Any]:
        """The ledger report's dict, with ``verified`` covering both, plus ``index_errors``."""
        out = self.ledger.to_dict()
        out["verified"] = self.verified
        out["index_errors"] = [f.to_dict() for f in self.index_failures]
        out["verifier"] = self.verifier
        return out

    def raise_for_failures(self) -> None:
        """Raise :class:`~logging_audit.errors.IntegrityError` if anything failed."""
        from logging_audit.errors import IntegrityError

        if not self.verified:
            first = (
                str(self.ledger.failures[0])
                if self.ledger.failures
                else f"{self.index_failures[0].column}: {self.index_failures[0].reason}"
            )
            raise IntegrityError(f"audit store failed verification: {first}", report=self)


@dataclass(frozen=True)
class PruneResult:
    """What a retention run removed."""

    removed: int
    first_kept_seq: int
    cutoff: str
    held_back_by: tuple[str, ...] = ()
    start: StreamStart | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "removed": self.removed,
            "first_kept_seq": self.first_kept_seq,
            "cutoff": self.cutoff,
            "held_back_by": list(self.held_back_by),
        }


@dataclass(frozen=True)
class LegalHold:
    """Events matching ``criteria`` are kept by retention until the hold is released."""

    hold_id: str
    criteria: dict[str, Any]
    reason: str
    placed_by: str
    placed_at: str
    released_at: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.criteria, dict):
            raise ConfigError("legal hold criteria must be a mapping")

    @property
    def active(self) -> bool:
        """True until the hold is released."""
        return self.released_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "hold_id": self.hold_id,
            "criteria": self.criteria,
            "reason": self.reason,
            "placed_by": self.placed_by,
            "placed_at": self.placed_at,
            "released_at": self.released_at,
        }
