"""Timeline outputs: JSON, CSV, Timesketch JSON Lines, HTML — and files with their digest.

- **JSON**: :meth:`Timeline.to_dict` indented; the ``custody`` member holds the
  custody record, whose ``result_sha256`` is the digest of the same document
  without it (:meth:`Timeline.digest`).
- **CSV**: one row per entry and per gap marker, in timeline order, with the
  integrity state and reason as columns (spreadsheet-friendly; ``details`` as
  compact JSON).
- **Timesketch JSON Lines**: one object per line with the fields Timesketch
  requires — ``message``, ``datetime`` (ISO 8601 with offset) and
  ``timestamp_desc`` — plus ``timestamp`` (µs) and flat attributes (source,
  node, seq, event id, actor, integrity …). Gaps become entries with
  ``timestamp_desc`` ``"Gap start"``.
- **HTML**: see :mod:`~logging_audit.forensics.report`.

:func:`write_timeline` writes one of them to a file and, given the store,
records a custody event for the file (its name, size and SHA-256).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from logging_audit.errors import ConfigError, StorageError
from logging_audit.forensics._common import sha256_hex

if TYPE_CHECKING:
    from logging_audit.audit.store import AuditStore
    from logging_audit.forensics.custody import CustodyRecord
    from logging_audit.forensics.timeline import Gap, Timeline, TimelineEvent

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "OutputFile",
    "render_timeline",
    "timeline_csv",
    "timeline_json",
    "timeline_timesketch",
    "write_timeline",
]

OutputFormat = Literal["json", "csv", "timesketch", "html"]
FORMATS: tuple[OutputFormat, ...] = ("json", "csv", "timesketch", "html")

CSV_COLUMNS = (
    "position",
    "row",
    "time",
    "recorded_time",
    "clock_offset_seconds",
    "node",
    "source",
    "source_kind",
    "seq",
    "event_id",
    "event_type",
    "action",
    "actor",
    "outcome",
    "resource",
    "source_ip",
    "clearance_level",
    "level",
    "message",
    "integrity_state",
    "integrity_reason",
    "checkpoint_size",
    "tags",
    "annotations",
    "notes",
    "details",
)


def timeline_json(timeline: Timeline) -> str:
    """The timeline as indented JSON (keys sorted)."""
    return orjson.dumps(
        timeline.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()


def _event_row(e: TimelineEvent) -> dict[str, Any]:
    return {
        "position": e.position,
        "row": "event",
        "time": e.time,
        "recorded_time": e.recorded_time,
        "clock_offset_seconds": e.clock_offset_seconds,
        "node": e.node,
        "source": e.source,
        "source_kind": e.source_kind,
        "seq": e.seq,
        "event_id": e.event_id,
        "event_type": e.event_type,
        "action": e.action,
        "actor": e.actor or "",
        "outcome": e.outcome or "",
        "resource": e.resource or "",
        "source_ip": e.source_ip or "",
        "clearance_level": "" if e.clearance is None else e.clearance,
        "level": e.level or "",
        "message": e.message,
        "integrity_state": e.integrity.state.value,
        "integrity_reason": e.integrity.reason,
        "checkpoint_size": ""
        if e.integrity.checkpoint_size is None
        else e.integrity.checkpoint_size,
        "tags": " ".join(e.tags),
        "annotations": " | ".join(e.annotations),
        "notes": " | ".join(e.notes),
        "details": orjson.dumps(dict(e.details), option=orjson.OPT_SORT_KEYS).decode(),
    }


def _gap_row(g: Gap) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CSV_COLUMNS, "")
    row.update(
        {
            "row": f"gap:{g.kind}",
            "time": g.start or "",
            "source": g.source,
            "seq": "" if g.first_seq is None else f"{g.first_seq}-{g.last_seq}",
            "message": g.reason,
            "notes": f"until {g.end}" if g.end else "",
        }
    )
    return row


def _safe_cell(value: Any) -> Any:
    """Defuse spreadsheet formulas in text cells (a cell starting with = + - @ is quoted)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def timeline_csv(timeline: Timeline) -> str:
    """One CSV row per entry and per gap, in timeline order (header: :data:`CSV_COLUMNS`)."""
    from logging_audit.forensics.timeline import Gap

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in timeline.rows():
        data = _gap_row(row) if isinstance(row, Gap) else _event_row(row)
        writer.writerow({k: _safe_cell(v) for k, v in data.items()})
    return buf.getvalue()


