"""Shared plumbing of the forensic tools: which store, who reads, times, digests.

Every forensic tool reads through the audit store's query API (so every read
is itself recorded as a ``query`` event) as an *analyst*: a
:class:`~logging_audit.audit.records.Requestor`, by default ``forensics`` at
LEVEL_5 (an investigation needs to see everything; pass a lower clearance to
investigate with less).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import EllipsisType
from typing import Any, Protocol

import orjson

from logging_audit.audit.dates import TimeBound, parse_time_bound
from logging_audit.audit.factory import open_store
from logging_audit.audit.index import ts_to_us
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError
from logging_audit.persistence.models import ClearanceLevel

__all__ = [
    "DEFAULT_ANALYST",
    "EPOCH",
    "StoreLike",
    "TimeArg",
    "canonical_json",
    "default_database",
    "format_us",
    "requestor_for",
    "sha256_hex",
    "store_session",
    "time_arg",
    "ts_us",
    "us_to_datetime",
]

DEFAULT_ANALYST = "forensics"
"""The requestor id recorded for forensic reads when none is given."""

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

TimeArg = TimeBound | EllipsisType | None
"""A time bound: ISO date or datetime text, a ``date``/``datetime``, or ``None``/``...`` (open)."""


class _HasStore(Protocol):
    @property
    def store(self) -> AuditStore: ...


StoreLike = AuditStore | _HasStore | str | os.PathLike[str] | None
"""Where events come from: an open store, a service with a ``.store``
(``AuditService``, ``AuditTrailService``), a database path or URL, or
``None`` for the embedded default (``$LOGAUDIT_AUDIT_DB`` or
``audit_service/audit.db``, as ``AuditService()`` uses)."""


def default_database() -> str:
    """The database ``AuditService()`` uses: ``$LOGAUDIT_AUDIT_DB`` or its default path."""
    from logging_audit.audit_service import DEFAULT_DATABASE

    return os.environ.get("LOGAUDIT_AUDIT_DB") or DEFAULT_DATABASE


@contextmanager
def store_session(
    store: StoreLike, *, key_dir: str | os.PathLike[str] | None = None, schema: str = "logaudit"
) -> Iterator[AuditStore]:
    """Yield the store ``store`` names; close it afterwards only if it was opened here."""
    if isinstance(store, AuditStore):
        yield store
        return
    inner = getattr(store, "store", None)
    if isinstance(inner, AuditStore):
        yield inner
        return
    if store is not None and not isinstance(store, str | os.PathLike):
        raise ConfigError(
            f"store must be an AuditStore, a service with .store, a path or a URL, "
            f"not {type(store).__name__}"
        )
    opened = open_store(
        default_database() if store is None else store, key_dir=key_dir, schema=schema
    )
    try:
        yield opened
    finally:
        opened.close()


def requestor_for(analyst: str | Requestor, clearance: ClearanceLevel | int | str) -> Requestor:
    """The requestor a forensic tool reads as."""
    if isinstance(analyst, Requestor):
        return analyst
    return Requestor(analyst, ClearanceLevel.coerce(clearance, "analyst clearance"))


def time_arg(value: TimeArg, what: str, *, end: bool = False) -> int | None:
    """Microseconds since the epoch of a bound (end bounds exclusive); ``None``/``...`` are open."""
    if value is None or isinstance(value, EllipsisType):
        return None
    return parse_time_bound(value, what, end=end)


def ts_us(ts: str) -> int:
    """Microseconds since the epoch of a recorded RFC 3339 time."""
    return ts_to_us(ts)


def us_to_datetime(us: int) -> datetime:
    """An aware UTC datetime from microseconds since the epoch."""
    return EPOCH + us * _US


def format_us(us: int) -> str:
    """RFC 3339 UTC text with microseconds (``…Z``) of microseconds since the epoch."""
    return us_to_datetime(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(obj: Any) -> bytes:
    """Compact JSON with sorted keys: the bytes a result digest is taken over."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
