"""Timeline reconstruction across agents, users, nodes and streams, with integrity per entry.

::

    from logging_audit.forensics.timeline import TimelineAnalyzer

    timeline = TimelineAnalyzer()                      # the embedded default store
    incident_timeline = timeline.reconstruct(
        incident_id="INC-20251015-001",
        start_time="2025-10-15T00:00:00Z", end_time="2025-10-16",
        related_agents=["A-12345", "A-67890"],
    )

A reconstruction merges

- the audit events of the store (read through its query API, so the read is
  itself recorded) by or about the related agents and users, and
- the SecureLogger records of any number of file streams (``log_streams``),
  on any number of nodes, that mention them (or all records, with
  ``log_scope="all"``),

into **one ordered sequence that keeps each stream's own order**: the merge
takes the next entry of whichever stream has the earliest head, so entries of
one stream are never reordered, even where that stream's clock went
backwards (such entries are marked). Times are corrected for **clock skew**
per node (see :mod:`~logging_audit.forensics.skew`: offsets given by the
analyst or estimated from causally linked entries; both recorded and
corrected times are kept). **Gaps** are marked: seqs missing from a stream,
ranges pruned by retention, and silences longer than ``gap_threshold``.
Every entry carries its **integrity status** (see
:mod:`~logging_audit.forensics.integrity`). Incident annotations and tags are
attached to the entries they name. Finally the reconstruction records its own
**chain of custody** in the ledger (see :mod:`~logging_audit.forensics.custody`).
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from logging_audit.audit.events import EventType
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError
from logging_audit.forensics._common import (
    DEFAULT_ANALYST,
    StoreLike,
    TimeArg,
    canonical_json,
    format_us,
    requestor_for,
    sha256_hex,
    store_session,
    time_arg,
    ts_us,
    us_to_datetime,
)
from logging_audit.forensics.custody import CUSTODY_ACTION, CustodyRecord, record_custody
from logging_audit.forensics.incidents import INCIDENT_ACTIONS, Incident, load_incident
from logging_audit.forensics.integrity import (
    CheckpointProver,
    IntegrityState,
    IntegrityStatus,
    audit_prover,
    log_stream_prover,
    read_leaves,
    resolve_material,
)
from logging_audit.forensics.skew import (
    CAUSE_ID_FIELDS,
    CAUSE_REF_FIELDS,
    CausalItem,
    ClockReport,
    estimate_clocks,
    find_links,
)
from logging_audit.persistence.models import ClearanceLevel

__all__ = [
    "Gap",
    "LogSource",
    "SourceSummary",
    "Timeline",
    "TimelineAnalyzer",
    "TimelineEvent",
]

_US = 1_000_000
_BOOKKEEPING = frozenset((*INCIDENT_ACTIONS, CUSTODY_ACTION))
LogScope = Literal["related", "all"]


@dataclass(frozen=True)
class LogSource:
    """A SecureLogger stream directory (``log_dir/<name>``) to merge into timelines.

    ``verifier_file``: the stream's verifier (K(0), kept off the host) — the
    best material; without it the stream's own key file is used (public key
    and current epoch key), and the source summary says which.
    """

    path: Path
    verifier_file: Path | None = None
    encryption_key_file: Path | None = None

    @classmethod
    def of(cls, value: str | os.PathLike[str] | LogSource) -> LogSource:
        """A source from a path or a source."""
        return value if isinstance(value, LogSource) else cls(Path(value))


@dataclass(frozen=True)
class TimelineEvent:
    """One entry of a timeline: an audit event or a log record, placed and checked."""

    position: int
    time: str
    """Corrected time (RFC 3339 UTC): recorded time minus the node's clock offset."""
    recorded_time: str
    """The time as the node recorded it."""
    clock_offset_seconds: float
    node: str
    source: str
    """The stream's origin, e.g. ``logaudit/web-1/audit``."""
    source_kind: str
    """``audit`` or ``log``."""
    seq: int
    event_id: str
    """The audit event id, or ``<origin>#<seq>`` for a log record."""
    event_type: str
    action: str
    actor: str | None
    actor_type: str | None
    outcome: str | None
    resource: str | None
    source_ip: str | None
    clearance: int | None
    level: str | None
    message: str
    details: Mapping[str, Any]
    integrity: IntegrityStatus
    notes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()

    @property
    def time_us(self) -> int:
        """Corrected time in microseconds since the epoch."""
        return ts_us(self.time)

    @property
    def timestamp(self) -> datetime:
        """Corrected time as an aware datetime."""
        return us_to_datetime(self.time_us)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (every key always present)."""
        return {
            "position": self.position,
            "time": self.time,
            "recorded_time": self.recorded_time,
            "clock_offset_seconds": self.clock_offset_seconds,
            "node": self.node,
            "source": self.source,
            "source_kind": self.source_kind,
            "seq": self.seq,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "action": self.action,
            "actor": self.actor,
            "actor_type": self.actor_type,
            "outcome": self.outcome,
            "resource": self.resource,
            "source_ip": self.source_ip,
            "clearance_level": self.clearance,
            "level": self.level,
            "message": self.message,
            "details": dict(self.details),
            "integrity": self.integrity.to_dict(),
            "notes": list(self.notes),
            "tags": list(self.tags),
            "annotations": list(self.annotations),
        }


@dataclass(frozen=True)
class Gap:
    """A stretch of a stream the timeline cannot show: missing, pruned, or silent."""

    kind: str
    """``missing`` (seqs absent: deleted or lost), ``pruned`` (removed by retention
    policy), ``silence`` (no entry for longer than the gap threshold)."""
    source: str
    reason: str
    start: str | None = None
    end: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def start_us(self) -> int | None:
        """Start in microseconds (``None``: unknown, e.g. before the stream's first entry)."""
        return None if self.start is None else ts_us(self.start)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "source": self.source,
            "reason": self.reason,
            "start": self.start,
            "end": self.end,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True)
