"""Entry framing: entry bytes, the framed line ``entry[:-1] + ,"mac":"<b64>"}``, and parsing.

An *entry* is the exact UTF-8 bytes of one compact JSON object with sorted keys
holding ``seq``, ``ts``, ``epoch``, ``prev`` and the caller's fields. A framed
line is the entry with its closing ``}`` replaced by ``,"mac":"<b64>"}``; the
MAC suffix has a fixed length, so stripping it recovers the entry bytes exactly,
with no re-serialisation.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from logging_audit.errors import FramingError
from logging_audit.ledger.hashing import HASH_SIZE

__all__ = [
    "MAC_SUFFIX_LEN",
    "RESERVED_FIELDS",
    "ZERO_HASH",
    "Entry",
    "b64",
    "build_entry",
    "format_ts",
    "frame_line",
    "now_ts",
    "parse_entry",
    "unb64",
    "unframe_line",
]

RESERVED_FIELDS = frozenset({"seq", "ts", "epoch", "prev", "mac", "ledger"})
"""Field names the ledger owns; callers cannot set them."""

ZERO_HASH = bytes(HASH_SIZE)
"""The ``prev`` of the first entry of a stream."""

_MAC_B64_LEN = 44  # base64 of 32 bytes
_MAC_OPEN = b',"mac":"'
_MAC_CLOSE = b'"}'
# The last data character of base64 for 32 bytes carries 4 bits: its low 2 bits must be 0.
_CANONICAL_LAST = frozenset(b"AEIMQUYcgkosw048")
MAC_SUFFIX_LEN = len(_MAC_OPEN) + _MAC_B64_LEN + len(_MAC_CLOSE)
"""Length of the ``,"mac":"<b64>"}`` suffix of every framed line."""

_OPTS = orjson.OPT_SORT_KEYS


def b64(data: bytes) -> str:
    """Standard base64 (with padding) as text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str, size: int | None = None) -> bytes:
    """Decode strict standard base64, raising :class:`FramingError` naming ``what``."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise FramingError(f"{what} is not valid base64") from exc
    if size is not None and len(data) != size:
        raise FramingError(f"{what} must be {size} bytes, got {len(data)}")
    return data


def format_ts(when: datetime | None = None) -> str:
    """RFC 3339 UTC time with microseconds, e.g. ``2026-11-29T10:00:00.123456Z``."""
    if when is None:
        when = datetime.now(timezone.utc)
    elif when.tzinfo is None:
        raise FramingError("timestamps must be timezone-aware")
    else:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_TS_CACHE: tuple[int, str] = (-1, "")


def now_ts() -> str:
    """The current time as :func:`format_ts` writes it, computed faster (cached per second)."""
    global _TS_CACHE  # a per-second cache of the formatted prefix
    sec, rem = divmod(time.time_ns(), 1_000_000_000)
    cached_sec, prefix = _TS_CACHE
    if sec != cached_sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _TS_CACHE = (sec, prefix)
    return f"{prefix}.{rem // 1000:06d}Z"


def build_entry(
    seq: int,
    ts: str,
    epoch: int,
    prev: bytes,
    fields: Mapping[str, Any],
    *,
    default: Callable[[Any], Any] | None = None,
) -> bytes:
    """Build the entry bytes: compact JSON, sorted keys, ledger fields plus ``fields``.

    ``fields`` may not use the reserved names (:data:`RESERVED_FIELDS`).
    ``default`` converts values JSON cannot hold (as in :func:`json.dumps`);
    without it such a value is a :class:`FramingError`.
    """
    clash = RESERVED_FIELDS.intersection(fields)
    if clash:
        raise FramingError(f"field names reserved by the ledger: {', '.join(sorted(clash))}")
    if len(prev) != HASH_SIZE:
        raise FramingError(f"prev must be {HASH_SIZE} bytes, got {len(prev)}")
    return _build(seq, ts, epoch, b64(prev), dict(fields), default)


def _build(
    seq: int,
    ts: str,
    epoch: int,
    prev_b64: str,
    obj: dict[str, Any],
    default: Callable[[Any], Any] | None = None,
) -> bytes:
    """Serialise ``obj`` (mutated: the ledger fields are added) as entry bytes."""
    obj["seq"] = seq
    obj["ts"] = ts
    obj["epoch"] = epoch
    obj["prev"] = prev_b64
    try:
        return orjson.dumps(obj, default=default, option=_OPTS)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise FramingError(f"entry fields cannot be serialised: {exc}") from exc


def frame_line(entry: bytes, mac: bytes) -> bytes:
    """Return the framed line (no newline): ``entry`` with ``,"mac":"<b64>"}`` closing it."""
    if len(mac) != HASH_SIZE:
        raise FramingError(f"mac must be {HASH_SIZE} bytes, got {len(mac)}")
    if not entry.endswith(b"}"):
        raise FramingError("entry must be a JSON object ending in '}'")
    return entry[:-1] + _MAC_OPEN + base64.b64encode(mac) + _MAC_CLOSE


def unframe_line(line: bytes) -> tuple[bytes, bytes]:
    """Split a framed line into ``(entry bytes, mac)``, byte-exactly.

    A trailing ``\\n`` (or ``\\r\\n``) is ignored. Raises :class:`FramingError`
    naming what is wrong when the line does not end in a well-formed MAC suffix.
    """
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    n = len(line)
    if n < MAC_SUFFIX_LEN + 2:
        raise FramingError(f"line too short to be a framed entry ({n} bytes)")
    if line[n - MAC_SUFFIX_LEN : n - MAC_SUFFIX_LEN + len(_MAC_OPEN)] != _MAC_OPEN:
        raise FramingError('line does not end with a ,"mac":"…"} field')
    if not line.endswith(_MAC_CLOSE) or line[0:1] != b"{":
        raise FramingError("line is not a JSON object closed by its mac field")
    try:
        mac = base64.b64decode(line[n - _MAC_B64_LEN - 2 : n - 2], validate=True)
    except binascii.Error as exc:
        raise FramingError("mac is not valid base64") from exc
    if len(mac) != HASH_SIZE:
        raise FramingError(f"mac must be {HASH_SIZE} bytes, got {len(mac)}")
    if line[n - 4] not in _CANONICAL_LAST:
        raise FramingError("mac is not canonical base64 (unused bits set)")
    return line[: n - MAC_SUFFIX_LEN] + b"}", mac


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed entry: the ledger's fields, the caller's fields and the exact bytes."""

    seq: int
    ts: str
    epoch: int
    prev: bytes
    fields: dict[str, Any]
    raw: bytes

    @property
    def ledger_kind(self) -> str | None:
        """``"seal"``, ``"prune"`` … for ledger records; ``None`` for ordinary entries."""
        kind = self.fields.get("ledger")
        return kind if isinstance(kind, str) else None


