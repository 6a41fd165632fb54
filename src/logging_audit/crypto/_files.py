"""Key files on disk: atomic 0600 writes, strict loading, field checks.

Every key file is one JSON object with ``"version": 1`` and a ``"kind"``. This
module knows nothing about what the files hold; the stores use it so that each
of them writes, reads and validates the same way:

- :func:`write_new` creates a file that must not exist yet, :func:`replace`
  swaps in a new version of one that does; both write a 0600 temporary file in
  the same directory, ``fsync`` it, move it into place and ``fsync`` the
  directory, so a crash leaves either the old or the new file, never half of one.
- :func:`read_object` refuses anything that is not a regular, owner-only file
  holding a JSON object of the expected kind and version.
- ``field_*`` helpers turn a missing or malformed field into a
  :class:`~logging_audit.errors.KeyStoreError` that names the file and the field.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from logging_audit.errors import ConfigError, KeyStoreError

__all__ = [
    "FORMAT_VERSION",
    "MAX_KEY_FILE_SIZE",
    "as_utc",
    "b64",
    "digest",
    "dump",
    "field_b64",
    "field_int",
    "field_str",
    "field_time",
    "format_time",
    "read_object",
    "replace",
    "utc_now",
    "write_new",
]

FORMAT_VERSION = 1
"""The one version of the key-file format this code reads and writes."""

MAX_KEY_FILE_SIZE = 16 * 1024 * 1024
"""Key files larger than this are refused before they are parsed (16 MiB)."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_CHECK_MODE = os.name == "posix"
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# -- time --------------------------------------------------------------------------------


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def as_utc(when: datetime | None) -> datetime:
    """Return ``when`` in UTC (now if ``None``); a naive datetime is a :class:`ConfigError`."""
    if when is None:
        return utc_now()
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError(f"time {when.isoformat()} has no time zone; pass an aware datetime")
    return when.astimezone(timezone.utc)


def format_time(when: datetime) -> str:
    """Return ``when`` as RFC 3339 UTC with microseconds, e.g. ``2026-11-29T10:00:00.123456Z``."""
    return as_utc(when).strftime(_TIME_FORMAT)


# -- encoding ----------------------------------------------------------------------------


def b64(data: bytes | bytearray) -> str:
    """Return standard, padded base64 of ``data`` as text."""
    return base64.b64encode(data).decode("ascii")


def dump(obj: Mapping[str, Any]) -> bytes:
    """Serialise a key-file object: indented, key order kept, ASCII, with a final newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def digest(data: bytes) -> bytes:
    """Return SHA-256 of ``data``: how a store remembers which file version it last saw."""
    return hashlib.sha256(data).digest()


# -- writing -----------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh 0600 file beside ``path`` and fsync it; return its path."""
    directory = path.parent
    for _ in range(16):
        tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY, 0o600)
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 16 collisions of 64 random bits
        raise KeyStoreError(f"cannot create a temporary file beside key file {path}")
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_new(path: Path, data: bytes) -> None:
    """Create key file ``path`` holding ``data``, mode 0600; never overwrite an existing file.

    The content appears atomically: it is written to a temporary file that is
    then hard-linked into place (``link`` fails if ``path`` exists, with no
    window for a race). Where the file system has no hard links the temporary
    file is renamed instead, after a check that ``path`` does not exist.
    """
    if path.exists() or path.is_symlink():
        raise KeyStoreError(f"key file {path} already exists; refusing to overwrite it")
    try:
        tmp = _write_temp(path, data)
    except OSError as exc:
        raise KeyStoreError(f"cannot write key file {path}: {exc.strerror or exc}") from exc
    try:
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise KeyStoreError(
                f"key file {path} already exists; refusing to overwrite it"
            ) from exc
        except OSError:  # no hard links here (e.g. FAT, some network file systems)
            if path.exists() or path.is_symlink():
                raise KeyStoreError(
                    f"key file {path} already exists; refusing to overwrite it"
                ) from None
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise KeyStoreError(f"cannot write key file {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def replace(path: Path, data: bytes, *, expected: bytes) -> None:
    """Atomically replace key file ``path`` with ``data`` (mode 0600).

    ``expected`` is the :func:`digest` of the bytes the caller last read or
    wrote: if the file on disk is no longer that version (another process
    changed it, or it was restored from a backup) nothing is written and a
    :class:`KeyStoreError` is raised, so an older key can never be written back.

    After the new file is in place, the old file's blocks are overwritten with
    zeros when no other link to them remains. That is best effort: journals,
    copy-on-write file systems, SSD wear levelling and backups may keep copies.
    """
    try:
        try:
            old_fd = os.open(path, os.O_RDWR | _O_CLOEXEC | _O_BINARY)
            writable = True
        except PermissionError:  # a read-only (0400) key file: replace it, skip the wipe
            old_fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
            writable = False
    except FileNotFoundError as exc:
        raise KeyStoreError(f"key file {path} disappeared while in use") from exc
    except OSError as exc:
        raise KeyStoreError(f"cannot open key file {path}: {exc.strerror or exc}") from exc
    try:
        try:
            current = _read_fd(path, old_fd)
        except OSError as exc:
            raise KeyStoreError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
        if digest(current) != expected:
            raise KeyStoreError(
                f"key file {path} was changed by someone else since it was loaded; "
                "refusing to overwrite it (load it again)"
            )
        try:
            tmp = _write_temp(path, data)
            try:
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise KeyStoreError(f"cannot write key file {path}: {exc.strerror or exc}") from exc
        if writable:
            _wipe_unlinked(old_fd, len(current))
    finally:
        os.close(old_fd)


def _wipe_unlinked(fd: int, size: int) -> None:
    """Overwrite a replaced key file's blocks with zeros, if no name links to them any more."""
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_nlink != 0:
            return
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, bytes(size))
        os.fsync(fd)


