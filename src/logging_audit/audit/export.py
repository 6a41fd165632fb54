"""Streaming exports of audit events, with their chain of custody recorded in the log.

:func:`export_events` writes every event matching a query that the requestor
may see (no read-up: events above its clearance are never written, nor
counted) to a file or binary stream, as it reads them — memory stays constant
however many events match. Formats (see ``docs/audit-export.md``):

``json``
    The seed's shape: one JSON array of events, each in the stable result
    shape of :meth:`~logging_audit.audit.records.StoredEvent.to_dict` (keys
    sorted, one event per line) — byte for byte what
    ``AuditTrailService.export_logs`` writes.
``jsonl``
    One event (the same shape) per line.
``csv``
    RFC 4180 CSV (``\\r\\n`` line ends, UTF-8, no BOM) with the header row
    :data:`CSV_COLUMNS`; ``details`` and ``agent_signature`` as compact JSON
    text, ``None`` as an empty cell, booleans as ``true``/``false``. A cell
    that starts with ``=``, ``+``, ``-``, ``@``, tab, carriage return or ``'``
    is prefixed with ``'`` so that spreadsheets never run it as a formula;
    :func:`read_csv_events` undoes it exactly.
``ocsf``
    A JSON array of OCSF 1.3.0 events (:func:`~logging_audit.audit.ocsf.to_ocsf`).

With ``bundle=True`` the export is an evidence bundle instead
(:mod:`~logging_audit.audit.bundle`), verifiable offline.

Chain of custody: the read itself is recorded by the store as a ``query``
event with action ``export`` (who, criteria, how many, whether it completed);
once the file is complete, :func:`export_events` records a second ``query``
event, action ``export_custody``, holding the export id, format, byte size
and the SHA-256 digest of exactly the bytes written. A file written to a
path appears under its name only when complete (written to a temporary file
beside it, fsynced, then renamed), created readable by its owner only
(0600): exports hold audit data.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from logging_audit.audit.csv_rows import CsvRowWriter, read_rows
from logging_audit.audit.ocsf import to_ocsf
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError, FormatError, StorageError

__all__ = [
    "CSV_COLUMNS",
    "CUSTODY_ACTION",
    "EXPORT_ACTION",
    "BundleSummary",
    "ExportFormat",
    "ExportResult",
    "Output",
    "ProgressCallback",
    "Sink",
    "csv_cell",
    "export_events",
    "open_output",
    "read_csv_events",
    "record_custody",
    "requestor_dict",
]

EXPORT_ACTION = "export"
"""Action of the ``query`` event the store records for the read of an export."""
CUSTODY_ACTION = "export_custody"
"""Action of the ``query`` event recording a finished export's file digest."""

CSV_COLUMNS = (
    "seq",
    "timestamp",
    "event_id",
    "event_type",
    "action",
    "outcome",
    "success",
    "actor",
    "actor_type",
    "user_id",
    "agent_id",
    "resource",
    "source_ip",
    "source_node",
    "clearance_level",
    "details",
    "agent_signature",
)
"""The CSV header row, in order. Stable: new columns are only ever appended."""

_CSV_INT = ("seq", "clearance_level")
_CSV_JSON = ("details", "agent_signature")
_CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")

Output = str | os.PathLike[str] | IO[bytes]
"""Where an export goes: a path, or a binary stream opened for writing."""

ProgressCallback = Callable[[int], None]
"""Called with the number of events written so far (every 1000 events and at the end)."""

PROGRESS_EVERY = 1000
_FLUSH_BYTES = 1 << 20


class ExportFormat(str, Enum):
    """The export formats."""

    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"

    @classmethod
    def parse(cls, value: object) -> ExportFormat:
        """Return ``value`` as a format; :class:`ConfigError` naming the known ones otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a known name: the error below
                return cls(value.strip().lower())
        known = ", ".join(f.value for f in cls)
        raise ConfigError(f"unknown export format {value!r}; formats: {known}")


@dataclass(frozen=True)
class BundleSummary:
    """What an evidence bundle export proved against, and where its manifest is."""

    checkpoint_size: int
    """Tree size of the checkpoint every event's inclusion proof leads to."""
    manifest_seq: int
    """Seq of the ``export_manifest`` event binding the set of exported events."""
    manifest_checkpoint_size: int
    """Tree size of the checkpoint that covers the manifest."""
    events_sha256: str
    """The manifest's digest of the exported events (see docs/evidence-bundles.md)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "checkpoint_size": self.checkpoint_size,
            "manifest_seq": self.manifest_seq,
            "manifest_checkpoint_size": self.manifest_checkpoint_size,
            "events_sha256": self.events_sha256,
        }


@dataclass(frozen=True)
class ExportResult:
    """A finished export: how many events, the file's digest, and the custody record."""

    export_id: str
    format: str
    count: int
    sha256: str
    """Hex SHA-256 of exactly the bytes written."""
    bytes_written: int
    output: str | None
    """The path written, or ``None`` for a stream."""
    custody_seq: int
    """Seq of the ``export_custody`` event recording this export in the log."""
    bundle: BundleSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "export_id": self.export_id,
            "format": self.format,
            "count": self.count,
            "sha256": self.sha256,
            "bytes": self.bytes_written,
            "output": self.output,
            "custody_seq": self.custody_seq,
            "bundle": None if self.bundle is None else self.bundle.to_dict(),
        }


