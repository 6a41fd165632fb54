"""Bounds on untrusted event content, and its normalisation to plain JSON.

Every string an event carries is stored and returned exactly, never executed:
values reach SQL only as bound parameters. What cannot be stored exactly is
refused with a :class:`~logging_audit.errors.ConfigError` naming the place:
strings that are not valid UTF-8 (lone surrogates), ``bytes``, NaN and
infinities, integers beyond 64 bits, non-string keys, nesting deeper than
``max_depth`` and details larger than ``max_details_bytes``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

import orjson

from logging_audit.errors import ConfigError

__all__ = ["DEFAULT_LIMITS", "Limits", "normalize_details"]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


@dataclass(frozen=True)
class Limits:
    """Size bounds for one event; past a bound recording fails with a clear ConfigError."""

    max_details_bytes: int = 64 * 1024
    """Serialised ``details`` (compact JSON, UTF-8) may be at most this many bytes."""
    max_depth: int = 32
    """Objects and lists may nest at most this deep inside ``details``."""
    max_string: int = 256
    """Identifiers (actor, action, resource, ip, node, event id) at most this many characters."""
    max_batch: int = 100_000
    """At most this many events in one batched call."""

    def __post_init__(self) -> None:
        for name in ("max_details_bytes", "max_depth", "max_string", "max_batch"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()


def _where(path: str) -> str:
    return f"details{path}" if path else "details"


def _check_str(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"{_where(path)}: string is not valid UTF-8 (lone surrogate at position "
            f"{exc.start}); decode bytes properly or escape them before recording"
        ) from exc
    return value


def _check_int(value: int, path: str) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise ConfigError(f"{_where(path)}: integer {value} does not fit in 64 bits")
    return value


def _check_float(value: float, path: str) -> float:
    if not math.isfinite(value):
        raise ConfigError(f"{_where(path)}: {value} is not a finite number (JSON has none)")
    return value


def _normalize_dict(value: dict[Any, Any], path: str, depth: int, limits: Limits) -> dict[str, Any]:
    """:func:`_normalize` of an exact ``dict``, with its plain members checked inline.

    The same checks and results as the general case: exact ``str``, ``int``,
    ``float``, ``bool`` and ``None`` values are handled here (an ASCII string
    cannot hold a lone surrogate), everything else by :func:`_normalize`; paths
    for error messages are only built when needed.
    """
    if depth >= limits.max_depth:
        raise ConfigError(f"{_where(path)}: nested deeper than {limits.max_depth} levels")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            if not isinstance(key, str):
                raise ConfigError(f"{_where(path)}: key {key!r} is not a string")
            _check_str(key, f"{path}[{key!r}]")
        kind = type(item)
        if kind is str:
            if not item.isascii():
                _check_str(item, f"{path}.{key}")
            out[key] = item
        elif kind is int:
            out[key] = item if _INT_MIN <= item <= _INT_MAX else _check_int(item, f"{path}.{key}")
        elif kind is bool or item is None:
            out[key] = item
        elif kind is float:
            out[key] = item if math.isfinite(item) else _check_float(item, f"{path}.{key}")
        elif kind is dict:
            out[key] = _normalize_dict(item, f"{path}.{key}", depth + 1, limits)
        else:
            out[key] = _normalize(item, f"{path}.{key}", depth + 1, limits)
    return out


def _normalize(value: Any, path: str, depth: int, limits: Limits) -> Any:
    if type(value) is dict:
        return _normalize_dict(value, path, depth, limits)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_str(value, path)
    if isinstance(value, int):
        return int(_check_int(value, path))
    if isinstance(value, float):
        return float(_check_float(value, path))
    if isinstance(value, Mapping):
        if depth >= limits.max_depth:
            raise ConfigError(f"{_where(path)}: nested deeper than {limits.max_depth} levels")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{_where(path)}: key {key!r} is not a string")
            _check_str(key, f"{path}[{key!r}]")
            out[key] = _normalize(item, f"{path}.{key}", depth + 1, limits)
        return out
    if isinstance(value, list | tuple):
        if depth >= limits.max_depth:
            raise ConfigError(f"{_where(path)}: nested deeper than {limits.max_depth} levels")
        return [_normalize(v, f"{path}[{i}]", depth + 1, limits) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_normalize(v, f"{path}{{}}", depth + 1, limits) for v in value]
        return sorted(items, key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return _normalize(value.value, path, depth, limits)
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raise ConfigError(
            f"{_where(path)}: bytes cannot be stored as JSON text; decode them or base64 them"
        )
    raise ConfigError(f"{_where(path)}: values of type {type(value).__name__} are not JSON")


def normalize_details(
    details: Mapping[str, Any] | None, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Return ``details`` as plain JSON values, checked against ``limits``.

    datetimes, dates and times become ISO strings; UUID, Decimal and paths
    strings; enums their value; tuples lists; sets sorted lists.
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise ConfigError(f"details must be a mapping (dict), got {type(details).__name__}")
    out = _normalize(details, "", 0, limits)
    assert isinstance(out, dict)
    try:
        size = len(orjson.dumps(out))
    except (orjson.JSONEncodeError, TypeError) as exc:  # pragma: no cover - normalised above
        raise ConfigError(f"details cannot be serialised: {exc}") from exc
    if size > limits.max_details_bytes:
        raise ConfigError(
            f"details are {size} bytes of JSON, more than the limit of "
            f"{limits.max_details_bytes} bytes (Limits.max_details_bytes)"
        )
    return out