class SourceSummary:
    """One stream merged into a timeline, and what its integrity statuses rest on."""

    origin: str
    kind: str
    location: str
    entries_read: int
    entries_shown: int
    verifier: str
    integrity: Mapping[str, Any]
    verification: Mapping[str, Any] | None = None
    """The full stream verification report (file streams)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "origin": self.origin,
            "kind": self.kind,
            "location": self.location,
            "entries_read": self.entries_read,
            "entries_shown": self.entries_shown,
            "verifier": self.verifier,
            "integrity": dict(self.integrity),
            "verification": None if self.verification is None else dict(self.verification),
        }


@dataclass
class Timeline:
    """A reconstructed timeline: ordered entries, gaps, clocks, sources, custody."""

    incident_id: str | None
    start: str | None
    end: str | None
    related: tuple[str, ...]
    analyst: str
    generated_at: str
    events: list[TimelineEvent]
    gaps: list[Gap]
    clocks: ClockReport
    sources: list[SourceSummary]
    parameters: dict[str, Any]
    incident: Incident | None = None
    custody: CustodyRecord | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[TimelineEvent]:
        return iter(self.events)

    def integrity_counts(self) -> dict[str, int]:
        """Number of entries in each integrity state."""
        counts = Counter(e.integrity.state.value for e in self.events)
        return {s.value: counts.get(s.value, 0) for s in IntegrityState}

    def rows(self) -> Iterator[TimelineEvent | Gap]:
        """Entries and gap markers in one order (a gap sits where it starts)."""
        gaps = sorted(self.gaps, key=lambda g: g.start_us if g.start_us is not None else -1)
        gi = 0
        for event in self.events:
            t = event.time_us
            while gi < len(gaps) and (gaps[gi].start_us or -1) < t:
                yield gaps[gi]
                gi += 1
            yield event
        yield from gaps[gi:]

    def to_dict(self, *, include_custody: bool = True) -> dict[str, Any]:
        """JSON-ready form; the custody digest is taken over it without ``custody``."""
        out: dict[str, Any] = {
            "format": "logaudit-timeline/1",
            "incident_id": self.incident_id,
            "incident": None if self.incident is None else self.incident.to_dict(),
            "window": {"start": self.start, "end": self.end},
            "related": list(self.related),
            "analyst": self.analyst,
            "generated_at": self.generated_at,
            "parameters": self.parameters,
            "sources": [s.to_dict() for s in self.sources],
            "clocks": self.clocks.to_dict(),
            "integrity": self.integrity_counts(),
            "notes": list(self.notes),
            "events": [e.to_dict() for e in self.events],
            "gaps": [g.to_dict() for g in self.gaps],
        }
        if include_custody:
            out["custody"] = None if self.custody is None else self.custody.to_dict()
        return out

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict` without custody."""
        return sha256_hex(canonical_json(self.to_dict(include_custody=False)))

    # -- outputs (see logging_audit.forensics.outputs) ---------------------------------

    def to_json(self) -> str:
        """The timeline as indented JSON."""
        from logging_audit.forensics.outputs import timeline_json

        return timeline_json(self)

    def to_csv(self) -> str:
        """One CSV row per entry and per gap."""
        from logging_audit.forensics.outputs import timeline_csv

        return timeline_csv(self)

    def to_timesketch(self) -> str:
        """Timesketch-importable JSON Lines (``message``, ``datetime``, ``timestamp_desc``)."""
        from logging_audit.forensics.outputs import timeline_timesketch

        return timeline_timesketch(self)

    def to_html(self) -> str:
        """A self-contained HTML page (no external resources)."""
        from logging_audit.forensics.report import timeline_html

        return timeline_html(self)