# -- output: a hashing, counting, buffered sink; atomic files ---------------------------


class Sink:
    """Buffers writes to a binary stream and hashes (SHA-256) and counts every byte."""

    def __init__(self, raw: IO[bytes], where: str) -> None:
        """Write to ``raw``; ``where`` names it in errors."""
        self._raw = raw
        self._where = where
        self._sha = hashlib.sha256()
        self._parts: list[bytes] = []
        self._pending = 0
        self.size = 0

    def write(self, data: bytes) -> None:
        """Queue ``data``; flushed every megabyte."""
        self._parts.append(data)
        self._pending += len(data)
        if self._pending >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand the queued bytes to the stream."""
        if not self._parts:
            return
        blob = b"".join(self._parts)
        self._parts.clear()
        self._pending = 0
        try:
            self._raw.write(blob)
        except OSError as exc:
            raise StorageError(f"cannot write the export to {self._where}: {exc}") from exc
        self._sha.update(blob)
        self.size += len(blob)

    def hexdigest(self) -> str:
        """SHA-256 of every byte flushed so far."""
        return self._sha.hexdigest()


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directory fsync is POSIX
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_output(output: Output, *, overwrite: bool = True) -> Iterator[tuple[Sink, str | None]]:
    """Yield a :class:`Sink` on ``output`` and the path written (``None`` for a stream).

    A path is written to a temporary file (mode 0600) beside it, fsynced and
    renamed over the path only when the body of the ``with`` completes; on any
    error the temporary file is removed and nothing appears under the name.
    """
    if not isinstance(output, str | os.PathLike):
        if not hasattr(output, "write"):
            raise ConfigError(f"an export goes to a path or a binary stream, not {output!r}")
        sink = Sink(output, "the output stream")
        yield sink, None
        sink.flush()
        return
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"export path {path} is a directory")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; refusing to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
    except OSError as exc:
        raise StorageError(f"cannot create the export file in {parent}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = Sink(raw, str(path))
            yield sink, str(path)
            sink.flush()
            try:
                raw.flush()
                os.fsync(raw.fileno())
            except OSError as exc:
                raise StorageError(f"cannot write the export to {path}: {exc}") from exc
        try:
            os.replace(tmp, path)
            _fsync_dir(parent)
        except OSError as exc:
            raise StorageError(f"cannot move the export into place at {path}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- format writers ---------------------------------------------------------------------


class _Writer(Protocol):
    def begin(self) -> None: ...

    def event(self, stored: StoredEvent) -> None: ...

    def end(self, count: int) -> None: ...


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


class _JsonWriter:
    """The seed's shape: a JSON array, one event (keys sorted) per line."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._first = True

    def begin(self) -> None:
        self._sink.write(b"[")

    def event(self, stored: StoredEvent) -> None:
        data = orjson.dumps(stored.to_dict(), option=orjson.OPT_SORT_KEYS)
        self._sink.write((b"\n  " if self._first else b",\n  ") + data)
        self._first = False

    def end(self, count: int) -> None:
        self._sink.write(b"]\n" if self._first else b"\n]\n")


class _JsonlWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def begin(self) -> None:
        """JSON Lines has no header."""

    def event(self, stored: StoredEvent) -> None:
        self._sink.write(_dumps(stored.to_dict()) + b"\n")

    def end(self, count: int) -> None:
        """JSON Lines has no footer."""


class _OcsfWriter:
    def __init__(self, sink: Sink, origin: str, node_id: str) -> None:
        self._sink = sink
        self._origin = origin
        self._node = node_id
        self._first = True

    def begin(self) -> None:
        self._sink.write(b"[")

    def event(self, stored: StoredEvent) -> None:
        obj = to_ocsf(stored, origin=self._origin, node_id=self._node)
        self._sink.write((b"\n" if self._first else b",\n") + _dumps(obj))
        self._first = False

    def end(self, count: int) -> None:
        self._sink.write(b"]\n" if self._first else b"\n]\n")


