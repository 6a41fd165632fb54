"""The seed's JSON export: a JSON array of events (the stable result shape), streamed.

The file is written beside its final name and moved into place when complete,
so a reader never sees half an export. Memory stays constant: events are
written one at a time as the store yields them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from logging_audit.audit.records import StoredEvent
from logging_audit.errors import StorageError

__all__ = ["ExportResult", "write_json_array"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the file, how many events, its size and SHA-256."""

    path: Path
    count: int
    size: int
    sha256: str


def write_json_array(path: str | os.PathLike[str], events: Iterable[StoredEvent]) -> ExportResult:
    """Write ``events`` as an indented-per-line JSON array to ``path``; return what was written."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    count = size = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:

            def put(data: bytes) -> None:
                nonlocal size
                out.write(data)
                digest.update(data)
                size += len(data)

            put(b"[")
            for event in events:
                put(b"\n  " if count == 0 else b",\n  ")
                put(orjson.dumps(event.to_dict(), option=orjson.OPT_SORT_KEYS))
                count += 1
            put(b"\n]\n" if count else b"]\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot write export file {target}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return ExportResult(target, count, size, digest.hexdigest())
