"""Incidents, their notes, annotations and tags: append-only records in the audit ledger.

An incident is never a row that is updated: every change is a new
``administrative`` event whose ``resource`` is the incident id —

==================== =============================================================
action               details
==================== =============================================================
``incident_open``    ``title``, ``status``, ``severity``, ``related_agents``, ``tags``, ``notes``
``incident_update``  any of ``status``, ``title``, ``severity``, ``add_related_agents``
``incident_note``    ``note``
``incident_annotate`` ``event_id`` (the annotated event), ``note``
``incident_tag``     ``tags``, optionally ``event_id`` and ``remove: true``
==================== =============================================================

— and the incident is what those events say, folded in ledger order
(:func:`fold_incident`). So its whole history is kept, hash-chained and
covered by signed checkpoints, and a change made behind the ledger's back is
a verification failure, not a silent edit. The events are classified at the
analyst's clearance unless ``classification`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from logging_audit.audit.events import AuditEvent, EventType
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError
from logging_audit.forensics._common import DEFAULT_ANALYST, StoreLike, requestor_for, store_session
from logging_audit.persistence.models import ClearanceLevel, check_identifier

__all__ = [
    "INCIDENT_ACTIONS",
    "STATUSES",
    "Annotation",
    "Incident",
    "IncidentLog",
    "IncidentNote",
    "fold_incident",
    "load_incident",
]

OPEN = "incident_open"
UPDATE = "incident_update"
NOTE = "incident_note"
ANNOTATE = "incident_annotate"
TAG = "incident_tag"
INCIDENT_ACTIONS = (OPEN, UPDATE, NOTE, ANNOTATE, TAG)
"""The actions of incident events."""

STATUSES = ("open", "investigating", "contained", "resolved", "closed")
"""Incident statuses."""

SEVERITIES = ("low", "medium", "high", "critical")

_MAX_TAG = 64


@dataclass(frozen=True)
class IncidentNote:
    """A note on an incident."""

    text: str
    author: str
    at: str
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"text": self.text, "author": self.author, "at": self.at, "event_id": self.event_id}


@dataclass(frozen=True)
class Annotation:
    """A note on one audit event (or log record id) within an incident."""

    target: str
    text: str
    author: str
    at: str
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "text": self.text,
            "author": self.author,
            "at": self.at,
            "event_id": self.event_id,
        }


@dataclass(frozen=True)
class Incident:
    """An incident as its ledger events say it is now."""

    incident_id: str
    title: str
    status: str
    severity: str
    related_agents: tuple[str, ...]
    opened_at: str
    opened_by: str
    updated_at: str
    tags: tuple[str, ...] = ()
    notes: tuple[IncidentNote, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    event_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    """Event ids of every record of the incident, oldest first."""

    def tags_for(self, target: str) -> tuple[str, ...]:
        """Tags put on one event."""
        return self.event_tags.get(target, ())

    def annotations_for(self, target: str) -> tuple[Annotation, ...]:
        """Annotations of one event."""
        return tuple(a for a in self.annotations if a.target == target)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "incident_id": self.incident_id,
            "title": self.title,
            "status": self.status,
            "severity": self.severity,
            "related_agents": list(self.related_agents),
            "opened_at": self.opened_at,
            "opened_by": self.opened_by,
            "updated_at": self.updated_at,
            "tags": list(self.tags),
            "notes": [n.to_dict() for n in self.notes],
            "annotations": [a.to_dict() for a in self.annotations],
            "event_tags": {k: list(v) for k, v in sorted(self.event_tags.items())},
            "history": list(self.history),
        }


def _strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{what} must be a list of strings")
    return [check_identifier(v, what) for v in value]


def _tags(value: Any) -> list[str]:
    tags = _strings(value, "tags")
    for t in tags:
        if len(t) > _MAX_TAG or any(c.isspace() for c in t):
            raise ConfigError(f"tag {t!r} must be at most {_MAX_TAG} characters, no spaces")
    return tags


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def fold_incident(incident_id: str, events: Iterable[StoredEvent]) -> Incident | None:
    """The incident the events (in ledger order) describe, or ``None`` if never opened."""
    state: dict[str, Any] | None = None
    for stored in events:
        ev = stored.event
        d = ev.details
        if ev.action == OPEN:
            if state is not None:
                continue  # a second "open" of the same id changes nothing
            state = {
                "title": str(d.get("title", "")),
                "status": str(d.get("status", "open")),
                "severity": str(d.get("severity", "medium")),
                "related": list(dict.fromkeys(d.get("related_agents") or [])),
                "opened_at": stored.ts,
                "opened_by": ev.actor,
                "tags": list(dict.fromkeys(d.get("tags") or [])),
                "notes": [
                    IncidentNote(str(n), ev.actor, stored.ts, ev.event_id)
                    for n in d.get("notes") or []
                ],
                "annotations": [],
                "event_tags": {},
                "history": [],
            }
        if state is None:
            continue
        state["history"].append(ev.event_id)
        state["updated_at"] = stored.ts
        if ev.action == UPDATE:
            for key in ("title", "status", "severity"):
                if isinstance(d.get(key), str):
                    state[key] = d[key]
            for agent in d.get("add_related_agents") or []:
                if agent not in state["related"]:
                    state["related"].append(agent)
        elif ev.action == NOTE:
            state["notes"].append(
                IncidentNote(str(d.get("note", "")), ev.actor, stored.ts, ev.event_id)
            )
        elif ev.action == ANNOTATE:
            state["annotations"].append(
                Annotation(
                    str(d.get("event_id", "")),
                    str(d.get("note", "")),
                    ev.actor,
                    stored.ts,
                    ev.event_id,
                )
            )
        elif ev.action == TAG:
            target = d.get("event_id")
            tags = [str(t) for t in d.get("tags") or []]
            bucket: list[str] = (
                state["tags"] if target is None else state["event_tags"].setdefault(str(target), [])
            )
            for t in tags:
                if d.get("remove"):
                    if t in bucket:
                        bucket.remove(t)
                elif t not in bucket:
                    bucket.append(t)
    if state is None:
        return None
    return Incident(
        incident_id,
        state["title"],
        state["status"],
        state["severity"],
        tuple(state["related"]),
        state["opened_at"],
        state["opened_by"],
        state["updated_at"],
        tuple(state["tags"]),
        tuple(state["notes"]),
        tuple(state["annotations"]),
        {k: tuple(v) for k, v in state["event_tags"].items() if v},
        tuple(state["history"]),
    )


def _incident_query(
    incident_id: str | None = None, actions: Sequence[str] = INCIDENT_ACTIONS
) -> EventQuery:
    criteria: dict[str, Any] = {"event_type": "administrative", "action": list(actions)}
    if incident_id is not None:
        criteria["resource"] = incident_id
    return EventQuery.build(criteria)


def load_incident(store: AuditStore, analyst: Requestor, incident_id: str) -> Incident | None:
    """The incident ``incident_id`` as the analyst may see it, or ``None``."""
    events = store.iter_events(_incident_query(incident_id), analyst, purpose="incident_read")
    return fold_incident(incident_id, events)


class IncidentLog:
    """Open, update, annotate and tag incidents: every change an append to the ledger."""

    def __init__(
        self,
        store: StoreLike = None,
        *,
        analyst: str | Requestor = DEFAULT_ANALYST,
        clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_5,
        classification: ClearanceLevel | int | None = None,
        key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Work on ``store`` (default: the embedded default store) as ``analyst``.

        ``classification``: the clearance level of the incident records
        (default: the analyst's clearance).
        """
        self._store = store
        self._key_dir = key_dir
        self.analyst = requestor_for(analyst, clearance)
        self.classification = (
            self.analyst.clearance
            if classification is None
            else ClearanceLevel.coerce(classification, "classification")
        )

    def _append(
        self, store: AuditStore, incident_id: str, action: str, details: dict[str, Any]
    ) -> None:
        store.append(
            [
                AuditEvent(
                    event_type=EventType.ADMINISTRATIVE,
                    action=action,
                    actor=self.analyst.requestor_id,
                    actor_type=self.analyst.actor_type,
                    resource=incident_id,
                    source_node=store.node_id,
                    clearance=self.classification,
                    details={"incident_id": incident_id, **details},
                    limits=store.limits,
                )
            ]
        )

    def _existing(self, store: AuditStore, incident_id: str) -> Incident:
        incident = load_incident(store, self.analyst, incident_id)
        if incident is None:
            raise ConfigError(
                f"no incident {incident_id!r} is recorded (or visible at this clearance)"
            )
        return incident

    def _next_id(self, store: AuditStore) -> str:
        day = store.now().astimezone(timezone.utc).strftime("%Y%m%d")
        prefix = f"INC-{day}-"
        query = EventQuery.build(
            {"event_type": "administrative", "action": OPEN, "resource": {"contains": prefix}}
        )
        taken = {
            s.event.resource
            for s in store.iter_events(query, self.analyst, purpose="incident_read")
        }
        n = 1
        while f"{prefix}{n:03d}" in taken:
            n += 1
        return f"{prefix}{n:03d}"

    def open(
        self,
        title: str,
        *,
        incident_id: str | None = None,
        related_agents: Iterable[str] = (),
        status: str = "open",
        severity: str = "medium",
        tags: Iterable[str] = (),
        notes: Iterable[str] = (),
    ) -> Incident:
        """Record a new incident (``incident_id`` default: ``INC-<yyyymmdd>-<nnn>``)."""
        check_identifier(title, "title", 1024)
        _choice(status, STATUSES, "status")
        _choice(severity, SEVERITIES, "severity")
        details = {
            "title": title,
            "status": status,
            "severity": severity,
            "related_agents": _strings(related_agents, "related_agents"),
            "tags": _tags(tags),
            "notes": [check_identifier(n, "note", 16384) for n in notes],
        }
        with store_session(self._store, key_dir=self._key_dir) as store:
            iid = incident_id or self._next_id(store)
            check_identifier(iid, "incident_id")
            if load_incident(store, self.analyst, iid) is not None:
                raise ConfigError(f"incident {iid!r} is already recorded")
            self._append(store, iid, OPEN, details)
            return self._existing(store, iid)

    def update(
        self,
        incident_id: str,
        *,
        status: str | None = None,
        title: str | None = None,
        severity: str | None = None,
        add_related_agents: Iterable[str] = (),
    ) -> Incident:
        """Record a change of status, title, severity or related agents."""
        details: dict[str, Any] = {}
        if status is not None:
            details["status"] = _choice(status, STATUSES, "status")
        if title is not None:
            details["title"] = check_identifier(title, "title", 1024)
        if severity is not None:
            details["severity"] = _choice(severity, SEVERITIES, "severity")
        agents = _strings(add_related_agents, "add_related_agents")
        if agents:
            details["add_related_agents"] = agents
        if not details:
            raise ConfigError("nothing to update: give status, title, severity or agents")
        return self._change(incident_id, UPDATE, details)

    def add_note(self, incident_id: str, text: str) -> Incident:
        """Record a note on the incident."""
        return self._change(incident_id, NOTE, {"note": check_identifier(text, "note", 16384)})

    def annotate(self, incident_id: str, event_id: str, text: str) -> Incident:
        """Record a note on one event (an audit event id, or the timeline id of a log record)."""
        return self._change(
            incident_id,
            ANNOTATE,
            {
                "event_id": check_identifier(event_id, "event_id"),
                "note": check_identifier(text, "note", 16384),
            },
        )

    def tag(
        self,
        incident_id: str,
        tags: Iterable[str],
        *,
        event_id: str | None = None,
        remove: bool = False,
    ) -> Incident:
        """Record tags on the incident, or on one of its events; ``remove`` takes them off."""
        details: dict[str, Any] = {"tags": _tags(tags)}
        if not details["tags"]:
            raise ConfigError("give at least one tag")
        if event_id is not None:
            details["event_id"] = check_identifier(event_id, "event_id")
        if remove:
            details["remove"] = True
        return self._change(incident_id, TAG, details)

    def _change(self, incident_id: str, action: str, details: dict[str, Any]) -> Incident:
        with store_session(self._store, key_dir=self._key_dir) as store:
            self._existing(store, incident_id)
            self._append(store, incident_id, action, details)
            return self._existing(store, incident_id)

    def get(self, incident_id: str) -> Incident:
        """The incident (a :class:`ConfigError` when it is not recorded)."""
        with store_session(self._store, key_dir=self._key_dir) as store:
            return self._existing(store, incident_id)

    def find(self, incident_id: str) -> Incident | None:
        """The incident, or ``None``."""
        with store_session(self._store, key_dir=self._key_dir) as store:
            return load_incident(store, self.analyst, incident_id)

    def list_incidents(self) -> list[Incident]:
        """Every incident the analyst may see, in the order they were opened."""
        with store_session(self._store, key_dir=self._key_dir) as store:
            events: dict[str, list[StoredEvent]] = {}
            for stored in store.iter_events(
                _incident_query(), self.analyst, purpose="incident_read"
            ):
                events.setdefault(stored.event.resource or "", []).append(stored)
        out = [fold_incident(iid, evs) for iid, evs in events.items()]
        return [i for i in out if i is not None]