# -- reading ------------------------------------------------------------------------


@dataclass
class _Item:
    """An entry before placement: raw time, node, and how to build its TimelineEvent."""

    stream: int
    seq: int
    recorded_us: int
    node: str
    event_id: str
    ids: tuple[str, ...]
    refs: tuple[str, ...]
    build: dict[str, Any]
    integrity: IntegrityStatus


@dataclass
class _Stream:
    origin: str
    kind: str
    location: str
    verifier: str
    items: list[_Item]
    all_us: list[tuple[int, str]]
    """(raw time, node) of every record of the stream read (for silences)."""
    read_count: int
    prover: CheckpointProver
    gaps: list[Gap] = field(default_factory=list)
    verification: dict[str, Any] | None = None


def _strs(mapping: Mapping[str, Any], names: Sequence[str]) -> tuple[str, ...]:
    out = []
    for name in names:
        value = mapping.get(name)
        if isinstance(value, str) and value:
            out.append(value)
    return tuple(out)


def _node_of(origin: str) -> str:
    parts = origin.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "logaudit" and parts[1] else origin


def _audit_message(stored: StoredEvent) -> str:
    e = stored.event
    text = f"{e.event_type}/{e.action} by {e.actor}"
    if e.resource:
        text += f" on {e.resource}"
    text += f": {e.outcome}"
    if e.event_type == EventType.QUERY.value and "result_count" in e.details:
        text += f" ({e.details['result_count']} results)"
    return text


