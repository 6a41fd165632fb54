"""Baselines: what is learned, how it is kept, when it is stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from detection_helpers import T0, baseline_of, make_obs, office_worker_history

from logging_audit.detection.baseline import (
    BASELINE_VERSION,
    baseline_path,
    load_baseline,
    save_baseline,
)
from logging_audit.errors import ConfigError


def test_profile_contents() -> None:
    b = baseline_of(office_worker_history("alice"))
    p = b.actors["alice"]
    assert p.active_days == 15
    assert p.collections == {"eng/docs": 180}
    assert p.networks == {"198.51.100.0/24": 180}
    assert p.max_read_clearance == 2
    assert p.max_hourly_reads == 2
    assert p.hours_away(T0 + 22 * 86400 + 12 * 3600) == 0
    assert p.hours_away(T0 + 22 * 86400 + 2 * 3600) == 9  # 02:00: 7 h before 09:00, at night
    assert p.hours_away(T0 + 22 * 86400 + 20 * 3600) == 4  # 20:00: 4 h after the 16:00 hour
    assert b.collection_actors == {"eng/docs": 1}


def test_failed_events_do_not_make_networks_familiar() -> None:
    failure = make_obs(
        T0 + 3600,
        "alice",
        event_type="authentication",
        action="login",
        outcome="failure",
        source_ip="203.0.113.9",
    )
    events = [*office_worker_history("alice"), failure]
    assert "203.0.113.0/24" not in baseline_of(events).actors["alice"].networks


def test_roundtrip_records_provenance(tmp_path: Path) -> None:
    b = baseline_of(office_worker_history("alice"))
    b.tree_size, b.checkpoint = 1234, {"size": 1200, "root_hash": "abc=", "checkpoint_id": 7}
    path = save_baseline(b, baseline_path(tmp_path / "models", "logaudit/node/audit"))
    assert path.name == "baseline-logaudit_node_audit.json"
    doc = json.loads(path.read_text())
    assert doc["format"] == "logaudit-baseline"
    assert doc["version"] == BASELINE_VERSION
    assert doc["tree_size"] == 1234
    loaded = load_baseline(path)
    assert loaded is not None
    assert loaded.actors["alice"].hod_days == b.actors["alice"].hod_days
    assert loaded.checkpoint == b.checkpoint


def test_other_versions_are_relearned_and_garbage_is_an_error(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "none.json") is None
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "logaudit-baseline", "version": 0}))
    assert load_baseline(old) is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_baseline(bad)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a logaudit baseline"):
        load_baseline(other)


def test_events_outside_the_window_are_ignored() -> None:
    b = baseline_of([make_obs(T0 - 10, "early"), make_obs(T0 + 30 * 86400, "late")])
    assert b.actors == {}
    assert b.events == 0
