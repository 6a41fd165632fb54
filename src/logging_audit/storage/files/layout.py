"""Where a file stream keeps its parts, relative to ``log_dir/<name>/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["StreamLayout"]


@dataclass(frozen=True)
class StreamLayout:
    """Paths of one stream directory."""

    root: Path

    @property
    def manifest(self) -> Path:
        """The segment index (``manifest.json``)."""
        return self.root / "manifest.json"

    @property
    def checkpoints(self) -> Path:
        """Append-only signed checkpoints, one JSON line each (``checkpoints.jsonl``)."""
        return self.root / "checkpoints.jsonl"

    @property
    def segments(self) -> Path:
        """Directory of live and closed segment files."""
        return self.root / "segments"

    @property
    def archive(self) -> Path:
        """Directory of compressed (and maybe encrypted) archives."""
        return self.root / "archive"

    @property
    def keys(self) -> Path:
        """Default key directory (``keys/``)."""
        return self.root / "keys"

    @property
    def lock(self) -> Path:
        """The append lock file, which also holds the shared stream pointer."""
        return self.root / ".lock"

    @property
    def legal_hold(self) -> Path:
        """While this file exists, retention prunes nothing."""
        return self.root / "LEGAL_HOLD"

    def segment_file(self, seg_id: int) -> str:
        """Relative name of segment ``seg_id``."""
        return f"segments/{seg_id:08d}.jsonl"

    def archive_file(self, seg_id: int, encrypted: bool) -> str:
        """Relative name of the archive of segment ``seg_id``."""
        return f"archive/{seg_id:08d}.jsonl.zst" + (".aes" if encrypted else "")

    def is_stream(self) -> bool:
        """True when the directory holds a stream (a manifest)."""
        return self.manifest.is_file()
