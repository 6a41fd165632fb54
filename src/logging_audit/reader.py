"""Reading SecureLogger logs back: records in order, decrypted where the key allows, filtered.

Reading is not verifying: use ``logaudit verify`` (or
:meth:`SecureLogger.verify_log_integrity`) for that. A reader shows what the
lines say, marks entries whose fields cannot be decrypted (shredded or missing
key) instead of failing, and skips nothing silently: a line that does not parse
is yielded as a record of kind ``"unreadable"``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from logging_audit.crypto.data_keys import EncryptionKeyStore
from logging_audit.crypto.fields import ENC_FIELD, decrypt_fields
from logging_audit.errors import ConfigError, CryptoError, Error, FramingError
from logging_audit.iso_time import parse_iso_datetime
from logging_audit.ledger.framing import parse_entry, unframe_line
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest
from logging_audit.storage.files.reading import iter_segment_lines, iter_stream_lines

__all__ = ["Record", "RecordFilter", "follow_records", "read_records"]

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


@dataclass(frozen=True)
class Record:
    """One entry as read back: ledger fields, the (decrypted) fields, and where it is."""

    seq: int | None
    ts: str | None
    epoch: int | None
    fields: dict[str, Any]
    segment: str
    line: int
    status: str = "ok"  # "ok", "encrypted" (no key), "shredded", "unreadable"

    @property
    def level(self) -> str | None:
        """The record's level name, if it has one."""
        value = self.fields.get("level")
        return value if isinstance(value, str) else None

    @property
    def kind(self) -> str:
        """``"record"`` for log records, else the ledger kind (``seal``, ``prune``…)."""
        kind = self.fields.get("ledger")
        return kind if isinstance(kind, str) else "record"

    def to_dict(self) -> dict[str, Any]:
        """The record as one JSON object (ledger fields first)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "epoch": self.epoch,
            **self.fields,
            "_status": self.status,
            "_at": f"{self.segment}:{self.line}",
        }


def _parse_time(value: str | datetime | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value
    try:
        parsed = parse_iso_datetime(value)
    except ValueError:
        raise ConfigError(f"{what} is not an ISO 8601 date or time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RecordFilter:
    """Which records to show: minimum level, time range, text or regular expression."""

    min_level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    regex: re.Pattern[str] | None = None
    include_ledger: bool = False

    @classmethod
    def build(
        cls,
        *,
        level: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        text: str | None = None,
        regex: str | None = None,
        include_ledger: bool = False,
    ) -> RecordFilter:
        """Build a filter from user input, with clear errors for bad values."""
        if level is not None and level.upper() not in _LEVELS:
            raise ConfigError(f"unknown level {level!r}; use one of {', '.join(_LEVELS)}")
        try:
            pattern = re.compile(regex) if regex is not None else None
        except re.error as exc:
            raise ConfigError(f"invalid regular expression {regex!r}: {exc}") from exc
        return cls(
            level.upper() if level else None,
            _parse_time(since, "since"),
            _parse_time(until, "until"),
            text,
            pattern,
            include_ledger,
        )

    def __call__(self, rec: Record) -> bool:
        """True when ``rec`` passes the filter."""
        if rec.kind != "record" and not self.include_ledger:
            return False
        if self.min_level is not None:
            lvl = _LEVELS.get(rec.level or "", 0)
            if lvl < _LEVELS[self.min_level]:
                return False
        if (self.since or self.until) and rec.ts:
            when = _parse_time(rec.ts, "ts")
            if when is not None:
                if self.since and when < self.since:
                    return False
                if self.until and when > self.until:
                    return False
        if self.text is not None or self.regex is not None:
            blob = str(rec.fields)
            if self.text is not None and self.text.lower() not in blob.lower():
                return False
            if self.regex is not None and not self.regex.search(blob):
                return False
        return True


def _decode(
    origin: str,
    segment: str,
    number: int,
    line: bytes,
    key_for: Callable[[str], bytes] | None,
) -> Record:
    try:
        entry, _mac = unframe_line(line)
        e = parse_entry(entry)
    except FramingError as exc:
        text = line.decode("utf-8", "replace").rstrip("\n")
        return Record(
            None, None, None, {"error": str(exc), "raw": text}, segment, number, "unreadable"
        )
    fields = e.fields
    status = "ok"
    if ENC_FIELD in fields:
        if key_for is None:
            status = "encrypted"
        else:
            try:
                fields = decrypt_fields(fields, key_for, origin, e.seq)
            except CryptoError as exc:
                status = "shredded" if "shredded" in str(exc) else "encrypted"
    return Record(e.seq, e.ts, e.epoch, fields, segment, number, status)


class _KeyLookup:
    """Data keys from an encryption key file, reloaded when a key is not in it yet.

    A writer adds a data key at every rotation; a reader that follows the log
    must see them (a shredded key stays shredded: no reload for those).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = EncryptionKeyStore.load(path)

    def __call__(self, kid: str) -> bytes:
        try:
            return self.store.data_key(kid)
        except CryptoError:
            if any(k.kid == kid for k in self.store.list_data_keys()):
                raise
            self.store = EncryptionKeyStore.load(self.path)
            return self.store.data_key(kid)


