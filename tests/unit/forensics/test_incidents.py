"""Incidents, notes, annotations and tags are append-only events in the ledger."""

from __future__ import annotations

import pytest
from forensics_helpers import T0

from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.errors import ConfigError
from logging_audit.forensics.incidents import IncidentLog
from logging_audit.forensics.timeline import TimelineAnalyzer
from logging_audit.persistence.models import ClearanceLevel

ADMIN = Requestor("auditor", ClearanceLevel.LEVEL_5)


def _incident_lines(service: AuditService, incident_id: str) -> list[tuple[int, bytes]]:
    q = EventQuery.build({"event_type": "administrative", "resource": incident_id})
    return [(s.seq, s.line) for s in service.store.iter_events(q, ADMIN)]


def test_open_update_note_annotate_tag_fold_in_order(service: AuditService) -> None:
    log = IncidentLog(service.store, analyst="alice")
    inc = log.open("Exfiltration via agent", related_agents=["A-12345"], tags=["exfil"])
    assert inc.incident_id == "INC-20251015-001"
    assert inc.status == "open"
    assert inc.opened_by == "alice"
    assert log.open("second").incident_id == "INC-20251015-002"

    event = service.record_event("A-12345", "data_access", {}, 2, resource="doc-1")
    log.update(inc.incident_id, status="investigating", add_related_agents=["A-67890"])
    log.add_note(inc.incident_id, "started with the proxy logs")
    log.annotate(inc.incident_id, event, "first read of the stolen document")
    log.tag(inc.incident_id, ["exfil", "doc"], event_id=event)
    final = log.tag(inc.incident_id, ["doc"], event_id=event, remove=True)

    assert final.status == "investigating"
    assert final.related_agents == ("A-12345", "A-67890")
    assert final.tags == ("exfil",)
    assert [n.text for n in final.notes] == ["started with the proxy logs"]
    assert final.annotations_for(event)[0].text == "first read of the stolen document"
    assert final.tags_for(event) == ("exfil",)
    assert len(final.history) == 6
    assert [i.incident_id for i in log.list_incidents()] == [
        "INC-20251015-001",
        "INC-20251015-002",
    ]


def test_changes_append_and_never_rewrite(service: AuditService) -> None:
    log = IncidentLog(service.store)
    inc = log.open("t", incident_id="INC-X-1")
    before = _incident_lines(service, inc.incident_id)
    assert len(before) == 1
    log.update(inc.incident_id, status="contained")
    log.add_note(inc.incident_id, "n")
    after = _incident_lines(service, inc.incident_id)
    assert len(after) == 3
    assert after[0] == before[0]  # the first record is byte-for-byte what it was
    assert [seq for seq, _ in after] == sorted(seq for seq, _ in after)
    assert service.store.verify_integrity().verified


def test_refuses_unknown_duplicate_and_invalid(service: AuditService) -> None:
    log = IncidentLog(service.store)
    with pytest.raises(ConfigError, match="no incident"):
        log.add_note("INC-NOPE", "x")
    log.open("t", incident_id="INC-1")
    with pytest.raises(ConfigError, match="already recorded"):
        log.open("again", incident_id="INC-1")
    with pytest.raises(ConfigError, match="status must be one of"):
        log.update("INC-1", status="done")
    with pytest.raises(ConfigError, match="nothing to update"):
        log.update("INC-1")
    with pytest.raises(ConfigError, match="no spaces"):
        log.tag("INC-1", ["two words"])
    assert log.find("INC-NOPE") is None


def test_incident_records_are_classified(service: AuditService) -> None:
    IncidentLog(service.store, clearance=ClearanceLevel.LEVEL_4).open("secret", incident_id="INC-S")
    low = IncidentLog(service.store, analyst="bob", clearance=ClearanceLevel.LEVEL_2)
    assert low.find("INC-S") is None
    with pytest.raises(ConfigError):
        low.get("INC-S")
    assert IncidentLog(service.store).get("INC-S").title == "secret"


def test_timeline_takes_agents_annotations_and_tags_from_the_incident(
    service: AuditService, clock: FakeClock
) -> None:
    clock.now = T0
    mine = service.record_event("A-12345", "data_access", {}, 2, resource="doc-1")
    service.record_event("A-00000", "data_access", {}, 2, resource="doc-2")
    log = IncidentLog(service.store)
    log.open("t", incident_id="INC-20251015-001", related_agents=["A-12345"])
    log.annotate("INC-20251015-001", mine, "look here")
    log.tag("INC-20251015-001", ["suspicious"], event_id=mine)
    timeline = TimelineAnalyzer(service).reconstruct(incident_id="INC-20251015-001")
    assert timeline.incident is not None
    assert timeline.related == ("A-12345",)
    (event,) = [e for e in timeline.events if e.event_id == mine]
    assert event.tags == ("suspicious",)
    assert "look here" in event.annotations[0]
    assert {e.actor for e in timeline.events} == {"A-12345"}  # incident records left out


def test_unknown_incident_labels_the_timeline(service: AuditService) -> None:
    service.record_event("A-12345", "ping", {}, 1)
    timeline = TimelineAnalyzer(service).reconstruct(incident_id="INC-20251015-001")
    assert timeline.incident is None
    assert "not recorded" in timeline.notes[0]
    assert timeline.custody is not None
    assert timeline.custody.subject == "INC-20251015-001"
