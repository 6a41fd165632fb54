"""Settings of a file stream."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from logging_audit.errors import ConfigError

__all__ = ["DEFAULT_ENCRYPTED_FIELDS", "StreamOptions"]

DEFAULT_ENCRYPTED_FIELDS = ("msg", "extra", "details", "exc_info", "stack_info")
"""Fields that ``encryption_enabled`` encrypts unless told otherwise."""


@dataclass(frozen=True)
class StreamOptions:
    """How a file stream is stored, sealed, made durable, archived and kept.

    ``durability``: ``"sync"`` returns from an append only after fsync (threads
    share fsyncs: group commit); ``"batched"`` writes within ``flush_interval``
    seconds and fsyncs then and at every seal. ``multiprocess``: several
    processes append to the same stream under a shared file lock; otherwise one
    process holds the stream exclusively and a second one gets a clear error.
    """

    name: str
    log_dir: Path
    node_id: str = field(default_factory=socket.gethostname)
    max_segment_bytes: int = 10 * 1024 * 1024
    retention_days: int | None = None
    key_file: Path | None = None
    encryption_key_file: Path | None = None
    encryption_enabled: bool = False
    encrypted_fields: tuple[str, ...] = DEFAULT_ENCRYPTED_FIELDS
    durability: str = "batched"
    flush_interval: float = 0.2
    epoch_seconds: int = 900
    archive: bool = True
    encrypt_archives: bool = False
    compression_level: int = 1
    multiprocess: bool = False
    verifier_path: Path | None = None
    legal_hold: bool = False

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name in {".", ".."} or "\n" in self.name:
            raise ConfigError(f"invalid stream name {self.name!r}")
        if not self.node_id or "/" in self.node_id or any(c.isspace() for c in self.node_id):
            raise ConfigError(f"invalid node_id {self.node_id!r}: no '/', no whitespace")
        if self.durability not in ("sync", "batched"):
            raise ConfigError(f"durability must be 'sync' or 'batched', not {self.durability!r}")
        if self.max_segment_bytes < 4096:
            raise ConfigError("max segment size must be at least 4096 bytes")
        if self.retention_days is not None and self.retention_days < 0:
            raise ConfigError("retention_days must be >= 0")
        if self.epoch_seconds < 1:
            raise ConfigError("epoch_seconds must be >= 1")
        if not 0 < self.flush_interval <= 60:
            raise ConfigError("flush_interval must be in (0, 60] seconds")
        if not 1 <= self.compression_level <= 22:
            raise ConfigError("compression_level must be 1..22")

    @property
    def origin(self) -> str:
        """The stream origin: ``logaudit/<node_id>/<name>``."""
        return f"logaudit/{self.node_id}/{self.name}"

    @property
    def stream_dir(self) -> Path:
        """``log_dir/<name>``."""
        return self.log_dir / self.name