def parse_entry(entry: bytes) -> Entry:
    """Parse entry bytes (as returned by :func:`unframe_line`).

    Raises :class:`FramingError` naming the problem: not UTF-8 JSON, not an
    object, a missing or mistyped ``seq``/``ts``/``epoch``/``prev``.
    """
    try:
        obj = orjson.loads(entry)
    except orjson.JSONDecodeError as exc:
        raise FramingError(f"entry is not valid UTF-8 JSON: {exc}") from exc
    if type(obj) is not dict:
        raise FramingError("entry is not a JSON object")
    seq = obj.pop("seq", None)
    ts = obj.pop("ts", None)
    epoch = obj.pop("epoch", None)
    prev = obj.pop("prev", None)
    if type(seq) is not int or seq < 0:
        raise FramingError("entry has no valid 'seq' (a non-negative integer)")
    if type(epoch) is not int or epoch < 0:
        raise FramingError("entry has no valid 'epoch' (a non-negative integer)")
    if type(ts) is not str:
        raise FramingError("entry has no valid 'ts' (an RFC 3339 string)")
    if type(prev) is not str:
        raise FramingError("entry has no valid 'prev' (base64 of 32 bytes)")
    if "mac" in obj:
        raise FramingError("entry bytes contain a 'mac' field")
    return Entry(seq, ts, epoch, unb64(prev, "prev", HASH_SIZE), obj, entry)