def _read_audit(
    store: AuditStore,
    analyst: Requestor,
    actors: Sequence[str],
    qstart: int | None,
    qend: int | None,
    include_queries: bool,
    verifier_keys: Sequence[str],
    stream_index: int,
) -> _Stream:
    start = None if qstart is None else us_to_datetime(qstart)
    end = None if qend is None else us_to_datetime(qend)
    found: dict[int, StoredEvent] = {}
    criteria: list[dict[str, Any]] = (
        [{"actor": list(actors)}, {"resource": list(actors)}] if actors else [{}]
    )
    for crit in criteria:
        query = EventQuery.build(crit, start=start, end=end)
        for stored in store.iter_events(query, analyst, purpose="forensic_timeline"):
            found.setdefault(stored.seq, stored)
    prover = audit_prover(store, verifier_keys)
    default_node = _node_of(store.origin)
    items: list[_Item] = []
    for seq in sorted(found):
        stored = found[seq]
        e = stored.event
        if e.action in _BOOKKEEPING and e.event_type == EventType.ADMINISTRATIVE.value:
            continue
        if not include_queries and e.event_type == EventType.QUERY.value:
            continue
        details = dict(e.details)
        items.append(
            _Item(
                stream_index,
                seq,
                ts_us(stored.ts),
                e.source_node or default_node,
                e.event_id,
                (e.event_id, *_strs(details, CAUSE_ID_FIELDS)),
                _strs(details, CAUSE_REF_FIELDS),
                {
                    "event_type": e.event_type,
                    "action": e.action,
                    "actor": e.actor,
                    "actor_type": e.actor_type,
                    "outcome": e.outcome,
                    "resource": e.resource,
                    "source_ip": e.source_ip,
                    "clearance": int(e.clearance),
                    "level": None,
                    "message": _audit_message(stored),
                    "details": details,
                },
                prover.status(seq, stored.leaf_hash),
            )
        )
    stream = _Stream(
        store.origin,
        "audit",
        store.driver.describe(),
        "store verifier key" if not verifier_keys else "given verifier key(s)",
        items,
        [(i.recorded_us, i.node) for i in items],
        len(found),
        prover,
    )
    start_state = store.stream_start()
    if start_state is not None:
        stream.gaps.append(
            Gap(
                "pruned",
                store.origin,
                f"seq 0-{start_state.size - 1} of the audit stream were removed by retention "
                f"({start_state.reason}); their tree frontier is kept, so what remains still "
                "verifies",
                first_seq=0,
                last_seq=start_state.size - 1,
            )
        )
    if prover.tree_error is not None:
        stream.gaps.extend(_audit_missing(store))
    return stream


def _audit_missing(store: AuditStore) -> list[Gap]:
    """Seq ranges absent from the entries table (rows deleted behind the store's back)."""
    start = store.stream_start()
    expected = start.size if start is not None else 0
    gaps: list[Gap] = []
    for (seq,) in store.driver.stream("SELECT seq FROM entries ORDER BY seq"):
        seq = int(seq)
        if seq > expected:
            gaps.append(
                Gap(
                    "missing",
                    store.origin,
                    f"seq {expected}-{seq - 1} are missing from the audit stream: deleted or "
                    "lost (run verify_integrity for the full report)",
                    first_seq=expected,
                    last_seq=seq - 1,
                )
            )
        expected = max(expected, seq + 1)
    return gaps


_RELATED_KEYS = ("agent_id", "user_id", "actor", "user", "agent", "username")


def _mentions(fields: Mapping[str, Any], ids: frozenset[str]) -> bool:
    msg = fields.get("msg")
    if isinstance(msg, str) and any(i in msg for i in ids):
        return True
    extra = fields.get("extra")
    return isinstance(extra, Mapping) and _mentions_value(extra, ids, 0)


