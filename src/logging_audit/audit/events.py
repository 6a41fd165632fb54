"""The audit event: taxonomy, typed event object, and its ledger fields.

An event becomes one ledger entry. Its fields (compact JSON, sorted keys) are::

    {"action":"login","actor":"user123","actor_type":"user","audit":1,
     "clearance":2,"details":{...},"event_id":"…","event_type":"authentication",
     "outcome":"success","source_ip":"192.168.1.1","source_node":"web-1", ...}

plus the ledger's ``seq``, ``ts``, ``epoch`` and ``prev``. ``audit`` is the
event format version. Optional fields (``resource``, ``source_ip``,
``source_node``, ``agent_sig``) are left out when empty. The entry's ``ts``
(recording time, UTC) is the event's time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from logging_audit.audit.limits import DEFAULT_LIMITS, Limits, normalize_details
from logging_audit.errors import ConfigError, FramingError
from logging_audit.persistence.models import ClearanceLevel, check_identifier

__all__ = [
    "EVENT_FORMAT",
    "Action",
    "ActorType",
    "AgentSignature",
    "AuditEvent",
    "EventType",
    "Outcome",
    "clearance_level",
    "event_from_fields",
    "new_event_id",
]

EVENT_FORMAT = 1
"""Value of the ``audit`` field: the version of the event's field layout."""


class EventType(str, Enum):
    """The event taxonomy's top level."""

    AUTHENTICATION = "authentication"
    DATA_ACCESS = "data_access"
    ADMINISTRATIVE = "administrative"
    SYSTEM = "system"
    AGENT_ACTION = "agent_action"
    QUERY = "query"


class Outcome(str, Enum):
    """Whether the action succeeded."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class ActorType(str, Enum):
    """Who acted: a person, an automated agent, or the system itself."""

    USER = "user"
    AGENT = "agent"
    SYSTEM = "system"


class Action:
    """Well-known action names per event type (others are allowed)."""

    LOGIN = "login"
    LOGOUT = "logout"
    MFA = "mfa"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    EXPORT = "export"
    USER_CREATE = "user_create"
    USER_UPDATE = "user_update"
    USER_DELETE = "user_delete"
    ROLE_GRANT = "role_grant"
    ROLE_REVOKE = "role_revoke"
    CONFIG_CHANGE = "config_change"
    STARTUP = "startup"
    SHUTDOWN = "shutdown"
    ERROR = "error"
    SEARCH = "search"
    COUNT = "count"
    RETENTION_PRUNE = "retention_prune"
    LEGAL_HOLD_PLACE = "legal_hold_place"
    LEGAL_HOLD_RELEASE = "legal_hold_release"
    AGENT_REGISTER = "agent_register"
    AGENT_CLEARANCE_CHANGE = "agent_clearance_change"
    POLICY_EVALUATE = "policy_evaluate"


def new_event_id() -> str:
    """A new event id: a UUIDv7 (RFC 9562) in hex — time-ordered, so ids index cheaply."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (2**62 - 1)
    return f"{value:032x}"  # == uuid.UUID(int=value).hex, without building the UUID


_LEVELS = {int(level): level for level in ClearanceLevel}
_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})
_NEW_ID: Any = type("_NewEventId", (), {"__repr__": lambda self: "<new event id>"})()
"""Default of ``AuditEvent(event_id=...)``: make a new id (``None`` is refused, as before)."""


def clearance_level(value: object) -> ClearanceLevel:
    """:meth:`ClearanceLevel.coerce` with the plain ``int`` case first (recording is hot)."""
    if type(value) is int and 1 <= value <= 5:
        return _LEVELS[value]
    return ClearanceLevel.coerce(value)


_REQUIRED_TEXT = ("event_type", "action", "actor", "actor_type", "outcome", "event_id")
_OPTIONAL_TEXT = ("resource", "source_ip", "source_node")


def _text(value: Any) -> str:
    return value.value if isinstance(value, Enum) else value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AgentSignature:
    """An agent's Ed25519 signature over the event (see ``agent_signing_payload``)."""

    key_id: str
    signature: str
    """base64 of the 64-byte signature."""

    def to_fields(self) -> dict[str, str]:
        """The ``agent_sig`` field."""
        return {"kid": self.key_id, "sig": self.signature}