# -- reading -----------------------------------------------------------------------------


def _read_fd(path: Path, fd: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise KeyStoreError(f"key file {path} is not a regular file")
    if info.st_size > MAX_KEY_FILE_SIZE:
        raise KeyStoreError(
            f"key file {path} is {info.st_size} bytes, larger than any key file "
            f"({MAX_KEY_FILE_SIZE} bytes)"
        )
    chunks = []
    remaining = MAX_KEY_FILE_SIZE + 1
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyStoreError(f"key file {path} is larger than any key file")
    return data


def _check_mode(path: Path, mode: int) -> None:
    if _CHECK_MODE and mode & 0o077:
        raise KeyStoreError(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}: it is readable or writable "
            f"by group or others; it must be 0600 or stricter (chmod 600 {path})"
        )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def read_object(path: Path, kind: str) -> tuple[dict[str, Any], bytes]:
    """Read key file ``path`` and return its JSON object and its raw bytes.

    Raises :class:`KeyStoreError`, naming the file, if it is missing, not a
    regular file, readable by group or others, larger than
    :data:`MAX_KEY_FILE_SIZE`, not UTF-8 JSON, not an object, has duplicate
    members, or has another ``version`` or ``kind``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
    except FileNotFoundError as exc:
        raise KeyStoreError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyStoreError(f"cannot open key file {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyStoreError(f"key file {path} is not a regular file")
        _check_mode(path, info.st_mode)
        data = _read_fd(path, fd)
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if not data.strip():
        raise KeyStoreError(f"key file {path} is empty")
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise KeyStoreError(f"key file {path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise KeyStoreError(
            f"key file {path} is not valid JSON (truncated or corrupted?): {exc.msg} "
            f"at line {exc.lineno} column {exc.colno}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise KeyStoreError(f"key file {path} is not a valid key file: {exc}") from exc
    if not isinstance(obj, dict):
        raise KeyStoreError(f"key file {path} does not hold a JSON object")
    version = obj.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise KeyStoreError(
            f"key file {path} has format version {version!r}; this version of "
            f"logging_audit reads version {FORMAT_VERSION}"
        )
    found = obj.get("kind")
    if found != kind:
        raise KeyStoreError(f"key file {path} is of kind {found!r}, expected {kind!r}")
    return obj, data


# -- fields ------------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], name: str, path: Path) -> Any:
    if name not in obj:
        raise KeyStoreError(f"key file {path} has no {name!r} field")
    return obj[name]


def field_str(obj: Mapping[str, Any], name: str, path: Path, *, max_len: int = 4096) -> str:
    """Return non-empty string field ``name`` of ``obj``."""
    value = _field(obj, name, path)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise KeyStoreError(f"key file {path}: field {name!r} must be a non-empty string")
    return value


def field_int(obj: Mapping[str, Any], name: str, path: Path, *, minimum: int = 0) -> int:
    """Return integer field ``name`` of ``obj`` (not a bool, not a float), at least ``minimum``."""
    value = _field(obj, name, path)
    if type(value) is not int or value < minimum or value >= 1 << 63:
        raise KeyStoreError(
            f"key file {path}: field {name!r} must be an integer between {minimum} and 2^63-1"
        )
    return value


def field_b64(obj: Mapping[str, Any], name: str, path: Path, *, length: int | None) -> bytes:
    """Return base64 field ``name`` of ``obj`` decoded, checking its length if given."""
    value = _field(obj, name, path)
    if not isinstance(value, str) or len(value) > 4 * MAX_KEY_FILE_SIZE:
        raise KeyStoreError(f"key file {path}: field {name!r} must be a base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise KeyStoreError(f"key file {path}: field {name!r} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:  # extra padding, stray low bits
        raise KeyStoreError(f"key file {path}: field {name!r} is not valid base64 (not canonical)")
    if length is not None and len(raw) != length:
        raise KeyStoreError(
            f"key file {path}: field {name!r} holds {len(raw)} bytes, expected {length}"
        )
    return raw


def field_time(obj: Mapping[str, Any], name: str, path: Path) -> datetime:
    """Return timestamp field ``name`` of ``obj`` (RFC 3339 UTC, see :func:`format_time`)."""
    value = _field(obj, name, path)
    try:
        if not isinstance(value, str) or len(value) != 27:
            raise ValueError(value)
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise KeyStoreError(
            f"key file {path}: field {name!r} must be a UTC time like 2026-01-31T12:00:00.000000Z"
        ) from exc
