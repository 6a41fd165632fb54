"""``AuditService``: agent actions with clearance levels, over the ledger-backed audit store.

::

    audit_service = AuditService()                       # embedded SQLite default
    audit_service.record_event(agent_id="A-12345", action_type="data_access",
                               details={...}, clearance_level=ClearanceLevel.LEVEL_3)
    events = audit_service.query_events(agent_id="A-12345",
                                        action_types=["data_access", "authentication"],
                                        time_range_hours=24,
                                        requestor_clearance=ClearanceLevel.LEVEL_4)

``AuditService()`` keeps its database at ``$LOGAUDIT_AUDIT_DB`` or
``./audit_service/audit.db`` (keys in ``audit.db.keys/`` beside it, the agent
registry in ``agents.db``); ``AuditService("postgresql://…", key_dir=…)`` uses
PostgreSQL. Events are ``agent_action`` events whose action is the
``action_type``. A query sees only events classified at or below
``requestor_clearance`` (default LEVEL_1: least privilege) and is itself recorded.

Agents registered with an Ed25519 public key can sign events
(:func:`~logging_audit.persistence.agents.agent_signing_payload`); the signature
is verified before recording and kept in the entry, so the event is attributable
to that agent, not only to this node.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from logging_audit.audit.dates import TimeBound
from logging_audit.audit.events import (
    Action,
    ActorType,
    AgentSignature,
    AuditEvent,
    EventType,
    Outcome,
)
from logging_audit.audit.events import clearance_level as to_clearance_level
from logging_audit.audit.factory import is_postgres_url, open_store, sqlite_path
from logging_audit.audit.limits import DEFAULT_LIMITS, Limits, normalize_details
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.sealed_verifier import secret_bytes
from logging_audit.audit.store import AuditStore
from logging_audit.crypto import DEFAULT_EPOCH_SECONDS
from logging_audit.errors import AccessDeniedError, ConfigError
from logging_audit.persistence.agents import AgentDatabase, agent_signing_payload
from logging_audit.persistence.models import Agent, ClearanceLevel, PolicyDecision

__all__ = ["DEFAULT_DATABASE", "AuditService"]

DEFAULT_DATABASE = "audit_service/audit.db"
"""Where ``AuditService()`` keeps its database when neither an argument nor
``$LOGAUDIT_AUDIT_DB`` says otherwise (relative to the working directory)."""

_AGENT_ACTION = EventType.AGENT_ACTION.value
_AGENT = ActorType.AGENT.value
_ALLOWED_RECORD_KEYS = frozenset(
    {
        "agent_id",
        "action_type",
        "details",
        "clearance_level",
        "outcome",
        "resource",
        "event_id",
        "signature",
        "source_ip",
    }
)


def _signature(value: bytes | str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("signature must be bytes or standard base64") from exc
    raise ConfigError(f"signature must be bytes or base64 text, not {type(value).__name__}")


class AuditService:
    """Record and query agent actions, classified by clearance level (the seed's API)."""

    def __init__(
        self,
        database_url: str | os.PathLike[str] | None = None,
        *,
        key_dir: str | os.PathLike[str] | None = None,
        schema: str = "logaudit",
        agent_db: AgentDatabase | str | os.PathLike[str] | None = None,
        require_registered_agents: bool = False,
        secret_key: str | bytes | None = None,
        epoch_seconds: int = DEFAULT_EPOCH_SECONDS,
        keep_verifier: bool = True,
        node_id: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Any = None,
    ) -> None:
        """Open (or create) the store; see the module docstring for the defaults."""
        database = database_url or os.environ.get("LOGAUDIT_AUDIT_DB") or DEFAULT_DATABASE
        self._store: AuditStore = open_store(
            database,
            key_dir=key_dir,
            schema=schema,
            epoch_seconds=epoch_seconds,
            keep_verifier=keep_verifier,
            secret_key=None if secret_key is None else secret_bytes(secret_key),
            node_id=node_id,
            limits=limits,
            clock=clock,
        )
        if isinstance(agent_db, AgentDatabase):
            self.agents = agent_db
        elif agent_db is not None:
            self.agents = AgentDatabase(agent_db)
        elif is_postgres_url(database):
            self.agents = AgentDatabase()
        else:
            self.agents = AgentDatabase(sqlite_path(database).with_name("agents.db"))
        self.require_registered_agents = require_registered_agents

    @property
    def store(self) -> AuditStore:
        """The underlying audit store (typed read API, proofs, checkpoints)."""
        return self._store

    # -- recording ---------------------------------------------------------------------

    def _event(
        self,
        agent_id: str,
        action_type: str,
        details: Mapping[str, Any] | None,
        clearance_level: ClearanceLevel | int,
        *,
        outcome: str = Outcome.SUCCESS.value,
        resource: str | None = None,
        event_id: str | None = None,
        signature: bytes | str | None = None,
        source_ip: str | None = None,
    ) -> AuditEvent:
        level = to_clearance_level(clearance_level)
        clean: Mapping[str, Any]
        if self.require_registered_agents or signature is not None:
            clean = normalize_details(details, self._store.limits)
        else:
            clean = {} if details is None else details  # AuditEvent checks and normalises it
        if self.require_registered_agents and not self.agents.verify_agent_clearance(
            agent_id, ClearanceLevel.LEVEL_1
        ):
            raise AccessDeniedError(f"agent {agent_id!r} is not a registered, active agent")
        extra: dict[str, Any] = {}
        if event_id is not None:
            extra["event_id"] = event_id
        if signature is not None:
            if event_id is None:
                raise ConfigError("a signed event needs the event_id the agent signed")
            payload = agent_signing_payload(event_id, agent_id, action_type, clean, level)
            raw = _signature(signature)
            agent = self.agents.verify_agent_signature(agent_id, payload, raw)
            assert agent.key_id is not None
            extra["agent_sig"] = AgentSignature(agent.key_id, base64.b64encode(raw).decode())
        return AuditEvent(
            event_type=_AGENT_ACTION,
            action=action_type,
            actor=agent_id,
            actor_type=_AGENT,
            outcome=outcome,
            resource=resource,
            source_ip=source_ip,
            source_node=self._store.node_id,
            clearance=level,
            details=clean,
            limits=self._store.limits,
            **extra,
        )

    def record_event(
        self,
        agent_id: str,
        action_type: str,
        details: Mapping[str, Any] | None = None,
        clearance_level: ClearanceLevel | int = ClearanceLevel.LEVEL_1,
        *,
        outcome: str = Outcome.SUCCESS.value,
        resource: str | None = None,
        event_id: str | None = None,
        signature: bytes | str | None = None,
        source_ip: str | None = None,
    ) -> str:
        """Record one agent action, durably; return its event id.

        ``signature`` (raw or base64 Ed25519 over ``agent_signing_payload`` with
        ``event_id``) attributes the event to the agent's registered key; a bad
        signature is an :class:`AccessDeniedError` and nothing is recorded.
        """
        event = self._event(
            agent_id,
            action_type,
            details,
            clearance_level,
            outcome=outcome,
            resource=resource,
            event_id=event_id,
            signature=signature,
            source_ip=source_ip,
        )
        return self._store.append([event])[0].event.event_id

    def record_events(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Record many agent actions in one transaction (for throughput); return their ids.

        Each item holds ``record_event``'s arguments by name (``agent_id``,
        ``action_type``, ``details``, ``clearance_level`` …). Nothing is recorded
        if any item is invalid.
        """
        built = []
        for i, item in enumerate(events):
            if not isinstance(item, Mapping):
                raise ConfigError(f"event {i} is not a mapping")
            if not _ALLOWED_RECORD_KEYS.issuperset(item):
                unknown = set(item) - _ALLOWED_RECORD_KEYS
                raise ConfigError(f"event {i} has unknown keys {sorted(unknown)}")
            args = dict(item)
            try:
                agent_id, action_type = args.pop("agent_id"), args.pop("action_type")
            except KeyError as exc:
                raise ConfigError(f"event {i} needs agent_id and action_type") from exc
            built.append(
                self._event(
                    agent_id,
                    action_type,
                    args.pop("details", None),
                    args.pop("clearance_level", ClearanceLevel.LEVEL_1),
                    **args,
                )
            )
        return [e.event.event_id for e in self._store.append(built)]

    # -- querying ----------------------------------------------------------------------

    def _query(
        self,
        agent_id: str | None,
        action_types: Iterable[str] | None,
        time_range_hours: float | None,
        start: TimeBound | None,
        end: TimeBound | None,
        criteria: Mapping[str, Any] | None,
        text: str | None,
        sort: str | None,
    ) -> EventQuery:
        crit: dict[str, Any] = dict(criteria or {})
        if agent_id is not None:
            crit["agent_id"] = agent_id
        if action_types is not None:
            if isinstance(action_types, str):
                raise ConfigError("action_types must be a list of strings, not one string")
            crit["action"] = list(action_types)
        if time_range_hours is not None:
            if isinstance(time_range_hours, bool) or not isinstance(time_range_hours, int | float):
                raise ConfigError(f"time_range_hours must be a number, got {time_range_hours!r}")
            if not 0 < time_range_hours <= 24 * 366 * 100:
                raise ConfigError(f"time_range_hours must be positive, got {time_range_hours!r}")
            if start is not None:
                raise ConfigError("give time_range_hours or start, not both")
            start = self._store.now() - timedelta(hours=time_range_hours)
        return EventQuery.build(crit, start=start, end=end, text=text, sort=sort)

    def query_events(
        self,
        agent_id: str | None = None,
        action_types: Iterable[str] | None = None,
        time_range_hours: float | None = None,
        requestor_clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_1,
        *,
        requestor_id: str = "unknown",
        start: TimeBound | None = None,
        end: TimeBound | None = None,
        criteria: Mapping[str, Any] | None = None,
        text: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events the requestor may see (no read-up), oldest first; the query is recorded.

        ``action_types`` filters on the recorded ``action_type``;
        ``time_range_hours`` keeps the last N hours. Events classified above
        ``requestor_clearance`` are never returned or counted.
        """
        query = self._query(
            agent_id, action_types, time_range_hours, start, end, criteria, text, sort
        )
        requestor = Requestor(requestor_id, ClearanceLevel.coerce(requestor_clearance))
        events: Iterable[StoredEvent]
        if limit is None:
            events = self._store.iter_events(query, requestor, purpose="query")
        else:
            events = self._store.search(query, requestor, limit=limit).events
        return [e.to_dict() for e in events]

    def count_events(
        self,
        agent_id: str | None = None,
        action_types: Iterable[str] | None = None,
        time_range_hours: float | None = None,
        requestor_clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_1,
        *,
        requestor_id: str = "unknown",
    ) -> int:
        """Number of events the requestor may see (recorded like a query)."""
        query = self._query(agent_id, action_types, time_range_hours, None, None, None, None, None)
        requestor = Requestor(requestor_id, ClearanceLevel.coerce(requestor_clearance))
        return self._store.count(query, requestor)

    # -- agents and policy -------------------------------------------------------------

    def _admin(self, actor: str, action: str, resource: str, details: dict[str, Any]) -> None:
        self._store.append(
            [
                AuditEvent(
                    event_type=EventType.ADMINISTRATIVE,
                    action=action,
                    actor=actor,
                    resource=resource,
                    source_node=self._store.node_id,
                    clearance=ClearanceLevel.LEVEL_3,
                    details=details,
                )
            ]
        )

    def register_agent(
        self,
        agent_id: str,
        clearance: ClearanceLevel | int,
        *,
        name: str = "",
        public_key: bytes | None = None,
        registered_by: str = "admin",
        replace: bool = False,
    ) -> Agent:
        """Register an agent (optionally with its Ed25519 public key); recorded."""
        agent = self.agents.register_agent(
            agent_id, clearance, name=name, public_key=public_key, replace=replace
        )
        self._admin(
            registered_by,
            Action.AGENT_REGISTER,
            agent_id,
            {"clearance_level": int(agent.clearance), "key_id": agent.key_id, "name": name},
        )
        return agent

    def set_agent_clearance(
        self, agent_id: str, clearance: ClearanceLevel | int, *, changed_by: str = "admin"
    ) -> Agent:
        """Change an agent's clearance; recorded."""
        agent = self.agents.set_clearance(agent_id, clearance)
        self._admin(
            changed_by,
            Action.AGENT_CLEARANCE_CHANGE,
            agent_id,
            {"clearance_level": int(agent.clearance)},
        )
        return agent

    def verify_agent_clearance(self, agent_id: str, level: ClearanceLevel | int) -> bool:
        """True when the agent is registered, active and cleared at ``level`` or above."""
        return self.agents.verify_agent_clearance(agent_id, level)

    def evaluate_policy(self, agent_id: str, action_type: str) -> PolicyDecision:
        """Evaluate the policy rules for an agent's action; the decision is recorded."""
        decision = self.agents.evaluate(agent_id, action_type)
        self._store.append(
            [
                AuditEvent(
                    event_type=EventType.ADMINISTRATIVE,
                    action=Action.POLICY_EVALUATE,
                    actor=agent_id,
                    actor_type=ActorType.AGENT,
                    outcome=Outcome.SUCCESS.value if decision.allowed else Outcome.FAILURE.value,
                    resource=decision.rule_id,
                    source_node=self._store.node_id,
                    clearance=ClearanceLevel.LEVEL_2,
                    details=decision.to_dict(),
                )
            ]
        )
        return decision

    def verify_event_signature(self, event: Mapping[str, Any]) -> bool:
        """Check a returned event's ``agent_signature`` against its agent's registered key."""
        sig = event.get("agent_signature")
        agent_id = event.get("agent_id")
        if not isinstance(sig, Mapping) or not isinstance(agent_id, str):
            return False
        agent = self.agents.get_agent(agent_id)
        if agent is None or agent.key_id != sig.get("kid"):
            return False
        payload = agent_signing_payload(
            event["event_id"],
            agent_id,
            event["action"],
            event["details"],
            event["clearance_level"],
        )
        try:
            self.agents.verify_agent_signature(agent_id, payload, _signature(sig["sig"]))
        except (AccessDeniedError, ConfigError):
            return False
        return True

    # -- integrity ---------------------------------------------------------------------

    def verify_integrity(self, verifier_path: str | None = None) -> dict[str, Any]:
        """Verify the whole store; see ``AuditTrailService.verify_integrity``."""
        return self._store.verify_integrity(verifier_path).to_dict()

    def close(self) -> None:
        """Seal, checkpoint and close the store and the agent registry."""
        try:
            self._store.close()
        finally:
            self.agents.close()

    def __enter__(self) -> AuditService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditService({self._store!r})"
