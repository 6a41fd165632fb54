"""Retention: prune by age, legal holds, what remains still verifies, the prune is an event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import ConfigError
from logging_audit.ledger import leaf_hash, verify_inclusion
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


def _day(store: AuditStore, clock: FakeClock, actor: str, n: int = 3) -> None:
    store.append([AuditEvent("authentication", "login", actor, details={"i": i}) for i in range(n)])
    clock.advance(days=1)


def _actors(store: AuditStore) -> list[str]:
    events = store.search(EventQuery.build({"action": "login"}), TOP, limit=1000).events
    return [e.event.actor for e in events]


def test_prune_removes_old_events_and_the_rest_verifies(
    store: AuditStore, clock: FakeClock
) -> None:
    for actor in ("d0", "d1", "d2", "d3"):
        _day(store, clock, actor)
    store.checkpoint()
    result = store.prune(clock.now - timedelta(days=2))
    assert result.removed > 0
    assert _actors(store) == ["d2"] * 3 + ["d3"] * 3
    report = store.verify_integrity()
    assert report.verified, report.to_dict()
    (pruned,) = report.ledger.pruned
    assert pruned.confirmed
    assert pruned.reason == "retention"
    assert pruned.last == result.first_kept_seq - 1
    prune_events = store.search(EventQuery.build({"action": "retention_prune"}), TOP).events
    assert prune_events[0].event.details["removed"] == result.removed
    # proofs still work for what remains, against a checkpoint made after the prune
    cp = store.checkpoint()
    kept = store.search(EventQuery.build({"actor": "d3"}), TOP).events
    proofs = store.inclusion_proofs([e.seq for e in kept], cp)
    for e in kept:
        verify_inclusion(e.seq, cp.size, leaf_hash(e.entry), proofs[e.seq], cp.root_hash)
    # a second prune continues from the first
    again = store.prune(clock.now)
    assert again.removed > 0
    assert store.verify_integrity().verified


def test_legal_hold_stops_the_prune_at_the_first_held_event(
    store: AuditStore, clock: FakeClock
) -> None:
    for actor in ("d0", "held", "d2", "d3"):
        _day(store, clock, actor)
    hold = store.place_legal_hold(
        "case-42", {"actor": "held"}, reason="litigation", placed_by="legal"
    )
    assert hold.active
    result = store.prune(clock.now - timedelta(hours=1))
    assert result.held_back_by == ("case-42",)
    assert _actors(store)[:3] == ["held"] * 3
    assert store.verify_integrity().verified
    store.release_legal_hold("case-42", released_by="legal")
    assert store.prune(clock.now).removed > 0
    assert "held" not in _actors(store)
    assert store.verify_integrity().verified
    actions = [
        e.event.action
        for e in store.search(EventQuery.build({"event_type": "administrative"}), TOP).events
    ]
    assert "legal_hold_place" in actions or not store.legal_holds()  # both recorded or pruned
    assert [h.hold_id for h in store.legal_holds()] == ["case-42"]
    assert store.legal_holds(active_only=True) == []


def test_nothing_to_prune(store: AuditStore, clock: FakeClock) -> None:
    _day(store, clock, "d0")
    result = store.prune(clock.now - timedelta(days=30))
    assert result.removed == 0
    assert store.verify_integrity().verified


def test_hold_errors(store: AuditStore) -> None:
    store.place_legal_hold("h", {"actor": "x"}, reason="r", placed_by="p")
    with pytest.raises(ConfigError, match="already exists"):
        store.place_legal_hold("h", {"actor": "x"}, reason="r", placed_by="p")
    with pytest.raises(ConfigError, match="unknown search field"):
        store.place_legal_hold("h2", {"nope": "x"}, reason="r", placed_by="p")
    with pytest.raises(ConfigError, match="no legal hold"):
        store.release_legal_hold("missing", released_by="p")