def _iso(ts: str) -> str:
    """RFC 3339 ``…Z`` as Timesketch's ISO 8601 example writes it (``+00:00``)."""
    return ts[:-1] + "+00:00" if ts.endswith("Z") else ts


def timeline_timesketch(timeline: Timeline) -> str:
    """Timesketch JSON Lines: ``message``, ``datetime``, ``timestamp_desc`` on every line."""
    from logging_audit.forensics.timeline import Gap

    lines: list[bytes] = []
    for row in timeline.rows():
        obj: dict[str, Any]
        if isinstance(row, Gap):
            if row.start is None:
                continue  # a gap before anything was recorded has no time to show it at
            obj = {
                "message": f"[gap:{row.kind}] {row.reason}",
                "datetime": _iso(row.start),
                "timestamp": _us(row.start),
                "timestamp_desc": "Gap start",
                "source_stream": row.source,
                "gap_kind": row.kind,
                "gap_end": row.end,
                "incident_id": timeline.incident_id,
            }
        else:
            obj = {
                "message": row.message,
                "datetime": _iso(row.time),
                "timestamp": _us(row.time),
                "timestamp_desc": "Event Recorded"
                if row.source_kind == "audit"
                else "Log Record Written",
                "recorded_datetime": _iso(row.recorded_time),
                "clock_offset_seconds": row.clock_offset_seconds,
                "source_stream": row.source,
                "source_kind": row.source_kind,
                "node": row.node,
                "seq": row.seq,
                "event_id": row.event_id,
                "event_type": row.event_type,
                "action": row.action,
                "actor": row.actor,
                "outcome": row.outcome,
                "resource": row.resource,
                "source_ip": row.source_ip,
                "clearance_level": row.clearance,
                "level": row.level,
                "integrity_state": row.integrity.state.value,
                "integrity_verified": row.integrity.verified,
                "integrity_reason": row.integrity.reason,
                "incident_id": timeline.incident_id,
            }
            if row.tags:
                obj["tag"] = list(row.tags)
            if row.annotations:
                obj["annotations"] = list(row.annotations)
        lines.append(orjson.dumps({k: v for k, v in obj.items() if v is not None}))
    return b"".join(line + b"\n" for line in lines).decode()


def _us(ts: str) -> int:
    from logging_audit.forensics._common import ts_us

    return ts_us(ts)


def render_timeline(timeline: Timeline, fmt: str) -> str:
    """The timeline in one of :data:`FORMATS`."""
    if fmt == "json":
        return timeline_json(timeline)
    if fmt == "csv":
        return timeline_csv(timeline)
    if fmt == "timesketch":
        return timeline_timesketch(timeline)
    if fmt == "html":
        return timeline.to_html()
    raise ConfigError(f"unknown timeline format {fmt!r}; use one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class OutputFile:
    """A file written from a forensic result, with its digest and custody record."""

    path: Path
    format: str
    size: int
    sha256: str
    custody: CustodyRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": str(self.path),
            "format": self.format,
            "bytes": self.size,
            "sha256": self.sha256,
            "custody": None if self.custody is None else self.custody.to_dict(),
        }


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


def write_timeline(
    timeline: Timeline,
    path: str | os.PathLike[str],
    fmt: str = "json",
    *,
    store: AuditStore | None = None,
) -> OutputFile:
    """Write the timeline to ``path``; with ``store``, record the file's custody there."""
    data = render_timeline(timeline, fmt).encode()
    target = Path(path)
    write_bytes_atomic(target, data)
    digest = sha256_hex(data)
    custody = None
    if store is not None:
        from logging_audit.forensics._common import requestor_for
        from logging_audit.forensics.custody import record_custody

        custody = record_custody(
            store,
            requestor_for(timeline.analyst, _analyst_clearance(timeline)),
            operation="timeline_export",
            subject=timeline.incident_id or "timeline",
            parameters={
                "format": fmt,
                "output_file": str(target),
                "timeline_sha256": timeline.digest(),
                "reconstruction_event_id": None
                if timeline.custody is None
                else timeline.custody.event_id,
            },
            result_sha256=digest,
            summary={"bytes": len(data), "events": len(timeline.events)},
        )
    return OutputFile(target, fmt, len(data), digest, custody)


def _analyst_clearance(timeline: Timeline) -> int:
    level = timeline.parameters.get("analyst_clearance")
    return int(level) if isinstance(level, int) else 5