@dataclass(frozen=True, init=False)
class AuditEvent:
    """One security-relevant event, before or after it was recorded.

    Construction validates and normalises every field: strings are bounded
    (``limits.max_string``), ``details`` is turned into plain JSON and bounded
    (see :func:`~logging_audit.audit.limits.normalize_details`). ``event_id``
    defaults to a new :func:`new_event_id`.
    """

    event_type: str
    action: str
    actor: str
    actor_type: str = ActorType.USER.value
    outcome: str = Outcome.SUCCESS.value
    resource: str | None = None
    source_ip: str | None = None
    source_node: str | None = None
    clearance: ClearanceLevel = ClearanceLevel.LEVEL_1
    details: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)
    agent_sig: AgentSignature | None = None
    limits: Limits = field(default=DEFAULT_LIMITS, repr=False, compare=False)

    def __init__(
        self,
        event_type: str,
        action: str,
        actor: str,
        actor_type: str = ActorType.USER.value,
        outcome: str = Outcome.SUCCESS.value,
        resource: str | None = None,
        source_ip: str | None = None,
        source_node: str | None = None,
        clearance: ClearanceLevel = ClearanceLevel.LEVEL_1,
        details: Mapping[str, Any] = _NO_DETAILS,
        event_id: str = _NEW_ID,
        agent_sig: AgentSignature | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        """The dataclass's own ``__init__``, written out: recording builds many events.

        Parameters and defaults are the fields'; each value is checked as
        :meth:`__post_init__` says.
        """
        self.__dict__.update(
            event_type=event_type,
            action=action,
            actor=actor,
            actor_type=actor_type,
            outcome=outcome,
            resource=resource,
            source_ip=source_ip,
            source_node=source_node,
            clearance=clearance,
            details=details,
            event_id=new_event_id() if event_id is _NEW_ID else event_id,
            agent_sig=agent_sig,
            limits=limits,
        )
        self.__post_init__()

    def __post_init__(self) -> None:
        """Check and normalise every field (in place: the event is frozen afterwards).

        Recording is hot: a plain ASCII ``str`` within bounds is valid as it is
        (ASCII cannot hold a lone surrogate); anything else takes the full check.
        """
        n = self.limits.max_string
        attrs = self.__dict__  # what object.__setattr__ would write to
        for name in _REQUIRED_TEXT:
            value = attrs[name]
            if type(value) is not str or not value or len(value) > n or not value.isascii():
                attrs[name] = check_identifier(_text(value), name, n)
        for name in _OPTIONAL_TEXT:
            value = attrs[name]
            if value is not None and (
                type(value) is not str or not value or len(value) > n or not value.isascii()
            ):
                attrs[name] = check_identifier(value, name, n)
        clearance = attrs["clearance"]
        if type(clearance) is not ClearanceLevel:
            attrs["clearance"] = clearance_level(clearance)
        attrs["details"] = normalize_details(self.details, self.limits)

    @property
    def success(self) -> bool:
        """True when the outcome is ``success``."""
        return self.outcome == Outcome.SUCCESS.value

    def to_fields(self) -> dict[str, Any]:
        """The caller fields of the ledger entry (the ledger adds seq, ts, epoch, prev).

        A new dict each time (the ledger may take it over); ``details`` is the
        event's own (normalised) mapping, not a copy.
        """
        fields: dict[str, Any] = {
            "audit": EVENT_FORMAT,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "action": self.action,
            "actor": self.actor,
            "actor_type": self.actor_type,
            "outcome": self.outcome,
            "clearance": int(self.clearance),
            "details": self.details,
        }
        if self.resource is not None:
            fields["resource"] = self.resource
        if self.source_ip is not None:
            fields["source_ip"] = self.source_ip
        if self.source_node is not None:
            fields["source_node"] = self.source_node
        if self.agent_sig is not None:
            fields["agent_sig"] = self.agent_sig.to_fields()
        return fields


_LARGE = Limits(max_details_bytes=1 << 40, max_depth=10_000, max_string=1 << 30)


def event_from_fields(fields: Mapping[str, Any]) -> AuditEvent:
    """Rebuild an event from the caller fields of a stored entry.

    The stored bytes are trusted only as far as their shape: anything that is
    not an event of format :data:`EVENT_FORMAT` raises :class:`FramingError`.
    Size limits are not applied (the event was bounded when it was recorded).
    """
    if fields.get("audit") != EVENT_FORMAT:
        raise FramingError("entry is not an audit event of a known format")
    sig = fields.get("agent_sig")
    agent_sig = None
    if sig is not None:
        if not isinstance(sig, dict) or not all(
            isinstance(sig.get(k), str) for k in ("kid", "sig")
        ):
            raise FramingError("entry has a malformed 'agent_sig'")
        agent_sig = AgentSignature(sig["kid"], sig["sig"])
    details = fields.get("details", {})
    if not isinstance(details, dict):
        raise FramingError("entry 'details' is not an object")
    try:
        return AuditEvent(
            event_type=fields["event_type"],
            action=fields["action"],
            actor=fields["actor"],
            actor_type=fields["actor_type"],
            outcome=fields["outcome"],
            resource=fields.get("resource"),
            source_ip=fields.get("source_ip"),
            source_node=fields.get("source_node"),
            clearance=fields["clearance"],
            details=details,
            event_id=fields["event_id"],
            agent_sig=agent_sig,
            limits=_LARGE,
        )
    except (KeyError, ConfigError) as exc:
        raise FramingError(f"entry is not a well-formed audit event: {exc}") from exc