def _mentions_value(value: Any, ids: frozenset[str], depth: int) -> bool:
    if isinstance(value, str):
        return value in ids
    if depth >= 4:
        return False
    if isinstance(value, Mapping):
        return any(_mentions_value(v, ids, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions_value(v, ids, depth + 1) for v in value)
    return False


def _log_message(fields: Mapping[str, Any], status: str) -> str:
    level = fields.get("level") or "-"
    logger = fields.get("logger") or "-"
    if status in ("encrypted", "shredded"):
        return f"[{level}] {logger}: <{status}: fields not readable>"
    return f"[{level}] {logger}: {fields.get('msg', '')}"


def _read_log(
    source: LogSource,
    verifier_files: Sequence[Path],
    public_keys: Sequence[str],
    ids: frozenset[str],
    scope: LogScope,
    stream_index: int,
) -> _Stream:
    from logging_audit.crypto.data_keys import EncryptionKeyStore
    from logging_audit.reader import read_records
    from logging_audit.storage.files.layout import StreamLayout
    from logging_audit.storage.files.manifest import Manifest
    from logging_audit.storage.files.reading import iter_stream_lines, read_checkpoints
    from logging_audit.storage.files.verify import find_streams, verify_stream_dir

    streams = find_streams(source.path)
    if len(streams) != 1:
        raise ConfigError(
            f"{source.path} is not one SecureLogger stream directory (log_dir/<name>)"
        )
    root = streams[0]
    layout = StreamLayout(root)
    manifest = Manifest.load(layout.manifest)
    origin = manifest.origin
    files = [source.verifier_file] if source.verifier_file is not None else []
    material, verifier = resolve_material(root, origin, [*files, *verifier_files], public_keys)
    enc_path = source.encryption_key_file or layout.keys / "encryption.json"
    key_for = EncryptionKeyStore.load(enc_path).data_key if enc_path.exists() else None
    report = None
    if material is not None:
        report = verify_stream_dir(root, material, key_for=key_for)
    lines = (
        line for _seg, _n, line in iter_stream_lines(layout, manifest, key_for, on_missing=_ignore)
    )
    leaves = read_leaves(lines, manifest.start())
    notes = read_checkpoints(layout)
    prover = log_stream_prover(origin, leaves, notes, material, report)
    default_node = _node_of(origin)
    items: list[_Item] = []
    all_us: list[tuple[int, str]] = []
    count = 0
    for rec in read_records(root, encryption_key_file=source.encryption_key_file):
        if rec.seq is None or rec.ts is None:
            continue
        count += 1
        node = rec.fields.get("node")
        node = node if isinstance(node, str) and node else default_node
        if rec.kind != "record":
            continue  # seals and prune entries: housekeeping on timers, not activity
        recorded = ts_us(rec.ts)
        all_us.append((recorded, node))
        if scope == "related" and ids and not _mentions(rec.fields, ids):
            continue
        extra = rec.fields.get("extra")
        extra_map: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
        actor = next((v for v in _strs(extra_map, _RELATED_KEYS) if v), None)
        leaf = leaves.leaves.get(rec.seq)
        integrity = (
            prover.status(rec.seq, leaf)
            if leaf is not None
            else IntegrityStatus(
                IntegrityState.UNVERIFIABLE, "the record's line could not be hashed"
            )
        )
        items.append(
            _Item(
                stream_index,
                rec.seq,
                recorded,
                node,
                f"{origin}#{rec.seq}",
                (f"{origin}#{rec.seq}", *_strs(extra_map, CAUSE_ID_FIELDS)),
                _strs(extra_map, CAUSE_REF_FIELDS),
                {
                    "event_type": "log",
                    "action": str(rec.fields.get("logger") or "log"),
                    "actor": actor,
                    "actor_type": None,
                    "outcome": None,
                    "resource": extra_map.get("resource")
                    if isinstance(extra_map.get("resource"), str)
                    else None,
                    "source_ip": next(
                        iter(_strs(extra_map, ("source_ip", "ip_address", "ip"))), None
                    ),
                    "clearance": None,
                    "level": rec.level,
                    "message": _log_message(rec.fields, rec.status),
                    "details": {
                        **extra_map,
                        "_status": rec.status,
                        "_at": f"{rec.segment}:{rec.line}",
                    },
                },
                integrity,
            )
        )
    stream = _Stream(
        origin,
        "log",
        str(root),
        verifier,
        items,
        all_us,
        count,
        prover,
        verification=None if report is None else report.to_dict(),
    )
    for first, last in leaves.missing:
        stream.gaps.append(
            Gap(
                "missing",
                origin,
                f"seq {first}-{last} are missing from the stream: deleted, or in a segment that is "
                "gone (see the stream's verification report)",
                first_seq=first,
                last_seq=last,
            )
        )
    if report is not None:
        for pruned in report.pruned:
            stream.gaps.append(
                Gap(
                    "pruned",
                    origin,
                    f"seq {pruned.first}-{pruned.last} were pruned by policy ({pruned.reason})"
                    + ("" if pruned.confirmed else ", NOT confirmed by a signed prune entry"),
                    first_seq=pruned.first,
                    last_seq=pruned.last,
                )
            )
    return stream


def _ignore(_exc: Exception) -> None:
    """Missing segments: the verification report names them; reading shows what is there."""


# -- the analyzer -------------------------------------------------------------------


def _seconds(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{what} must be seconds (>= 0) or a timedelta, got {value!r}")
    return float(value)


class TimelineAnalyzer:
    """Reconstruct timelines from an audit store and SecureLogger streams (see the module doc)."""

    def __init__(
        self,
        store: StoreLike = None,
        *,
        log_streams: Iterable[str | os.PathLike[str] | LogSource] = (),
        verifier_files: Iterable[str | os.PathLike[str]] = (),
        verifier_keys: Iterable[str] = (),
        analyst: str | Requestor = DEFAULT_ANALYST,
        clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_5,
        clock_offsets: Mapping[str, float] | None = None,
        reference_node: str | None = None,
        estimate_skew: bool = True,
        gap_threshold: float | timedelta | None = 3600.0,
        max_skew: float | timedelta = 3600.0,
        record_custody: bool = True,
        key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Set up where timelines come from.

        ``store``: an ``AuditStore``, a service with ``.store``, a database
        path/URL, or ``None`` for the embedded default (``$LOGAUDIT_AUDIT_DB`` /
        ``audit_service/audit.db``). ``verifier_keys``: checkpoint verifier keys
        of the audit stream obtained off the host (default: the store's own).
        ``clock_offsets``: seconds each node's clock ran ahead of the reference.
        ``gap_threshold``: silences longer than this (seconds) are marked
        (``None``: never). ``max_skew``: how far beyond the window audit events
        are read, so that skew correction can bring them in.
        """
        self._store = store
        self._key_dir = key_dir
        self.log_streams = [LogSource.of(s) for s in log_streams]
        self.verifier_files = [Path(p) for p in verifier_files]
        self.verifier_keys = list(verifier_keys)
        self.analyst = requestor_for(analyst, clearance)
        self.clock_offsets = dict(clock_offsets or {})
        self.reference_node = reference_node
        self.estimate_skew = estimate_skew
        self.gap_threshold = _seconds(gap_threshold, "gap_threshold")
        max_skew_s = _seconds(max_skew, "max_skew")
        self.max_skew = 0.0 if max_skew_s is None else max_skew_s
        self.record_custody = record_custody

    def reconstruct(
        self,
        incident_id: str | None = None,
        start_time: TimeArg = None,
        end_time: TimeArg = None,
        related_agents: Iterable[str] | None = None,
        *,
        related_users: Iterable[str] = (),
        nodes: Iterable[str] | None = None,
        log_streams: Iterable[str | os.PathLike[str] | LogSource] | None = None,
        log_scope: LogScope | None = None,
        include_queries: bool = True,
        clock_offsets: Mapping[str, float] | None = None,
    ) -> Timeline:
        """Reconstruct one timeline (see the module docstring) and record its custody.

        ``incident_id``: an incident recorded with
        :class:`~logging_audit.forensics.incidents.IncidentLog` supplies the
        related agents when none are given, and its annotations and tags; an
        id not recorded yet just labels the timeline and its custody record.
        ``start_time``/``end_time``: ISO dates or datetimes, ``datetime``
        objects, or ``None``/``...`` for open (an end date includes its day).
        ``related_agents``/``related_users``: actors whose events (and events
        about whom) are shown; none at all shows everything in the window.
        ``log_scope``: ``"related"`` (default when actors are given) keeps log
        records that mention them; ``"all"`` keeps every record.
        """
        start_us = time_arg(start_time, "start_time")
        end_us = time_arg(end_time, "end_time", end=True)
        if start_us is not None and end_us is not None and end_us <= start_us:
            raise ConfigError("end_time is before start_time")
        sources = (
            self.log_streams if log_streams is None else [LogSource.of(s) for s in log_streams]
        )
        offsets = {**self.clock_offsets, **(clock_offsets or {})}
        node_filter = None if nodes is None else frozenset(nodes)
        with store_session(self._store, key_dir=self._key_dir) as store:
            incident = (
                load_incident(store, self.analyst, incident_id) if incident_id is not None else None
            )
            actors = list(dict.fromkeys([*(related_agents or ()), *related_users]))
            if not actors and related_agents is None and incident is not None:
                actors = list(incident.related_agents)
            scope: LogScope = log_scope or ("related" if actors else "all")
            if scope not in ("related", "all"):
                raise ConfigError(f"log_scope must be 'related' or 'all', got {scope!r}")
            margin = round(self.max_skew * _US)
            streams = [
                _read_audit(
                    store,
                    self.analyst,
                    actors,
                    None if start_us is None else start_us - margin,
                    None if end_us is None else end_us + margin,
                    include_queries,
                    self.verifier_keys,
                    0,
                )
            ]
            for i, source in enumerate(sources, 1):
                streams.append(
                    _read_log(source, self.verifier_files, [], frozenset(actors), scope, i)
                )
            timeline = self._assemble(
                streams, incident_id, incident, actors, start_us, end_us, offsets, node_filter
            )
            timeline.parameters = {
                "incident_id": incident_id,
                "start_time": None if start_us is None else format_us(start_us),
                "end_time_exclusive": None if end_us is None else format_us(end_us),
                "related": actors,
                "nodes": None if node_filter is None else sorted(node_filter),
                "log_streams": [str(s.path) for s in sources],
                "log_scope": scope,
                "include_queries": include_queries,
                "clock_offsets": offsets,
                "reference_node": self.reference_node,
                "estimate_skew": self.estimate_skew,
                "gap_threshold_seconds": self.gap_threshold,
                "max_skew_seconds": self.max_skew,
                "verifier_keys": list(self.verifier_keys),
                "analyst_clearance": int(self.analyst.clearance),
            }
            if self.record_custody:
                timeline.custody = record_custody(
                    store,
                    self.analyst,
                    operation="timeline_reconstruction",
                    subject=incident_id or "timeline",
                    parameters=timeline.parameters,
                    result_sha256=timeline.digest(),
                    summary={
                        "events": len(timeline.events),
                        "gaps": len(timeline.gaps),
                        "integrity": timeline.integrity_counts(),
                        "sources": [s.origin for s in timeline.sources],
                    },
                )
        return timeline

    def _assemble(
        self,
        streams: list[_Stream],
        incident_id: str | None,
        incident: Incident | None,
        actors: list[str],
        start_us: int | None,
        end_us: int | None,
        offsets: Mapping[str, float],
        node_filter: frozenset[str] | None,
    ) -> Timeline:
        everything = [item for s in streams for item in s.items]
        counts = Counter(item.node for item in everything)
        links = find_links(
            CausalItem(i.node, i.recorded_us, i.event_id, i.ids, i.refs) for i in everything
        )
        clocks = estimate_clocks(
            counts,
            links,
            reference=self.reference_node,
            given=offsets,
            estimate=self.estimate_skew,
        )

        def corrected(item: _Item) -> int:
            return item.recorded_us - clocks.offset_us(item.node)

        def keep(item: _Item) -> bool:
            t = corrected(item)
            if start_us is not None and t < start_us:
                return False
            if end_us is not None and t >= end_us:
                return False
            return node_filter is None or item.node in node_filter

        per_stream = [[i for i in s.items if keep(i)] for s in streams]
        merged = heapq.merge(*per_stream, key=lambda i: (corrected(i), i.stream, i.seq))
        events: list[TimelineEvent] = []
        last_in_stream: dict[int, int] = {}
        for position, item in enumerate(merged):
            t = corrected(item)
            notes: list[str] = []
            prev = last_in_stream.get(item.stream)
            if prev is not None and t < prev:
                notes.append(
                    f"time goes back {(prev - t) / _US:.6f} s from the previous entry of this "
                    "stream (its clock was stepped back): kept in stream order"
                )
            last_in_stream[item.stream] = max(t, prev) if prev is not None else t
            off = clocks.offset_us(item.node)
            tags: tuple[str, ...] = ()
            annotations: tuple[str, ...] = ()
            if incident is not None:
                tags = incident.tags_for(item.event_id)
                annotations = tuple(
                    f"{a.author} ({a.at}): {a.text}"
                    for a in incident.annotations_for(item.event_id)
                )
            events.append(
                TimelineEvent(
                    position=position,
                    time=format_us(t),
                    recorded_time=format_us(item.recorded_us),
                    clock_offset_seconds=off / _US,
                    node=item.node,
                    source=streams[item.stream].origin,
                    source_kind=streams[item.stream].kind,
                    seq=item.seq,
                    event_id=item.event_id,
                    integrity=item.integrity,
                    notes=tuple(notes),
                    tags=tags,
                    annotations=annotations,
                    **item.build,
                )
            )
        gaps: list[Gap] = []
        shown = Counter(e.source for e in events)
        for s in streams:
            gaps.extend(self._placed(s, clocks))
            gaps.extend(self._silences(s, clocks, start_us, end_us))
        summaries = [
            SourceSummary(
                s.origin,
                s.kind,
                s.location,
                s.read_count,
                shown.get(s.origin, 0),
                s.verifier,
                s.prover.summary(),
                s.verification,
            )
            for s in streams
        ]
        remarks: list[str] = []
        if incident_id is not None and incident is None:
            remarks.append(f"incident {incident_id} is not recorded in this store (or not visible)")
        if clocks.violations_after:
            remarks.append(
                f"{clocks.violations_after} causal link(s) still run backwards after skew "
                "correction: the clock evidence contradicts itself"
            )
        return Timeline(
            incident_id=incident_id,
            start=None if start_us is None else format_us(start_us),
            end=None if end_us is None else format_us(end_us),
            related=tuple(actors),
            analyst=self.analyst.requestor_id,
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            events=events,
            gaps=gaps,
            clocks=clocks,
            sources=summaries,
            parameters={},
            incident=incident,
            notes=remarks,
        )

    @staticmethod
    def _placed(stream: _Stream, clocks: ClockReport) -> list[Gap]:
        """Give seq gaps the corrected times of the entries around them."""
        times = sorted((i.seq, i.recorded_us - clocks.offset_us(i.node)) for i in stream.items)
        out = []
        for gap in stream.gaps:
            if gap.first_seq is None or gap.start is not None:
                out.append(gap)
                continue
            before = [t for seq, t in times if seq < gap.first_seq]
            after = [t for seq, t in times if gap.last_seq is not None and seq > gap.last_seq]
            out.append(
                Gap(
                    gap.kind,
                    gap.source,
                    gap.reason,
                    format_us(before[-1]) if before else None,
                    format_us(after[0]) if after else None,
                    gap.first_seq,
                    gap.last_seq,
                )
            )
        return out

    def _silences(
        self, stream: _Stream, clocks: ClockReport, start_us: int | None, end_us: int | None
    ) -> list[Gap]:
        if self.gap_threshold is None:
            return []
        limit = round(self.gap_threshold * _US)
        times = [t - clocks.offset_us(node) for t, node in stream.all_us]
        times = sorted(
            t
            for t in times
            if (start_us is None or t >= start_us) and (end_us is None or t < end_us)
        )
        what = "entries" if stream.kind == "log" else "events of the related actors"
        out = []
        for a, b in itertools.pairwise(times):
            if b - a > limit:
                out.append(
                    Gap(
                        "silence",
                        stream.origin,
                        f"no {what} of {stream.origin} for {_duration(b - a)} "
                        f"(threshold {_duration(limit)})",
                        format_us(a),
                        format_us(b),
                    )
                )
        return out


def _duration(us: int) -> str:
    seconds = us // _US
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{us / _US:.3f}s"
