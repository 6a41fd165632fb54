"""The agent registry: agents, their clearance and public keys, and policy rules.

:class:`AgentDatabase` keeps its records in SQLite (a file, or memory when no
path is given). It is a registry, not a ledger: changes to it are made
accountable by :class:`~logging_audit.audit_service.AuditService`, which records
each registration, clearance change and rule evaluation as an audit event.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from logging_audit.errors import AccessDeniedError, ConfigError, StorageError
from logging_audit.persistence.models import (
    Agent,
    ClearanceLevel,
    PolicyDecision,
    Rule,
    check_identifier,
)

__all__ = ["AGENT_PAYLOAD_PREFIX", "AgentDatabase", "agent_signing_payload"]

AGENT_PAYLOAD_PREFIX = b"logaudit/agent-event/v1\n"
"""Domain separation prefix of the bytes an agent signs."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    clearance  INTEGER NOT NULL CHECK (clearance BETWEEN 1 AND 5),
    public_key BLOB,
    active     INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    metadata   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rules (
    rule_id       TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    action_types  TEXT NOT NULL,
    min_clearance INTEGER NOT NULL,
    effect        TEXT NOT NULL,
    description   TEXT NOT NULL,
    enabled       INTEGER NOT NULL
);
"""


def agent_signing_payload(
    event_id: str,
    agent_id: str,
    action_type: str,
    details: Mapping[str, Any],
    clearance_level: ClearanceLevel | int,
) -> bytes:
    """Return the exact bytes an agent signs (Ed25519) to attribute an event to itself.

    ``AGENT_PAYLOAD_PREFIX`` followed by the compact JSON object, keys sorted,
    UTF-8 unescaped, of ``action_type``, ``agent_id``, ``clearance`` (1..5),
    ``details`` and ``event_id``. ``details`` must hold JSON values only (str,
    int, float, bool, None, lists and objects with string keys). Binding the
    ``event_id`` makes a signature good for one event: the store refuses a second
    event with the same id, so a signed event cannot be replayed.
    """
    body = {
        "action_type": action_type,
        "agent_id": agent_id,
        "clearance": int(ClearanceLevel.coerce(clearance_level)),
        "details": dict(details),
        "event_id": event_id,
    }
    try:
        return AGENT_PAYLOAD_PREFIX + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise ConfigError(f"event cannot be signed: details are not plain JSON ({exc})") from exc


class AgentDatabase:
    """Registry of agents (clearance, optional Ed25519 key) and policy rules.

    ``AgentDatabase()`` keeps everything in memory; ``AgentDatabase(path)`` in a
    SQLite file. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        """Open (creating if needed) the registry at ``path``, or an in-memory one."""
        self._path = None if path is None else Path(path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                ":memory:" if self._path is None else str(self._path),
                check_same_thread=False,
                isolation_level=None,
            )
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open agent database {self._path}: {exc}") from exc

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"agent database: {exc}") from exc

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise StorageError(f"agent database: {exc}") from exc

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AgentDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- agents --------------------------------------------------------------------------

    def register_agent(
        self,
        agent_id: str,
        clearance: ClearanceLevel | int,
        *,
        name: str = "",
        public_key: bytes | None = None,
        metadata: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> Agent:
        """Add an agent; with ``replace=True`` overwrite an existing one.

        Registering an existing ``agent_id`` without ``replace`` is a :class:`ConfigError`.
        """
        agent = Agent(
            agent_id=agent_id,
            clearance=ClearanceLevel.coerce(clearance),
            name=name,
            public_key=public_key,
            created_at=datetime.now(timezone.utc),
            metadata=dict(metadata or {}),
        )
        try:
            meta = orjson.dumps(dict(agent.metadata), option=orjson.OPT_SORT_KEYS).decode()
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise ConfigError(f"agent {agent_id!r}: metadata is not JSON: {exc}") from exc
        row = (
            agent.agent_id,
            agent.name,
            int(agent.clearance),
            agent.public_key,
            1,
            agent.created_at.isoformat() if agent.created_at else "",
            meta,
        )
        with self._tx() as conn:
            exists = conn.execute("SELECT 1 FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
            if exists and not replace:
                raise ConfigError(f"agent {agent_id!r} is already registered")
            conn.execute("INSERT OR REPLACE INTO agents VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        return agent

    def get_agent(self, agent_id: str) -> Agent | None:
        """Return the agent, or ``None`` if it is not registered."""
        rows = self._query("SELECT * FROM agents WHERE agent_id = ?", (agent_id,))
        return _agent(rows[0]) if rows else None

    def list_agents(self) -> list[Agent]:
        """Return every agent, by id."""
        return [_agent(r) for r in self._query("SELECT * FROM agents ORDER BY agent_id")]

    def set_clearance(self, agent_id: str, clearance: ClearanceLevel | int) -> Agent:
        """Change an agent's clearance; :class:`ConfigError` if it is unknown."""
        level = ClearanceLevel.coerce(clearance)
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE agents SET clearance = ? WHERE agent_id = ?", (int(level), agent_id)
            )
            if cur.rowcount == 0:
                raise ConfigError(f"agent {agent_id!r} is not registered")
        agent = self.get_agent(agent_id)
        assert agent is not None
        return agent

    def deactivate_agent(self, agent_id: str) -> None:
        """Mark an agent inactive: it no longer passes clearance checks."""
        with self._tx() as conn:
            cur = conn.execute("UPDATE agents SET active = 0 WHERE agent_id = ?", (agent_id,))
            if cur.rowcount == 0:
                raise ConfigError(f"agent {agent_id!r} is not registered")

    def verify_agent_clearance(self, agent_id: str, level: ClearanceLevel | int) -> bool:
        """True when ``agent_id`` is registered, active and cleared at ``level`` or above."""
        required = ClearanceLevel.coerce(level)
        agent = self.get_agent(agent_id)
        return agent is not None and agent.active and agent.clearance >= required

    def verify_agent_signature(self, agent_id: str, payload: bytes, signature: bytes) -> Agent:
        """Check that ``signature`` is the agent's Ed25519 signature of ``payload``.

        Returns the agent. Raises :class:`AccessDeniedError` when the agent is
        unknown, inactive, has no public key, or the signature does not verify.
        """
        agent = self.get_agent(agent_id)
        if agent is None or not agent.active:
            raise AccessDeniedError(f"agent {agent_id!r} is not a registered, active agent")
        if agent.public_key is None:
            raise AccessDeniedError(f"agent {agent_id!r} has no public key to verify against")
        try:
            Ed25519PublicKey.from_public_bytes(agent.public_key).verify(bytes(signature), payload)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise AccessDeniedError(
                f"signature does not verify with the public key of agent {agent_id!r}"
            ) from exc
        return agent

    # -- rules ---------------------------------------------------------------------------

    def add_rule(self, rule: Rule, *, replace: bool = False) -> Rule:
        """Store a policy rule; an existing ``rule_id`` needs ``replace=True``."""
        row = (
            rule.rule_id,
            rule.name,
            orjson.dumps(sorted(rule.action_types)).decode(),
            int(rule.min_clearance),
            rule.effect,
            rule.description,
            int(rule.enabled),
        )
        with self._tx() as conn:
            exists = conn.execute("SELECT 1 FROM rules WHERE rule_id = ?", (rule.rule_id,))
            if exists.fetchone() and not replace:
                raise ConfigError(f"rule {rule.rule_id!r} already exists")
            conn.execute("INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        return rule

    def get_rule(self, rule_id: str) -> Rule | None:
        """Return the rule, or ``None``."""
        rows = self._query("SELECT * FROM rules WHERE rule_id = ?", (rule_id,))
        return _rule(rows[0]) if rows else None

    def list_rules(self) -> list[Rule]:
        """Return every rule, by id."""
        return [_rule(r) for r in self._query("SELECT * FROM rules ORDER BY rule_id")]

    def set_rule_enabled(self, rule_id: str, enabled: bool) -> None:
        """Enable or disable a rule."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE rules SET enabled = ? WHERE rule_id = ?", (int(enabled), rule_id)
            )
            if cur.rowcount == 0:
                raise ConfigError(f"rule {rule_id!r} does not exist")

    def evaluate(self, agent_id: str, action_type: str) -> PolicyDecision:
        """Decide whether ``agent_id`` may take ``action_type``.

        A matching ``deny`` rule refuses; otherwise the agent needs an active
        registration and, for every matching ``allow`` rule, at least its
        ``min_clearance``. With no matching rule the action is refused (default deny).
        """
        check_identifier(action_type, "action type")
        agent = self.get_agent(agent_id)
        matching = [r for r in self.list_rules() if r.applies_to(action_type)]
        for rule in matching:
            if rule.effect == "deny":
                return PolicyDecision(False, agent_id, action_type, rule.rule_id, "denied by rule")
        if agent is None or not agent.active:
            return PolicyDecision(False, agent_id, action_type, None, "unknown or inactive agent")
        if not matching:
            return PolicyDecision(False, agent_id, action_type, None, "no rule allows the action")
        for rule in matching:
            if agent.clearance < rule.min_clearance:
                return PolicyDecision(
                    False,
                    agent_id,
                    action_type,
                    rule.rule_id,
                    f"needs clearance {rule.min_clearance.name}, agent has {agent.clearance.name}",
                )
        return PolicyDecision(True, agent_id, action_type, matching[0].rule_id, "allowed")

    def __repr__(self) -> str:
        return f"AgentDatabase(path={str(self._path) if self._path else ':memory:'!r})"


def _agent(row: tuple[Any, ...]) -> Agent:
    agent_id, name, clearance, public_key, active, created, metadata = row
    return Agent(
        agent_id=agent_id,
        clearance=ClearanceLevel(clearance),
        name=name,
        public_key=public_key,
        active=bool(active),
        created_at=datetime.fromisoformat(created) if created else None,
        metadata=orjson.loads(metadata),
    )


def _rule(row: tuple[Any, ...]) -> Rule:
    rule_id, name, actions, min_clearance, effect, description, enabled = row
    return Rule(
        rule_id=rule_id,
        name=name,
        action_types=frozenset(orjson.loads(actions)),
        min_clearance=ClearanceLevel(min_clearance),
        effect=effect,
        description=description,
        enabled=bool(enabled),
    )