def _key_lookup(stream: Path, key_file: Path | None) -> Callable[[str], bytes] | None:
    path = key_file or StreamLayout(stream).keys / "encryption.json"
    if not path.exists():
        return None
    return _KeyLookup(path)


def read_records(
    stream: str | Path,
    *,
    encryption_key_file: str | Path | None = None,
    where: Callable[[Record], bool] | None = None,
) -> Iterator[Record]:
    """Yield the records of the stream in ``stream`` (a ``log_dir/<name>`` directory), oldest first.

    Encrypted fields are decrypted with the stream's encryption key file (the
    default place, or ``encryption_key_file``); without it they stay in ``enc``
    and the record's status says ``"encrypted"``.
    """
    root = Path(stream)
    layout = StreamLayout(root)
    if not layout.is_stream():
        raise ConfigError(f"{root} is not a logaudit stream directory (no manifest.json)")
    manifest = Manifest.load(layout.manifest)
    key_for = _key_lookup(root, Path(encryption_key_file) if encryption_key_file else None)
    for segment, number, line in iter_stream_lines(layout, manifest, key_for, on_missing=_skip):
        rec = _decode(manifest.origin, segment, number, line, key_for)
        if where is None or where(rec):
            yield rec


def _skip(_exc: Error) -> None:
    """Reading shows what is there; ``verify`` reports what is missing."""


def follow_records(
    stream: str | Path,
    *,
    encryption_key_file: str | Path | None = None,
    where: Callable[[Record], bool] | None = None,
    last: int = 10,
    poll: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Record]:
    """Yield the last ``last`` records, then new ones as they are written (``tail -f``).

    Each poll reads only the open segment (and any segment closed since), from
    the last complete line seen on.
    """
    root = Path(stream)
    layout = StreamLayout(root)
    recent: list[Record] = []
    seen = -1
    for rec in read_records(root, encryption_key_file=encryption_key_file):
        seen = rec.seq if rec.seq is not None else seen
        if where is None or where(rec):
            recent.append(rec)
            if len(recent) > last:
                recent.pop(0)
    yield from recent if last else []
    key_for = _key_lookup(root, Path(encryption_key_file) if encryption_key_file else None)
    while not stop():
        time.sleep(poll)
        manifest = Manifest.load(layout.manifest)
        for seg in manifest.segments:
            if seg.end_seq is not None and seg.end_seq <= seen + 1:
                continue
            name = seg.archive.file if seg.archive else seg.file
            try:
                lines = list(iter_segment_lines(layout, seg, key_for))
            except Error:
                continue  # archived or removed between listing and reading: next poll
            for number, line in enumerate(lines, 1):
                if not line.endswith(b"\n"):
                    break  # being written
                rec = _decode(manifest.origin, name, number, line, key_for)
                if rec.seq is None or rec.seq <= seen:
                    continue
                seen = rec.seq
                if where is None or where(rec):
                    yield rec
