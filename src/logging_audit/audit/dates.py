"""Parsing the time bounds of a search: ISO dates, zoned datetimes, ``datetime`` objects.

- ``"2023-01-31"`` or a :class:`~datetime.date`: that whole UTC day. As a start
  bound it means 00:00 of the day; as an end bound the end of the day
  (everything before 00:00 of the next day), so ``end_date="2023-01-31"``
  includes events on the 31st.
- ``"2023-01-31T10:00:00+02:00"``, ``"…Z"`` or an aware :class:`~datetime.datetime`:
  that instant; an end bound includes it.
- A string or ``datetime`` without a zone is taken as UTC.

Anything else is a :class:`~logging_audit.errors.ConfigError` naming the parameter.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from logging_audit.errors import ConfigError
from logging_audit.iso_time import parse_iso_datetime

__all__ = ["TimeBound", "parse_time_bound"]

TimeBound = str | date | datetime
"""What callers may pass as a start or end of a time range."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def _us(when: datetime) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // _US


def parse_time_bound(value: TimeBound | None, what: str, *, end: bool = False) -> int | None:
    """Return the bound in microseconds since the epoch (``None`` stays ``None``).

    A start bound is inclusive. An end bound is returned *exclusive*: for a
    date, 00:00 of the next day; for an instant, one microsecond after it.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return _us(value) + (1 if end else 0)
    if isinstance(value, date):
        start = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
        return _us(start + _DAY if end else start)
    if not isinstance(value, str):
        raise ConfigError(
            f"{what} must be an ISO date, an ISO datetime or a datetime, got {type(value).__name__}"
        )
    text = value.strip()
    if len(text) > 64:
        raise ConfigError(f"{what} {value[:64]!r}… is not a date or datetime")
    try:
        if len(text) == 10:
            return parse_time_bound(date.fromisoformat(text), what, end=end)
        return parse_time_bound(parse_iso_datetime(text), what, end=end)
    except (ValueError, OverflowError) as exc:
        raise ConfigError(
            f"{what} {value!r} is not an ISO date (2023-01-31) or datetime "
            "(2023-01-31T10:00:00+00:00)"
        ) from exc
