"""What every importer shares: the source's digest, the import record, batching into the store.

An import records, in order: an ``import_source`` system event (source file,
``sha256:<hex>`` digest, size, format, options), the imported events (each
carrying ``details.source_file``, ``details.source_digest``, ``details.line``
and its own time in ``details.event_time``), and an ``import_complete`` event
with the counts. Event ids are derived from the digest and line number
(``imp-<digest prefix>-<line>``), so the same file cannot be imported twice
into one stream: a second attempt is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError, StorageError
from logging_audit.persistence.models import ClearanceLevel

__all__ = [
    "IMPORTER_ACTOR",
    "IMPORT_ACTION",
    "IMPORT_DONE_ACTION",
    "ImportReport",
    "event_id_for",
    "file_digest",
    "write_import",
]

IMPORTER_ACTOR = "logaudit-import"
"""The actor of the import bookkeeping records."""
IMPORT_ACTION = "import_source"
IMPORT_DONE_ACTION = "import_complete"
_BATCH = 1000
_MAX_EXAMPLES = 20


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """``("sha256:<hex>", size)`` of a file."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    return "sha256:" + h.hexdigest(), size


def event_id_for(digest: str, line: int) -> str:
    """The id of the event imported from ``line`` of the source with ``digest``."""
    return f"imp-{digest.removeprefix('sha256:')[:24]}-{line}"


@dataclass
class ImportReport:
    """What an import did: counts, skipped lines by reason (with examples), ids."""

    source_file: str
    digest: str
    size: int
    format: str
    lines: int = 0
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    import_id: str | None = None
    first_event_time: str | None = None
    last_event_time: str | None = None
    origin: str | None = None

    def skip(self, line: int, reason: str, text: str = "") -> None:
        """Count a skipped line (keeping a few examples)."""
        self.skipped[reason] += 1
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append({"line": line, "reason": reason, "text": text[:200]})

    def saw_time(self, iso: str) -> None:
        """Track the earliest and latest event time."""
        if self.first_event_time is None or iso < self.first_event_time:
            self.first_event_time = iso
        if self.last_event_time is None or iso > self.last_event_time:
            self.last_event_time = iso

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source_file": self.source_file,
            "digest": self.digest,
            "size": self.size,
            "format": self.format,
            "lines": self.lines,
            "imported": self.imported,
            "skipped": dict(self.skipped),
            "skipped_examples": self.examples,
            "import_id": self.import_id,
            "first_event_time": self.first_event_time,
            "last_event_time": self.last_event_time,
            "origin": self.origin,
        }


def _already_imported(store: AuditStore, digest: str, requestor: Requestor) -> str | None:
    criteria = {"event_type": "system", "action": IMPORT_ACTION, "details.source_digest": digest}
    query = EventQuery.build(criteria)
    page = store.search(query, requestor, limit=1)
    return page.events[0].event.event_id if page.events else None


def write_import(
    store: AuditStore,
    report: ImportReport,
    events: Iterable[AuditEvent],
    *,
    options: dict[str, Any],
    importer: str = IMPORTER_ACTOR,
) -> ImportReport:
    """Record the import header, the events (in batches) and the completion record."""
    requestor = Requestor(importer, ClearanceLevel.LEVEL_5, actor_type="system")
    previous = _already_imported(store, report.digest, requestor)
    if previous is not None:
        raise ConfigError(
            f"{report.source_file} ({report.digest}) was already imported into this stream "
            f"(import event {previous})"
        )
    header = AuditEvent(
        event_type="system",
        action=IMPORT_ACTION,
        actor=importer,
        actor_type="system",
        resource=Path(report.source_file).name[:256] or "source",
        source_node=store.node_id,
        clearance=ClearanceLevel.LEVEL_2,
        details={
            "source_file": report.source_file,
            "source_digest": report.digest,
            "size": report.size,
            "format": report.format,
            "options": options,
        },
    )
    report.import_id = store.append([header])[0].event.event_id
    report.origin = store.origin
    batch: list[AuditEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= _BATCH:
            store.append(batch)
            report.imported += len(batch)
            batch = []
    if batch:
        store.append(batch)
        report.imported += len(batch)
    store.append(
        [
            AuditEvent(
                event_type="system",
                action=IMPORT_DONE_ACTION,
                actor=importer,
                actor_type="system",
                resource=header.resource,
                source_node=store.node_id,
                clearance=ClearanceLevel.LEVEL_2,
                details={
                    "import_id": report.import_id,
                    "source_digest": report.digest,
                    "lines": report.lines,
                    "imported": report.imported,
                    "skipped": dict(report.skipped),
                    "first_event_time": report.first_event_time,
                    "last_event_time": report.last_event_time,
                },
            )
        ]
    )
    return report
