"""Clearance levels, agents and policy rules: the records the audit trail classifies by."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

from logging_audit.errors import ConfigError

__all__ = [
    "AGENT_KEY_SIZE",
    "Agent",
    "ClearanceLevel",
    "PolicyDecision",
    "Rule",
    "RuleEffect",
    "check_identifier",
    "public_key_id",
]

AGENT_KEY_SIZE = 32
"""Size of an agent's raw Ed25519 public key."""

_MAX_ID = 256


class ClearanceLevel(IntEnum):
    """Classification of an event and clearance of a reader: LEVEL_1 (lowest) … LEVEL_5.

    A reader sees only events classified at or below its clearance (no read-up).
    """

    LEVEL_1 = 1
    LEVEL_2 = 2
    LEVEL_3 = 3
    LEVEL_4 = 4
    LEVEL_5 = 5

    @classmethod
    def coerce(cls, value: object, what: str = "clearance level") -> ClearanceLevel:
        """Return ``value`` as a level: a level, an int 1..5, ``"LEVEL_3"`` or ``"3"``.

        Anything else (including ``bool``) is a :class:`~logging_audit.errors.ConfigError`.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if 1 <= value <= 5:
                return cls(value)
        elif isinstance(value, str):
            text = value.strip().upper()
            if text in cls.__members__:
                return cls[text]
            if text in {"1", "2", "3", "4", "5"}:
                return cls(int(text))
        raise ConfigError(f"{what} must be ClearanceLevel.LEVEL_1 … LEVEL_5, got {value!r}")


def check_identifier(value: object, what: str, max_len: int = _MAX_ID) -> str:
    """Return ``value`` if it is a non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ConfigError(f"{what} is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{what} is not valid UTF-8 (lone surrogate)") from exc
    return value


def public_key_id(public_key: bytes) -> str:
    """Return the key id of an agent key: hex of the first 8 bytes of SHA-256(key)."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True)
class Agent:
    """An agent (automated actor) known to the registry.

    ``public_key`` (raw 32-byte Ed25519), when set, lets events the agent signs
    be attributed to it (see :func:`~logging_audit.persistence.agents.agent_signing_payload`).
    """

    agent_id: str
    clearance: ClearanceLevel
    name: str = ""
    public_key: bytes | None = field(default=None, repr=False)
    active: bool = True
    created_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_identifier(self.agent_id, "agent_id")
        object.__setattr__(self, "clearance", ClearanceLevel.coerce(self.clearance))
        if self.public_key is not None:
            key = bytes(self.public_key)
            if len(key) != AGENT_KEY_SIZE:
                raise ConfigError(
                    f"agent {self.agent_id!r}: public key must be {AGENT_KEY_SIZE} raw "
                    f"Ed25519 bytes, got {len(key)}"
                )
            object.__setattr__(self, "public_key", key)

    @property
    def key_id(self) -> str | None:
        """Hex id of the agent's public key, or ``None`` when it has none."""
        return None if self.public_key is None else public_key_id(self.public_key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the public key in hex)."""
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "clearance_level": int(self.clearance),
            "public_key": None if self.public_key is None else self.public_key.hex(),
            "key_id": self.key_id,
            "active": self.active,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "metadata": dict(self.metadata),
        }


RuleEffect = Literal["allow", "deny"]


@dataclass(frozen=True)
class Rule:
    """A security policy rule: who (by clearance) may take which actions.

    A rule applies to the ``action_types`` it names (all actions when empty).
    An ``allow`` rule grants the action to agents cleared at ``min_clearance``
    or above; a ``deny`` rule refuses it to everyone. Each evaluation is
    recorded in the audit trail by :class:`~logging_audit.audit_service.AuditService`.
    """

    rule_id: str
    name: str
    action_types: frozenset[str] = frozenset()
    min_clearance: ClearanceLevel = ClearanceLevel.LEVEL_1
    effect: RuleEffect = "allow"
    description: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        check_identifier(self.rule_id, "rule_id")
        check_identifier(self.name, "rule name", 1024)
        object.__setattr__(self, "min_clearance", ClearanceLevel.coerce(self.min_clearance))
        actions: Iterable[object] = self.action_types
        if isinstance(actions, str):
            raise ConfigError("action_types must be a collection of strings, not one string")
        object.__setattr__(
            self, "action_types", frozenset(check_identifier(a, "action type") for a in actions)
        )
        if self.effect not in ("allow", "deny"):
            raise ConfigError(f"rule effect must be 'allow' or 'deny', got {self.effect!r}")

    def applies_to(self, action_type: str) -> bool:
        """True when the rule is enabled and covers ``action_type``."""
        return self.enabled and (not self.action_types or action_type in self.action_types)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule_id": self.rule_id,
            "name": self.name,
            "action_types": sorted(self.action_types),
            "min_clearance": int(self.min_clearance),
            "effect": self.effect,
            "description": self.description,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class PolicyDecision:
    """The outcome of evaluating the rules for one agent and action."""

    allowed: bool
    agent_id: str
    action_type: str
    rule_id: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "allowed": self.allowed,
            "agent_id": self.agent_id,
            "action_type": self.action_type,
            "rule_id": self.rule_id,
            "reason": self.reason,
        }
