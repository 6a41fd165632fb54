"""The score scale, sensitivities and small feature functions."""

from __future__ import annotations

import pytest

from logging_audit.detection.features import (
    client_family,
    collection_of,
    hour_of_week,
    is_denied_read,
    looks_encoded,
    network_of,
)
from logging_audit.detection.model import (
    SENSITIVITIES,
    ratio_for_score,
    score_from_ratio,
    severity,
    thresholds_for,
)
from logging_audit.errors import ConfigError


@pytest.mark.parametrize(
    ("ratio", "score"), [(0.4, 0.0), (0.5, 0.0), (1.0, 0.75), (2.0, 0.9375), (100.0, 1.0)]
)
def test_score_scale(ratio: float, score: float) -> None:
    assert score_from_ratio(ratio) == pytest.approx(score, abs=1e-3)


@pytest.mark.parametrize("score", [0.5, 0.75, 0.85, 0.9, 0.99])
def test_ratio_for_score_inverts_the_scale(score: float) -> None:
    assert score_from_ratio(ratio_for_score(score)) == pytest.approx(score, abs=1e-3)


def test_severity_labels() -> None:
    assert [severity(s) for s in (0.5, 0.75, 0.86, 0.99)] == ["low", "medium", "high", "critical"]


def test_higher_sensitivity_lowers_every_count_threshold() -> None:
    low, med, high = (SENSITIVITIES[n] for n in ("low", "medium", "high"))
    for name in ("brute_force_failures", "spray_accounts", "rare_resources", "denied_reads"):
        assert getattr(low, name) > getattr(med, name) > getattr(high, name)
    assert low.beacon_cv < med.beacon_cv < high.beacon_cv


def test_thresholds_for_validates_and_overrides() -> None:
    assert thresholds_for("HIGH").name == "high"
    assert thresholds_for("medium", brute_force_failures=3).brute_force_failures == 3
    with pytest.raises(ConfigError, match="sensitivity"):
        thresholds_for("paranoid")
    with pytest.raises(ConfigError, match="unknown threshold"):
        thresholds_for("medium", nonsense=1)


def test_network_of() -> None:
    assert network_of("203.0.113.9") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("Example.COM") == "example.com"
    assert network_of(None) is None


def test_collection_and_client_family() -> None:
    assert collection_of("finance/ledger/2026.xlsx") == "finance/ledger"
    assert collection_of("db:customers:42") == "db:customers"
    assert collection_of("README") == "README"
    a = client_family("Mozilla/5.0 (Windows NT 10.0) Chrome/126.0.1")
    assert a == client_family("Mozilla/5.0 (Windows NT 10.0) Chrome/127.0.4")
    assert a != client_family("curl/8.4.0")


def test_hour_of_week_starts_monday() -> None:
    from datetime import datetime, timezone

    T0 = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()  # a Monday
    assert hour_of_week(T0) == 0
    assert hour_of_week(T0 + 5 * 86400 + 3 * 3600) == 123


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=",
            True,
        ),
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", True),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False),
        ("the quick brown fox jumps over the lazy dog again and again", False),
        ("eng/design/documents/architecture-overview-2026-final", False),
        ("short", False),
    ],
)
def test_looks_encoded(text: str, expected: bool) -> None:
    assert looks_encoded(text, 32) is expected


def test_is_denied_read() -> None:
    detail = {"required_clearance": 4, "actor_clearance": 2}
    assert is_denied_read("data_access", "read", "failure", detail)
    assert is_denied_read("agent_action", "read", "failure", {"reason": "Insufficient clearance"})
    assert not is_denied_read("data_access", "read", "success", detail)
    assert not is_denied_read("data_access", "read", "failure", {"reason": "timeout"})
