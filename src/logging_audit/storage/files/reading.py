"""Reading a file stream back: every line of every segment and archive, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from logging_audit.errors import StorageError
from logging_audit.storage.files.archive import iter_archive_lines
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest, SegmentInfo

__all__ = ["MissingSegment", "iter_segment_lines", "iter_stream_lines", "read_checkpoints"]


class MissingSegment(StorageError):
    """A segment (and its archive) listed in the manifest is gone."""

    def __init__(self, seg: SegmentInfo, path: Path) -> None:
        super().__init__(f"segment {seg.id} ({path}) listed in the manifest is missing")
        self.segment = seg
        self.path = path


def iter_segment_lines(
    layout: StreamLayout, seg: SegmentInfo, key_for: Callable[[str], bytes] | None = None
) -> Iterator[bytes]:
    """Yield one segment's lines, from its archive when it has been archived."""
    if seg.archive is not None:
        path = layout.root / seg.archive.file
        if not path.exists():
            raise MissingSegment(seg, path)
        yield from iter_archive_lines(path, key_for=key_for)
        return
    path = layout.root / seg.file
    try:
        f = path.open("rb")
    except FileNotFoundError as exc:
        # The writer may have archived it since the caller read the manifest.
        archived = _archived_since(layout, seg)
        if archived is None:
            raise MissingSegment(seg, path) from exc
        yield from iter_segment_lines(layout, archived, key_for)
        return
    except OSError as exc:
        raise StorageError(f"cannot read segment {path}: {exc}") from exc
    with f:
        yield from f


def _archived_since(layout: StreamLayout, seg: SegmentInfo) -> SegmentInfo | None:
    """The segment as the manifest lists it now, if it has been archived meanwhile."""
    try:
        current = Manifest.load(layout.manifest)
    except StorageError:
        return None
    for other in current.segments:
        if other.id == seg.id and other.archive is not None:
            return other
    return None


def iter_stream_lines(
    layout: StreamLayout,
    manifest: Manifest,
    key_for: Callable[[str], bytes] | None = None,
    *,
    on_missing: Callable[[MissingSegment], None] | None = None,
) -> Iterator[tuple[str, int, bytes]]:
    """Yield ``(segment name, line number, line)`` for the whole stream, oldest first.

    Pruned segments are skipped. A missing segment raises
    :class:`MissingSegment`, or is reported to ``on_missing`` and skipped.
    """
    pruned = set(manifest.pruned.get("segments", [])) if manifest.pruned else set()
    for seg in manifest.segments:
        if seg.id in pruned:
            continue
        name = seg.archive.file if seg.archive is not None else seg.file
        try:
            for i, line in enumerate(iter_segment_lines(layout, seg, key_for), 1):
                yield name, i, line
        except MissingSegment as exc:
            if on_missing is None:
                raise
            on_missing(exc)


def read_checkpoints(layout: StreamLayout) -> list[str]:
    """The signed checkpoint notes kept with the stream, oldest first."""
    path = layout.checkpoints
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"cannot read checkpoints {path}: {exc}") from exc
    notes = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            note = obj["note"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            note = line.decode("utf-8", "replace")  # the verifier reports it as malformed
        notes.append(note if isinstance(note, str) else str(note))
    return notes
