"""Index columns derived from entry bytes: the one derivation used to write and to verify.

Storage keeps each entry's framed line verbatim; every other column of the
entries table is computed from it by :func:`derive_index`. ``verify_integrity``
recomputes them from the bytes and names every column that differs.

Text columns hold :func:`index_text` of the value: NUL (U+0000) becomes U+FFFD
because PostgreSQL text cannot hold NUL. Equality search applies the same
mapping to the value searched for; results are always decoded from the bytes,
so what is returned is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from logging_audit.audit.events import EVENT_FORMAT
from logging_audit.errors import ConfigError, FramingError
from logging_audit.ledger import Entry

__all__ = [
    "EVENT_COLUMNS",
    "INDEX_COLUMNS",
    "KIND_EVENT",
    "KIND_OTHER",
    "derive_index",
    "event_search_text",
    "index_text",
    "json_details",
    "json_document",
    "search_text",
    "text_of",
    "ts_to_us",
    "us_to_ts",
    "words",
]

KIND_EVENT = "event"
KIND_OTHER = "other"

EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "action",
    "outcome",
    "actor",
    "actor_type",
    "resource",
    "source_ip",
    "source_node",
)
"""Text columns copied from the event's fields of the same name."""

INDEX_COLUMNS = ("kind", "ts_us", *EVENT_COLUMNS, "clearance")
"""Every derived column of the entries table, in table order (search text aside)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WORD = re.compile(r"\w+")
_US = timedelta(microseconds=1)


def index_text(value: str) -> str:
    """The form of a string kept in an index column: NUL replaced by U+FFFD."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def ts_to_us(ts: str) -> int:
    """Microseconds since the Unix epoch of an RFC 3339 time (``Z`` or an offset)."""
    try:
        text = ts[:-1] + "+00:00" if ts.endswith(("Z", "z")) else ts
        when = datetime.fromisoformat(text)
    except (ValueError, TypeError) as exc:
        raise FramingError(f"entry time {ts!r} is not RFC 3339") from exc
    if when.tzinfo is None:
        raise FramingError(f"entry time {ts!r} has no time zone")
    return (when - _EPOCH) // _US


def us_to_ts(us: int) -> str:
    """The RFC 3339 UTC text (microseconds, ``Z``) of microseconds since the epoch."""
    try:
        return (_EPOCH + us * _US).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError as exc:
        raise ConfigError(f"time {us} µs is out of range") from exc


def derive_index(entry: Entry, ts_us: int | None = None) -> dict[str, Any]:
    """Return every :data:`INDEX_COLUMNS` value of ``entry``.

    For an audit event: the text columns (via :func:`index_text`), the
    clearance and the time; for a seal or prune record only ``kind`` and ``ts_us``.
    ``ts_us`` may be passed when the caller already converted ``entry.ts``.
    """
    fields = entry.fields
    out: dict[str, Any] = dict.fromkeys(INDEX_COLUMNS)
    out["ts_us"] = ts_to_us(entry.ts) if ts_us is None else ts_us
    kind = entry.ledger_kind
    if kind is not None:
        out["kind"] = kind
        return out
    if fields.get("audit") != EVENT_FORMAT:
        out["kind"] = KIND_OTHER
        return out
    out["kind"] = KIND_EVENT
    for name in EVENT_COLUMNS:
        value = fields.get(name)
        out[name] = index_text(value) if isinstance(value, str) else None
    clearance = fields.get("clearance")
    out["clearance"] = clearance if type(clearance) is int else None
    return out


_SCALARS = frozenset({int, float, bool, type(None)})


def _strings(value: Any, out: list[str]) -> None:
    """Append the strings of a JSON value to ``out``: objects in sorted key order."""
    kind = type(value)
    if kind is str:
        out.append(value)
    elif kind is dict:
        for key in sorted(value):  # the order of the entry bytes (sorted keys)
            item = value[key]
            if type(item) is str:
                out.append(item)
            elif type(item) not in _SCALARS:
                _strings(item, out)
    elif kind is list:
        for item in value:
            if type(item) is str:
                out.append(item)
            elif type(item) not in _SCALARS:
                _strings(item, out)
    elif kind in _SCALARS:
        return
    elif isinstance(value, str):  # a str subclass (an enum member kept by normalisation)
        out.append(value)
    elif isinstance(value, Mapping):
        for key in sorted(value):
            _strings(value[key], out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


_TEXT_FIELDS = ("event_type", "action", "actor", "outcome", "resource", "source_ip", "source_node")


def event_search_text(fields: Mapping[str, Any]) -> str:
    """:func:`search_text` of an audit event's fields (the event checks are the caller's)."""
    texts = [v for v in map(fields.get, _TEXT_FIELDS) if isinstance(v, str)]
    return text_of(texts, fields.get("details"))


def text_of(texts: list[str], details: Any) -> str:
    """The search text of an event whose text fields (in ``_TEXT_FIELDS`` order, the
    absent ones left out) are ``texts``: their words and those of ``details``."""
    _strings(details, texts)
    return words(" ".join(texts))


_ASCII_WORDS = bytes(
    i if i < 128 and _WORD.fullmatch(chr(i)) is not None else 32 for i in range(256)
)
"""A ``bytes.translate`` table: ASCII word characters kept, every other byte a space."""


def words(text: str) -> str:
    """The runs of Unicode word characters of ``text`` (``\\w+``), joined by single spaces.

    ASCII text takes a faster route with the same result: non-word bytes become
    spaces and the runs between them are joined again.
    """
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_WORDS).split()).decode("ascii")
    return " ".join(_WORD.findall(text))


def search_text(entry: Entry) -> str | None:
    """The text indexed for full-text search: the words of the event's strings and details.

    Words are runs of Unicode word characters (as in :func:`~logging_audit.audit.query.text_terms`),
    joined by spaces, so that SQLite's and PostgreSQL's tokenizers see the same
    words. ``None`` for ledger records.
    """
    fields = entry.fields
    if entry.ledger_kind is not None or fields.get("audit") != EVENT_FORMAT:
        return None
    return event_search_text(fields)


def _sanitize(value: Any) -> Any:
    if isinstance(value, str):
        return index_text(value)
    if isinstance(value, dict):
        return {index_text(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    return value


def json_details(entry: Entry) -> Any:
    """The ``details`` JSONB document kept beside an event in PostgreSQL, NUL-mapped.

    ``None`` for ledger records and for events without details.
    """
    fields = entry.fields
    if entry.ledger_kind is not None or fields.get("audit") != EVENT_FORMAT:
        return None
    return _sanitize(fields.get("details"))


def json_document(value: Any) -> Any:
    """``value`` (JSON-native) as PostgreSQL can hold it: every string and key NUL-mapped."""
    return _sanitize(value)
