"""``SecureLogger`` and ``SecureHandler``: tamper-evident JSON logs in files.

Every record becomes a ledger entry: hash-chained, MAC'd with a forward-secure
epoch key, covered by an RFC 6962 tree whose roots are signed as C2SP
checkpoints. ``logaudit verify`` (or :meth:`SecureLogger.verify_log_integrity`)
names every modification, deletion, reordering or truncation.

Example::

    from logging_audit.secure_logger import SecureLogger

    logger = SecureLogger(name="app_server", log_level="INFO", log_dir="logs")
    logger.info("Server started", extra={"version": "1.2.3"})
    results = logger.verify_log_integrity()
    print(results["verified"])
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from logging_audit.crypto.verifier_file import VerifierFile
from logging_audit.errors import ConfigError
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.storage.files.options import DEFAULT_ENCRYPTED_FIELDS, StreamOptions
from logging_audit.storage.files.stream import FileStream
from logging_audit.storage.files.verify import verify_stream_dir

__all__ = ["SecureHandler", "SecureLogger", "log_record_fields"]

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
    "NOTSET": logging.NOTSET,
}

ExcInfo = (
    bool
    | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)


def _level(value: str | int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"invalid log level {value!r}")
    if isinstance(value, int):
        return value
    try:
        return _LEVELS[value.upper()]
    except (KeyError, AttributeError):
        raise ConfigError(
            f"invalid log level {value!r}; use one of {', '.join(sorted(_LEVELS))}"
        ) from None


def _exc_text(exc_info: ExcInfo) -> str | None:
    if not exc_info:
        return None
    if isinstance(exc_info, BaseException):
        ei: Any = (type(exc_info), exc_info, exc_info.__traceback__)
    elif isinstance(exc_info, tuple):
        ei = exc_info
    else:
        ei = sys.exc_info()
    if ei[0] is None:
        return None
    return "".join(traceback.format_exception(*ei)).rstrip("\n")


def _message(msg: object, args: tuple[object, ...]) -> str:
    """``str(msg) % args`` as logging does it; a bad format or ``__str__`` never raises."""
    try:
        return str(msg) % args if args else str(msg)
    except Exception as exc:  # as logging.Handler.handleError: the caller must not crash
        try:
            text = str(msg)
        except Exception:
            text = f"<unprintable {type(msg).__name__} message>"
        try:
            shown = repr(args)
        except Exception:
            shown = "<unprintable>"
        return f"{text} [message arguments could not be formatted: {exc!r}; args={shown}]"


def _options(
    name: str,
    log_dir: str | os.PathLike[str],
    *,
    node_id: str | None,
    max_log_size_mb: float,
    retention_days: int | None,
    encryption_enabled: bool,
    key_file: str | os.PathLike[str] | None,
    encryption_key_file: str | os.PathLike[str] | None,
    encrypted_fields: tuple[str, ...] | list[str],
    durability: str,
    flush_interval: float,
    seal_interval: int,
    archive: bool,
    encrypt_archives: bool,
    compression_level: int,
    multiprocess: bool,
    verifier_file: str | os.PathLike[str] | None,
    legal_hold: bool,
) -> StreamOptions:
    if max_log_size_mb <= 0:
        raise ConfigError("max_log_size_mb must be positive")
    kw: dict[str, Any] = {}
    if node_id is not None:
        kw["node_id"] = node_id
    return StreamOptions(
        name=name,
        log_dir=Path(log_dir),
        max_segment_bytes=int(max_log_size_mb * 1024 * 1024),
        retention_days=retention_days,
        key_file=Path(key_file) if key_file is not None else None,
        encryption_key_file=Path(encryption_key_file) if encryption_key_file else None,
        encryption_enabled=encryption_enabled,
        encrypted_fields=tuple(encrypted_fields),
        durability=durability,
        flush_interval=flush_interval,
        epoch_seconds=seal_interval,
        archive=archive,
        encrypt_archives=encrypt_archives,
        compression_level=compression_level,
        multiprocess=multiprocess,
        verifier_path=Path(verifier_file) if verifier_file is not None else None,
        legal_hold=legal_hold,
        **kw,
    )


class SecureLogger:
    """A tamper-evident logger writing signed, hash-chained JSON lines under ``log_dir/<name>/``.

    Thread-safe; usable as a context manager. Records at or above ``log_level``
    are kept. Every record carries ``node`` (default: the host name) so logs of
    many nodes can be merged and told apart.

    Keys: without ``key_file`` they are created once in ``log_dir/<name>/keys/``
    and reused; with ``key_file`` they live there (the encryption keys beside
    it, ``<stem>.encryption.json``). ``verifier_file``, given when the log is
    first created, receives the verifier material (public key and K(0)) — keep
    it off the host: whoever holds it can check every epoch's MACs.
    """

    def __init__(
        self,
        name: str = "app",
        log_level: str | int = "INFO",
        log_dir: str | os.PathLike[str] = "logs",
        node_id: str | None = None,
        max_log_size_mb: float = 10,
        retention_days: int | None = None,
        encryption_enabled: bool = False,
        key_file: str | os.PathLike[str] | None = None,
        *,
        encryption_key_file: str | os.PathLike[str] | None = None,
        encrypted_fields: tuple[str, ...] | list[str] = DEFAULT_ENCRYPTED_FIELDS,
        durability: str = "batched",
        flush_interval: float = 0.2,
        seal_interval: int = 900,
        archive: bool = True,
        encrypt_archives: bool = False,
        compression_level: int = 1,
        multiprocess: bool = False,
        verifier_file: str | os.PathLike[str] | None = None,
        legal_hold: bool = False,
    ) -> None:
        """Open (or create) the log ``log_dir/<name>``; see the class docstring."""
        self.name = name
        self.level = _level(log_level)
        self.options = _options(
            name,
            log_dir,
            node_id=node_id,
            max_log_size_mb=max_log_size_mb,
            retention_days=retention_days,
            encryption_enabled=encryption_enabled,
            key_file=key_file,
            encryption_key_file=encryption_key_file,
            encrypted_fields=encrypted_fields,
            durability=durability,
            flush_interval=flush_interval,
            seal_interval=seal_interval,
            archive=archive,
            encrypt_archives=encrypt_archives,
            compression_level=compression_level,
            multiprocess=multiprocess,
            verifier_file=verifier_file,
            legal_hold=legal_hold,
        )
        self.node_id = self.options.node_id
        self.stream = FileStream(self.options)
        self._append_quick = self.stream.append_quick

    # -- logging ---------------------------------------------------------------
    def log(
        self,
        level: int | str,
        msg: object,
        *args: object,
        extra: Mapping[str, Any] | None = None,
        exc_info: ExcInfo = None,
        stack_info: bool = False,
    ) -> None:
        """Log ``msg % args`` at ``level`` with structured ``extra`` fields."""
        lvl = level if isinstance(level, int) else _level(level)
        if lvl < self.level:
            return
        text = _message(msg, args)
        fields: dict[str, Any] = {
            "level": logging.getLevelName(lvl),
            "logger": self.name,
            "msg": text,
            "node": self.node_id,
        }
        if extra:
            fields["extra"] = dict(extra)
        if exc_info:
            exc = _exc_text(exc_info)
            if exc:
                fields["exc_info"] = exc
        if stack_info:
            fields["stack_info"] = "".join(traceback.format_stack()[:-1]).rstrip("\n")
        self.stream.append_owned(fields)

    def debug(
        self, msg: object, *args: object, extra: Mapping[str, Any] | None = None, **kw: Any
    ) -> None:
        """Log at DEBUG."""
        if self.level <= logging.DEBUG:
            if args or kw:
                self.log(logging.DEBUG, msg, *args, extra=extra, **kw)
            else:  # the common call, queued as a tuple (see FileStream.append_quick)
                self._append_quick(
                    (
                        "DEBUG",
                        self.name,
                        msg if type(msg) is str else _message(msg, ()),
                        self.node_id,
                        dict(extra) if extra else None,
                    )
                )

    def info(
        self, msg: object, *args: object, extra: Mapping[str, Any] | None = None, **kw: Any
    ) -> None:
        """Log at INFO."""
        if self.level <= logging.INFO:
            if args or kw:
                self.log(logging.INFO, msg, *args, extra=extra, **kw)
            else:  # the common call, queued as a tuple (see FileStream.append_quick)
                self._append_quick(
                    (
                        "INFO",
                        self.name,
                        msg if type(msg) is str else _message(msg, ()),
                        self.node_id,
                        dict(extra) if extra else None,
                    )
                )

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, Any] | None = None, **kw: Any
    ) -> None:
        """Log at WARNING."""
        if self.level <= logging.WARNING:
            if args or kw:
                self.log(logging.WARNING, msg, *args, extra=extra, **kw)
            else:  # the common call, queued as a tuple (see FileStream.append_quick)
                self._append_quick(
                    (
                        "WARNING",
                        self.name,
                        msg if type(msg) is str else _message(msg, ()),
                        self.node_id,
                        dict(extra) if extra else None,
                    )
                )

    def error(
        self, msg: object, *args: object, extra: Mapping[str, Any] | None = None, **kw: Any
    ) -> None:
        """Log at ERROR."""
        if self.level <= logging.ERROR:
            if args or kw:
                self.log(logging.ERROR, msg, *args, extra=extra, **kw)
            else:  # the common call, queued as a tuple (see FileStream.append_quick)
                self._append_quick(
                    (
                        "ERROR",
                        self.name,
                        msg if type(msg) is str else _message(msg, ()),
                        self.node_id,
                        dict(extra) if extra else None,
                    )
                )

    def critical(self, msg: object, *args: object, **kw: Any) -> None:
        """Log at CRITICAL."""
        if self.level <= logging.CRITICAL:
            self.log(logging.CRITICAL, msg, *args, **kw)

    def exception(self, msg: object, *args: object, **kw: Any) -> None:
        """Log at ERROR with the current exception's traceback."""
        kw.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kw)

    # -- ledger operations -----------------------------------------------------------
    def flush(self) -> None:
        """Write and fsync everything logged so far (and finish pending archiving)."""
        self.stream.flush(sync=True)
        self.stream.finish_archiving()

    def checkpoint(self) -> str:
        """Write and return a signed C2SP checkpoint of the log as it stands."""
        return self.stream.checkpoint()

    def seal(self) -> str | None:
        """End the current epoch now (seal, checkpoint, evolve the key)."""
        return self.stream.seal()

    def rotate(self) -> None:
        """Close the current segment and start the next one (archiving the closed one)."""
        self.stream.rotate()

    def prune(self) -> int:
        """Apply ``retention_days`` now; returns how many segments were removed."""
        return self.stream.prune()

    def rotate_encryption_key(self) -> None:
        """Rotate the key-encryption key and continue in a new segment under a new data key.

        Earlier entries stay readable (their data keys are re-wrapped under the new
        key-encryption key) and verifiable.
        """
        enc = self.stream.enc
        if enc is None:
            raise ConfigError("encryption is not enabled for this log")
        enc.rotate_kek()
        self.stream.rotate()

    def shred_segment(self, segment_id: int) -> str:
        """Destroy the data key of one segment (crypto-shredding); returns its key id.

        The segment's encrypted fields can never be read again; the log still
        verifies, since hashes, MACs and checkpoints cover the ciphertext. The
        open segment cannot be shredded: rotate first.
        """
        enc = self.stream.enc
        if enc is None:
            raise ConfigError("encryption is not enabled for this log")
        segments = self.stream.manifest.segments
        seg = next((s for s in segments if s.id == segment_id), None)
        if seg is None or seg.kid is None:
            raise ConfigError(f"segment {segment_id} does not exist or holds no encrypted fields")
        if seg is segments[-1]:
            raise ConfigError(f"segment {segment_id} is still open; rotate() before shredding it")
        enc.shred(seg.kid)
        return seg.kid

    def verifier_material(
        self, verifier_file: str | os.PathLike[str] | None = None
    ) -> VerifierMaterial:
        """What verification uses: the verifier file (K(0)) if given, else this host's keys."""
        path = verifier_file or self.options.verifier_path
        if path is not None and Path(path).exists():
            return VerifierFile.load(path).material()
        return self.stream.keys.verifier_material()

    def verify_log_integrity(
        self,
        verifier_file: str | os.PathLike[str] | None = None,
        trusted_checkpoint: str | None = None,
    ) -> dict[str, Any]:
        """Verify the whole log (segments and archives) and return the report as a dict.

        ``verified`` is true only when every check passed. Without the verifier
        file (K(0)) only the current epoch's MACs can be checked on this host;
        ``mac_epochs_unchecked`` lists the others, which the chain, the tree and
        the signed checkpoints still cover.
        """
        self.flush()
        enc = self.stream.enc
        report = verify_stream_dir(
            self.stream.layout.root,
            self.verifier_material(verifier_file),
            trusted_checkpoint=trusted_checkpoint,
            key_for=enc.data_key if enc is not None else None,
        )
        return report.to_dict()

    def close(self) -> None:
        """Flush, seal, checkpoint and release the log. Idempotent."""
        self.stream.close()

    def __enter__(self) -> SecureLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {
    "message",
    "asctime",
    "taskName",
}


