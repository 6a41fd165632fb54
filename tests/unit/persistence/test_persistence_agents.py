"""Agent registry, rules and policy decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from logging_audit.errors import AccessDeniedError, ConfigError
from logging_audit.persistence import AgentDatabase, agent_signing_payload
from logging_audit.persistence.db_models import Agent, ClearanceLevel, Rule


def test_registry_persists_and_checks_clearance(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    with AgentDatabase(path) as db:
        db.register_agent("A-1", ClearanceLevel.LEVEL_3, name="crawler", metadata={"team": "x"})
        with pytest.raises(ConfigError, match="already registered"):
            db.register_agent("A-1", 1)
    with AgentDatabase(path) as db:
        agent = db.get_agent("A-1")
        assert agent is not None
        assert (agent.name, agent.clearance, dict(agent.metadata)) == (
            "crawler",
            ClearanceLevel.LEVEL_3,
            {"team": "x"},
        )
        assert db.verify_agent_clearance("A-1", ClearanceLevel.LEVEL_3)
        assert not db.verify_agent_clearance("A-1", ClearanceLevel.LEVEL_4)
        assert not db.verify_agent_clearance("nobody", 1)
        db.deactivate_agent("A-1")
        assert not db.verify_agent_clearance("A-1", 1)
        assert [a.agent_id for a in db.list_agents()] == ["A-1"]
        with pytest.raises(ConfigError):
            db.set_clearance("nobody", 2)


def test_agent_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    db = AgentDatabase()
    agent = db.register_agent("A-2", 2, public_key=public)
    assert agent.key_id is not None
    assert len(agent.key_id) == 16
    payload = agent_signing_payload("e1", "A-2", "read", {"b": 1, "a": "ü"}, 2)
    assert payload.endswith(b'{"action_type":"read","agent_id":"A-2","clearance":2,'
                            b'"details":{"a":"\xc3\xbc","b":1},"event_id":"e1"}')  # fmt: skip
    assert db.verify_agent_signature("A-2", payload, key.sign(payload)) == agent
    with pytest.raises(AccessDeniedError, match="does not verify"):
        db.verify_agent_signature("A-2", payload + b"x", key.sign(payload))
    db.register_agent("A-3", 2)
    with pytest.raises(AccessDeniedError, match="no public key"):
        db.verify_agent_signature("A-3", payload, key.sign(payload))
    with pytest.raises(ConfigError, match="32 raw"):
        Agent("A-4", ClearanceLevel.LEVEL_1, public_key=b"short")


def test_rules_and_policy() -> None:
    db = AgentDatabase()
    db.register_agent("low", 1)
    db.register_agent("high", 4)
    db.add_rule(Rule("read", "reads", frozenset({"read"}), ClearanceLevel.LEVEL_2))
    db.add_rule(Rule("no-wipe", "never", frozenset({"wipe"}), effect="deny"))
    assert db.evaluate("high", "read").allowed
    low = db.evaluate("low", "read")
    assert not low.allowed
    assert "LEVEL_2" in low.reason
    assert not db.evaluate("high", "wipe").allowed
    assert db.evaluate("high", "other").reason == "no rule allows the action"
    assert not db.evaluate("ghost", "read").allowed
    db.set_rule_enabled("read", False)
    assert not db.evaluate("high", "read").allowed
    assert [r.rule_id for r in db.list_rules()] == ["no-wipe", "read"]
    assert db.get_rule("read") is not None
    with pytest.raises(ConfigError, match="already exists"):
        db.add_rule(Rule("read", "again"))
    with pytest.raises(ConfigError, match="not one string"):
        Rule("r", "n", action_types="read")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="effect"):
        Rule("r", "n", effect="maybe")  # type: ignore[arg-type]
