"""ISO 8601 date-times read the same way on every supported Python.

Python 3.10's ``datetime.fromisoformat`` reads only what ``isoformat`` writes:
no ``Z``, fractions of exactly 3 or 6 digits, offsets with a colon; 3.11's reads
more, but not ``z`` or a comma before the fraction. Logs and callers write
``2024-03-04T10:00:01.5+01:00``, ``…Z``, ``…z`` or ``+0100``.
:func:`parse_iso_datetime` rewrites those forms (fraction padded or cut to
microseconds, ``Z``/``z`` as ``+00:00``, a colon put into the offset) and then
parses with ``fromisoformat``; anything else raises ``ValueError``, as it does.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["parse_iso_datetime"]

_ISO = re.compile(
    r"(?P<head>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?"
)


def _zone(zone: str | None) -> str:
    if not zone:
        return ""
    if zone in ("Z", "z"):
        return "+00:00"
    digits = zone[1:].replace(":", "")
    parts = [digits[i : i + 2] for i in range(0, len(digits), 2)]
    if len(parts) == 1:
        parts.append("00")
    return zone[0] + ":".join(parts)


def parse_iso_datetime(text: str) -> datetime:
    """``text`` (an ISO 8601 date-time) as a ``datetime``; ``ValueError`` if it is not one."""
    m = _ISO.fullmatch(text)
    if m is None:
        return datetime.fromisoformat(text)
    frac = m.group("frac")
    fraction = "" if frac is None else "." + frac[:6].ljust(6, "0")
    return datetime.fromisoformat(m.group("head") + fraction + _zone(m.group("zone")))
