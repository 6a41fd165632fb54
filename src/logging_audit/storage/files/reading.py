"""Reading a file stream back: every line of every segment and archive, in order."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import orjson
import zstandard

from logging_audit.errors import StorageError
from logging_audit.storage.files.archive import _decrypt_stream, iter_archive_lines
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest, SegmentInfo

__all__ = [
    "LineBatch",
    "MissingSegment",
    "SegmentPass",
    "iter_segment_lines",
    "iter_stream_lines",
    "read_checkpoints",
    "read_segment_once",
]

LineBatch = tuple[list[bytes], bool]
"""Consecutive lines without their ``\\n``, and whether the last of them had one in the file."""

_READ = 4 << 20  # bytes read from a plain segment at a time
_WINDOW = 1 << 20  # bytes of decompressed archive split into lines at a time


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


class SegmentPass:
    """One segment read once: its lines in batches, and the SHA-256 of the file as stored.

    :attr:`sha256` is complete once :attr:`batches` has been consumed to the end.
    """

    def __init__(self, path: Path, batches: Iterator[LineBatch], hasher: hashlib._Hash) -> None:
        """Wrap the batches read from ``path``, hashed into ``hasher`` as they are read."""
        self.path = path
        self.batches = batches
        self._hasher = hasher

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes (of what has been read so far)."""
        return self._hasher.hexdigest()


def read_segment_once(
    layout: StreamLayout, seg: SegmentInfo, key_for: Callable[[str], bytes] | None = None
) -> SegmentPass | None:
    """Read one segment in a single pass: its lines, and the digest the manifest records.

    The lines are exactly those of :func:`iter_segment_lines` (without their
    newlines). An archive is read whole and decompressed (and decrypted) before
    any line is handed out; ``None`` means this pass cannot vouch for giving
    what :func:`iter_segment_lines` gives — the file is missing, unreadable,
    corrupt or cannot be decrypted — and the caller should use that, which
    raises the error to report. A plain segment is read in chunks.
    """
    if seg.archive is not None:
        path = layout.root / seg.archive.file
        try:
            raw = path.read_bytes()
            data = _archive_content(raw, path, key_for)
        except Exception:  # iter_segment_lines raises it again, and names it
            return None
        return SegmentPass(path, _split(data), hashlib.sha256(raw))
    path = layout.root / seg.file
    try:
        f = path.open("rb")
    except OSError:
        return None
    hasher = hashlib.sha256()
    return SegmentPass(path, _chunks(f, hasher), hasher)


def _archive_content(raw: bytes, path: Path, key_for: Callable[[str], bytes] | None) -> bytes:
    """The decompressed content of an archive file's bytes, as iter_archive_lines reads it."""
    source: IO[bytes]
    if raw[:1] == b"{":
        source = io.BytesIO(_decrypt_stream(io.BufferedReader(io.BytesIO(raw)), path, key_for))
    else:
        source = io.BytesIO(raw)
    with zstandard.ZstdDecompressor().stream_reader(source) as reader:
        data: bytes = reader.read()
    return data


def _split(data: bytes) -> Iterator[LineBatch]:
    """Lines of ``data`` in batches of about :data:`_WINDOW` bytes."""
    pos, n = 0, len(data)
    while pos < n:
        cut = data.find(b"\n", pos + _WINDOW) if pos + _WINDOW < n else -1
        if cut < 0:
            lines = data[pos:].split(b"\n")
            tail = lines.pop()
            if tail:
                lines.append(tail)
                yield lines, False
            elif lines:
                yield lines, True
            return
        yield data[pos:cut].split(b"\n"), True
        pos = cut + 1


def _chunks(f: IO[bytes], hasher: hashlib._Hash) -> Iterator[LineBatch]:
    """Lines of a plain segment file, read in chunks and hashed as they are read."""
    with f:
        carry = b""
        while chunk := f.read(_READ):
            hasher.update(chunk)
            lines = (carry + chunk if carry else chunk).split(b"\n")
            carry = lines.pop()
            if lines:
                yield lines, True
        if carry:
            yield [carry], False
