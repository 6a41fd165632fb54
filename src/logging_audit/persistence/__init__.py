"""Records the audit trail classifies and authorises by: clearance, agents, policy rules.

- :class:`ClearanceLevel`: LEVEL_1 … LEVEL_5; readers see events at or below theirs.
- :class:`Agent` and :class:`AgentDatabase`: the agent registry, with
  ``verify_agent_clearance(agent_id, level)`` and optional Ed25519 public keys.
- :class:`Rule` and :class:`PolicyDecision`: security policy rules and their outcomes.
"""

from __future__ import annotations

from logging_audit.persistence.agents import (
    AGENT_PAYLOAD_PREFIX,
    AgentDatabase,
    agent_signing_payload,
)
from logging_audit.persistence.models import (
    AGENT_KEY_SIZE,
    Agent,
    ClearanceLevel,
    PolicyDecision,
    Rule,
    RuleEffect,
)

__all__ = [
    "AGENT_KEY_SIZE",
    "AGENT_PAYLOAD_PREFIX",
    "Agent",
    "AgentDatabase",
    "ClearanceLevel",
    "PolicyDecision",
    "Rule",
    "RuleEffect",
    "agent_signing_payload",
]
