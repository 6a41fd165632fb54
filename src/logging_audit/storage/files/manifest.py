"""The manifest of a file stream: its segments, their archives and digests, and what was pruned.

The manifest is an index, never a source of trust: verification recomputes
everything from the lines themselves and uses the manifest only to find files
and to name what is missing or replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from logging_audit.errors import FramingError, StorageError
from logging_audit.ledger.prune import StreamStart

__all__ = ["ArchiveInfo", "Manifest", "SegmentInfo"]

_KIND = "logaudit-manifest"


@dataclass
class ArchiveInfo:
    """Where a closed segment was archived, and the archive file's digest."""

    file: str
    sha256: str
    kid: str | None = None
    compression: str = "zstd"


@dataclass
class SegmentInfo:
    """One segment: its seq range, file, digest once closed, archive once archived."""

    id: int
    file: str
    first_seq: int
    end_seq: int | None = None  # exclusive; None while open
    sha256: str | None = None
    closed_at: str | None = None
    end_state: dict[str, Any] | None = None  # StreamStart fields at the segment's end
    archive: ArchiveInfo | None = None
    kid: str | None = None  # data key of the segment's encrypted fields

    @property
    def is_open(self) -> bool:
        """True for the segment being written."""
        return self.end_seq is None


@dataclass
class Manifest:
    """The segments of a stream, oldest first, and the prune state."""

    origin: str
    segments: list[SegmentInfo] = field(default_factory=list)
    pruned: dict[str, Any] | None = None  # StreamStart fields + "segments", "at"

    @property
    def current(self) -> SegmentInfo:
        """The open segment."""
        return self.segments[-1]

    def start(self) -> StreamStart | None:
        """Where verification resumes after pruning, or ``None``."""
        if self.pruned is None:
            return None
        try:
            return StreamStart.from_fields(self.pruned)
        except FramingError as exc:
            raise StorageError(f"manifest prune record is malformed: {exc}") from exc

    def to_json(self) -> bytes:
        """Serialised form."""
        return orjson.dumps(
            {
                "version": 1,
                "kind": _KIND,
                "origin": self.origin,
                "segments": [_seg_dict(s) for s in self.segments],
                "pruned": self.pruned,
            },
            option=orjson.OPT_INDENT_2,
        )

    def save(self, path: Path) -> None:
        """Write atomically (temp file, fsync, rename, fsync directory)."""
        tmp = path.with_name(path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(self.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise StorageError(f"cannot write manifest {path}: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read and validate a manifest, naming the file on any problem."""
        try:
            obj = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise StorageError(f"cannot read manifest {path}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise StorageError(f"manifest {path} is not valid JSON: {exc}") from exc
        try:
            if obj.get("kind") != _KIND or obj.get("version") != 1:
                raise StorageError(f"{path} is not a version 1 {_KIND}")
            segs = [_seg_from(s) for s in obj["segments"]]
            origin = obj["origin"]
            pruned = obj.get("pruned")
            if not isinstance(origin, str) or not segs:
                raise StorageError(f"manifest {path} has no origin or no segments")
            if pruned is not None and not isinstance(pruned, dict):
                raise StorageError(f"manifest {path} has a malformed prune record")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"manifest {path} is malformed: {exc!r}") from exc
        return cls(origin, segs, pruned)


def _seg_dict(s: SegmentInfo) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": s.id,
        "file": s.file,
        "first_seq": s.first_seq,
        "end_seq": s.end_seq,
        "sha256": s.sha256,
        "closed_at": s.closed_at,
        "end_state": s.end_state,
        "archive": None,
        "kid": s.kid,
    }
    if s.archive is not None:
        d["archive"] = {
            "file": s.archive.file,
            "sha256": s.archive.sha256,
            "kid": s.archive.kid,
            "compression": s.archive.compression,
        }
    return d


def _seg_from(d: dict[str, Any]) -> SegmentInfo:
    arch = d.get("archive")
    archive = (
        ArchiveInfo(str(arch["file"]), str(arch["sha256"]), arch.get("kid"), arch["compression"])
        if arch
        else None
    )
    first = d["first_seq"]
    end = d.get("end_seq")
    if (
        type(d["id"]) is not int
        or type(first) is not int
        or (end is not None and type(end) is not int)
    ):
        raise ValueError("segment id and seqs must be integers")
    return SegmentInfo(
        id=d["id"],
        file=str(d["file"]),
        first_seq=first,
        end_seq=end,
        sha256=d.get("sha256"),
        closed_at=d.get("closed_at"),
        end_state=d.get("end_state"),
        archive=archive,
        kid=d.get("kid"),
    )