_FORMATTER = logging.Formatter()


_TS_PREFIX: tuple[int, str] = (-1, "")


def _record_ts(created: float) -> str:
    """A LogRecord's creation time as the ledger writes times (prefix cached per second)."""
    global _TS_PREFIX  # a per-second cache, replaced whole (thread-safe by construction)
    sec = int(created)
    usec = round((created - sec) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    cached, prefix = _TS_PREFIX
    if cached != sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _TS_PREFIX = (sec, prefix)
    return f"{prefix}.{usec:06d}Z"


def log_record_fields(
    record: logging.LogRecord,
    node_id: str,
    format_exception: Callable[[Any], str] | None = None,
) -> dict[str, Any]:
    """The fields of a stdlib :class:`logging.LogRecord` as a SecureLogger entry holds them."""
    fields: dict[str, Any] = {
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
        "node": node_id,
        "src": {"module": record.module, "line": record.lineno, "func": record.funcName},
    }
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
    if extra:
        fields["extra"] = extra
    if record.exc_info and record.exc_info[0] is not None:
        fields["exc_info"] = (format_exception or _FORMATTER.formatException)(record.exc_info)
    elif record.exc_text:
        fields["exc_info"] = record.exc_text
    if record.stack_info:
        fields["stack_info"] = record.stack_info
    return fields


class SecureHandler(logging.Handler):
    """A :class:`logging.Handler` that writes records to a SecureLogger-format log.

    Configurable through :func:`logging.config.dictConfig`::

        "handlers": {"secure": {
            "class": "logging_audit.secure_logger.SecureHandler",
            "name": "app", "log_dir": "logs", "level": "INFO"}}

    Each record keeps its own creation time, ``extra`` fields, exception text
    and stack info. Works behind a ``QueueHandler``/``QueueListener``. All
    keyword arguments of :class:`SecureLogger` are accepted.
    """

    def __init__(
        self,
        name: str = "app",
        log_dir: str | os.PathLike[str] = "logs",
        level: int | str = logging.NOTSET,
        **options: Any,
    ) -> None:
        """Open the log ``log_dir/<name>``; ``options`` as for :class:`SecureLogger`."""
        super().__init__(_level(level))
        self.logger = SecureLogger(name=name, log_level=logging.NOTSET, log_dir=log_dir, **options)
        self._stream = self.logger.stream
        self._node = self.logger.node_id

    def emit(self, record: logging.LogRecord) -> None:
        """Append one record (errors go to :meth:`handleError`, as logging expects)."""
        try:
            fields = log_record_fields(record, self._node)
            self._stream.append(fields, ts=_record_ts(record.created), owned=True)
        except RecursionError:  # as logging.StreamHandler does
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Write and fsync what was emitted."""
        if not self._stream._closed:
            self._stream.flush(sync=True)

    def close(self) -> None:
        """Seal, checkpoint and close the log."""
        try:
            self.logger.close()
        finally:
            super().close()
