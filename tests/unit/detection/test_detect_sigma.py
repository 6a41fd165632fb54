"""Sigma rules: the supported subset, clear errors for the rest, policy records."""

from __future__ import annotations

import pytest
from detection_helpers import T0, make_obs

from logging_audit.detection.sigma import (
    SIGMA_ACTION,
    SigmaDetector,
    SigmaRule,
    builtin_rules,
    parse_sigma,
)
from logging_audit.errors import ConfigError
from logging_audit.persistence.agents import AgentDatabase


def rule(detection: str, level: str = "high", extra: str = "") -> SigmaRule:
    text = f"title: Test rule\nid: test-1\nlevel: {level}\n{extra}detection:\n{detection}"
    return parse_sigma(text)[0]


LOGIN_FAIL = make_obs(
    T0,
    "root",
    event_type="authentication",
    action="login",
    outcome="failure",
    source_ip="203.0.113.9",
    details={"method": "password", "tty": "ssh"},
)


@pytest.mark.parametrize(
    ("detection", "matches"),
    [
        ("  sel:\n    User: root\n  condition: sel", True),
        ("  sel:\n    User: ROOT\n  condition: sel", True),  # case-insensitive by default
        ("  sel:\n    User|cased: ROOT\n  condition: sel", False),
        ("  sel:\n    src_ip|startswith: '203.0.'\n  condition: sel", True),
        ("  sel:\n    src_ip|endswith: '.10'\n  condition: sel", False),
        ("  sel:\n    method|contains: ass\n  condition: sel", True),
        ("  sel:\n    User: 'r*t'\n  condition: sel", True),
        ("  sel:\n    User: 'r?t'\n  condition: sel", False),
        ("  sel:\n    action:\n      - logout\n      - login\n  condition: sel", True),
        ("  sel:\n    method|contains|all:\n      - pass\n      - word\n  condition: sel", True),
        ("  sel:\n    method|contains|all:\n      - pass\n      - key\n  condition: sel", False),
        ("  sel:\n    User|re: '^ro+t$'\n  condition: sel", True),
        ("  sel:\n    resource: null\n  condition: sel", True),
        ("  sel:\n    tty|exists: true\n  condition: sel", True),
        ("  sel:\n    details.method: password\n  condition: sel", True),
        ("  sel:\n    clearance: 1\n  condition: sel", True),
        ("  a:\n    User: root\n  b:\n    outcome: success\n  condition: a and not b", True),
        ("  a:\n    User: root\n  b:\n    outcome: success\n  condition: a and b", False),
        ("  a:\n    User: x\n  b:\n    outcome: failure\n  condition: (a or b) and not a", True),
        ("  sel_1:\n    User: x\n  sel_2:\n    User: root\n  condition: 1 of sel_*", True),
        ("  sel_1:\n    User: x\n  sel_2:\n    User: root\n  condition: all of sel_*", False),
        ("  a:\n    User: root\n  b:\n    outcome: failure\n  condition: all of them", True),
        ("  kw:\n    - 'PASSWORD'\n  condition: kw", True),
        ("  sel:\n    - User: x\n    - outcome: failure\n  condition: sel", True),
        ("  sel:\n    User: x\n  condition:\n    - sel\n    - not sel", True),
    ],
)
def test_supported_subset(detection: str, matches: bool) -> None:
    assert rule(detection).matches(LOGIN_FAIL) is matches


def test_logsource_category_restricts_event_type() -> None:
    r = rule(
        "  sel:\n    User: root\n  condition: sel", extra="logsource:\n  category: data_access\n"
    )
    assert not r.matches(LOGIN_FAIL)


@pytest.mark.parametrize(
    ("detection", "message"),
    [
        ("  sel:\n    User|base64offset: x\n  condition: sel", "modifier 'base64offset'"),
        ("  sel:\n    User: x\n  condition: sel | count() by src_ip > 5", "aggregation"),
        ("  sel:\n    User: x\n  timeframe: 5m\n  condition: sel", "timeframe"),
        ("  sel:\n    User: x\n  condition: other", "unknown selection 'other'"),
        ("  sel:\n    User: x\n  condition: sel and", "ends too early"),
        ("  sel:\n    User: x\n  condition: 1 of nope*", "matches no selection"),
        ("  sel:\n    User|re: '('\n  condition: sel", "bad regular expression"),
    ],
)
def test_unsupported_features_are_clear_errors(detection: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rule(detection)


def test_invalid_documents() -> None:
    with pytest.raises(ConfigError, match="YAML"):
        parse_sigma("title: [")
    with pytest.raises(ConfigError, match="title"):
        parse_sigma("detection:\n  condition: x")
    with pytest.raises(ConfigError, match="level"):
        rule("  sel:\n    User: x\n  condition: sel", level="severe")


def test_rules_are_policy_records() -> None:
    r = rule("  sel:\n    User: root\n  condition: sel")
    record = r.to_rule()
    assert record.rule_id == "sigma:test-1"
    assert record.action_types == frozenset({SIGMA_ACTION})
    with AgentDatabase() as db:
        db.add_rule(record)
        back = SigmaRule.from_rule(db.get_rule("sigma:test-1"))  # type: ignore[arg-type]
        assert back.matches(LOGIN_FAIL)
        # a Sigma record never allows or denies real actions
        assert db.evaluate("someone", "read").rule_id is None


def test_detector_scores_by_level_and_keeps_every_match() -> None:
    det = SigmaDetector(rules=[rule("  sel:\n    User: root\n  condition: sel", level="medium")])
    first = det.observe(LOGIN_FAIL)
    second = det.observe(make_obs(T0 + 5, "root", event_type="authentication", action="login"))
    assert first is not None
    assert second is not None
    assert first.score == 0.75
    assert first.detector == "sigma:test-1"
    assert second.evidence[0] != first.evidence[0]  # each match is its own incident
    assert first.evidence[0] in second.evidence


def test_builtin_rules_parse() -> None:
    titles = {r.title for r in builtin_rules()}
    assert "Audit trail disabled or weakened" in titles