def csv_cell(value: Any) -> str:
    """One CSV cell: None empty, bools ``true``/``false``, objects as JSON, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    text = str(value)
    if text.startswith(_CSV_DANGEROUS):
        return "'" + text
    return text


class _CsvWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buf = io.StringIO()
        self._csv = CsvRowWriter(self._buf)

    def _drain(self) -> None:
        self._sink.write(self._buf.getvalue().encode("utf-8"))
        self._buf.seek(0)
        self._buf.truncate()

    def begin(self) -> None:
        self._csv.writerow(CSV_COLUMNS)
        self._drain()

    def event(self, stored: StoredEvent) -> None:
        row = stored.to_dict()
        self._csv.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
        self._drain()

    def end(self, count: int) -> None:
        """CSV has no footer: every row was written as it came."""


def read_csv_events(source: str | os.PathLike[str] | IO[str]) -> Iterator[dict[str, Any]]:
    """Read back a CSV export: yield each row as the result shape it was written from.

    Undoes the formula prefix and the cell encoding exactly (ints, bools,
    JSON objects, ``None``). A file whose header is not :data:`CSV_COLUMNS`
    is a :class:`~logging_audit.errors.FormatError`.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8", newline="") as fh:
            yield from read_csv_events(fh)
        return
    reader = read_rows(source)
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise FormatError("not a logaudit CSV export: the header row differs from CSV_COLUMNS")
    for number, cells in enumerate(reader, start=2):
        if len(cells) != len(CSV_COLUMNS):
            raise FormatError(f"CSV row {number} has {len(cells)} cells, not {len(CSV_COLUMNS)}")
        row: dict[str, Any] = {}
        for name, cell in zip(CSV_COLUMNS, cells, strict=True):
            text = cell[1:] if cell.startswith("'") else cell
            try:
                if name in _CSV_INT:
                    row[name] = int(text)
                elif name == "success":
                    row[name] = text == "true"
                elif name in _CSV_JSON:
                    row[name] = orjson.loads(text) if text else None
                else:
                    row[name] = text if text else None
            except (ValueError, orjson.JSONDecodeError) as exc:
                raise FormatError(f"CSV row {number}, column {name}: {exc}") from exc
        yield row


# -- the export -------------------------------------------------------------------------


def requestor_dict(requestor: Requestor) -> dict[str, Any]:
    """JSON-ready description of a requestor."""
    return {
        "requestor_id": requestor.requestor_id,
        "actor_type": requestor.actor_type,
        "clearance_level": int(requestor.clearance),
    }


def record_custody(
    store: AuditStore,
    requestor: Requestor,
    query: EventQuery,
    *,
    export_id: str,
    fmt: str,
    count: int,
    sink: Sink,
    output: str | None,
    extra: dict[str, Any] | None = None,
) -> StoredEvent:
    """Record the ``export_custody`` event of a finished export (who, criteria, count, digest)."""
    details: dict[str, Any] = {
        "export_id": export_id,
        "format": fmt,
        "sha256": sink.hexdigest(),
        "bytes": sink.size,
        "output_file": output,
    }
    details.update(extra or {})
    return store.record_query(requestor, CUSTODY_ACTION, query, count, details)


def export_events(
    store: AuditStore,
    query: EventQuery,
    requestor: Requestor,
    output: Output,
    *,
    format: ExportFormat | str = ExportFormat.JSON,
    bundle: bool = False,
    progress: ProgressCallback | None = None,
    overwrite: bool = True,
    batch_size: int = 1000,
) -> ExportResult:
    """Export the events matching ``query`` that ``requestor`` may see; record the custody.

    ``format``: ``json``, ``jsonl``, ``csv`` or ``ocsf`` (see the module
    docstring). ``bundle=True`` writes an evidence bundle instead (``json`` or
    ``jsonl`` layout; see :func:`~logging_audit.audit.bundle.export_bundle`).
    ``progress`` is called with the number of events written so far.
    ``overwrite=False`` refuses an existing path. Returns the count, the file's
    SHA-256 and the seq of the custody event.
    """
    fmt = ExportFormat.parse(format)
    if bundle:
        from logging_audit.audit.bundle import export_bundle

        return export_bundle(
            store,
            query,
            requestor,
            output,
            layout=fmt.value,
            progress=progress,
            overwrite=overwrite,
            batch_size=batch_size,
        )
    export_id = uuid.uuid4().hex
    count = 0
    with open_output(output, overwrite=overwrite) as (sink, name):
        writer: _Writer
        if fmt is ExportFormat.JSON:
            writer = _JsonWriter(sink)
        elif fmt is ExportFormat.JSONL:
            writer = _JsonlWriter(sink)
        elif fmt is ExportFormat.CSV:
            writer = _CsvWriter(sink)
        else:
            writer = _OcsfWriter(sink, store.origin, store.node_id)
        writer.begin()
        events = store.iter_events(
            query,
            requestor,
            purpose=EXPORT_ACTION,
            batch_size=batch_size,
            details={"export_id": export_id, "format": fmt.value, "bundle": False},
        )
        try:
            for stored in events:
                writer.event(stored)
                count += 1
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(count)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        writer.end(count)
    if progress is not None:
        progress(count)
    custody = record_custody(
        store,
        requestor,
        query,
        export_id=export_id,
        fmt=fmt.value,
        count=count,
        sink=sink,
        output=name,
    )
    return ExportResult(export_id, fmt.value, count, sink.hexdigest(), sink.size, name, custody.seq)
