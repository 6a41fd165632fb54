"""The seed's module path for the audit trail's records: clearance levels, agents, rules.

``from logging_audit.persistence.db_models import ClearanceLevel`` is the
documented import; the definitions live in :mod:`logging_audit.persistence.models`
and :mod:`logging_audit.persistence.agents`.
"""

from __future__ import annotations

from logging_audit.persistence.agents import AgentDatabase, agent_signing_payload
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
    "Agent",
    "AgentDatabase",
    "ClearanceLevel",
    "PolicyDecision",
    "Rule",
    "RuleEffect",
    "agent_signing_payload",
]
