"""One open segment file: appends whole lines, tracks its own size and digest, never tears."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from logging_audit.errors import StorageError

__all__ = ["SegmentFile", "file_sha256", "fsync_dir"]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    return h.hexdigest()


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

    A file opened empty is also hashed as it is written (one SHA-256 update per
    :meth:`write`), so closing it needs no second read (:meth:`sha256`). The
    running digest is dropped — and :meth:`sha256` reads the file instead —
    whenever it may not cover the file's bytes: the file was not empty when
    opened (reopened after a crash, adopted from another writer), its size was
    set from outside (a torn tail cut, another process's lines adopted), a failed
    write could not be rolled back, or :meth:`forget_digest` was called.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        """Open ``path`` for appending (``create``: it must not exist yet)."""
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            self.fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o640)
            self._size = os.fstat(self.fd).st_size
        except OSError as exc:
            raise StorageError(f"cannot open segment {path} for writing: {exc}") from exc
        self.path = path
        # SHA-256 of bytes 0..size, while this object wrote every one of them
        self._digest: hashlib._Hash | None = hashlib.sha256() if self._size == 0 else None

    @property
    def size(self) -> int:
        """The file's size as this writer knows it."""
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        # Someone else changed the file (cut, or appended): the digest no longer covers it.
        if value != self._size:
            self._digest = None
        self._size = value

    @property
    def digest_known(self) -> bool:
        """True while the running digest covers the whole file (:meth:`sha256` reads nothing)."""
        return self._digest is not None

    def forget_digest(self) -> None:
        """Drop the running digest: the file may hold bytes this object did not write."""
        self._digest = None

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
                try:
                    os.ftruncate(self.fd, self._size)
                except OSError:
                    # The torn tail is cut on the next open, and logged then.
                    self._digest = None
            raise StorageError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        self._size += len(data)
        if self._digest is not None:
            self._digest.update(data)

    def sha256(self) -> str:
        """Hex SHA-256 of the file: the running digest, or the file read again if unknown."""
        if self._digest is not None:
            return self._digest.hexdigest()
        return file_sha256(self.path)

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
