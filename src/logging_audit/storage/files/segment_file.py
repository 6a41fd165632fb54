"""One open segment file: appends whole lines, tracks its own size, never tears."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from logging_audit.errors import StorageError

__all__ = ["SegmentFile", "fsync_dir"]


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or create in it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentFile:
    """An append-only segment file opened for writing.

    Sizes are tracked in memory (no ``stat()`` per write). A failed write is
    rolled back with ``ftruncate`` to the last whole line, so a full disk never
    leaves a torn line behind, and the caller keeps the unwritten lines.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        """Open ``path`` for appending (``create``: it must not exist yet)."""
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            self.fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o640)
            self.size = os.fstat(self.fd).st_size
        except OSError as exc:
            raise StorageError(f"cannot open segment {path} for writing: {exc}") from exc
        self.path = path

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines) or raise :class:`StorageError`, leaving no partial line."""
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                n = os.write(self.fd, view[done:])
                if n == 0:
                    raise OSError(errno.ENOSPC, "no space left on device")
                done += n
        except OSError as exc:
            if done:
                # On failure the torn tail is cut on the next open, and logged then.
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, self.size)
            raise StorageError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        self.size += len(data)

    def sync(self) -> None:
        """fsync the file."""
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise StorageError(f"cannot fsync {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        """Close the file descriptor."""
        try:
            os.close(self.fd)
        except OSError as exc:
            raise StorageError(f"cannot close {self.path}: {exc}") from exc
