"""Search criteria: the field catalogue, operators, and the parsed :class:`EventQuery`.

Criteria are a mapping from a field to a condition::

    {"user_id": "user123"}                           equality
    {"event_type": ["authentication", "admin"]}      in (a list, tuple or set)
    {"clearance": {"gte": 2, "lt": 4}}               ranges: gt gte lt lte
    {"details.ip_address": {"ne": "10.0.0.1"}}       nested details by dotted path
    {"resource": {"contains": "doc"}}                substring (case-sensitive)
    {"details.mfa": {"exists": True}}                presence
    {"text": "password reset"}                       full-text: all words must occur

Operators: ``eq ne in not_in gt gte lt lte contains exists``. Fields are those
of :data:`FIELDS` (and the aliases of :data:`ALIASES`), or ``details.<key>[.<key>…]``.
An unknown field, operator or ill-typed value is a
:class:`~logging_audit.errors.ConfigError` that names it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from logging_audit.audit.dates import TimeBound, parse_time_bound
from logging_audit.audit.index import index_text, us_to_ts
from logging_audit.errors import ConfigError
from logging_audit.persistence.models import ClearanceLevel

__all__ = [
    "ALIASES",
    "FIELDS",
    "OPERATORS",
    "SORTABLE",
    "Condition",
    "EventQuery",
    "FieldRef",
    "SortSpec",
    "text_terms",
]

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists")

FIELDS: dict[str, str] = {
    "event_id": "text",
    "event_type": "text",
    "action": "text",
    "outcome": "text",
    "actor": "text",
    "actor_type": "text",
    "resource": "text",
    "source_ip": "text",
    "source_node": "text",
    "clearance": "clearance",
    "seq": "int",
    "ts": "time",
}
"""Top-level fields (each an indexed column) and their kind."""

ALIASES: dict[str, str] = {
    "resource_id": "resource",
    "action_type": "action",
    "timestamp": "ts",
    "time": "ts",
    "clearance_level": "clearance",
    "ip_address": "source_ip",
    "node": "source_node",
}
"""Other names accepted for fields. ``user_id``, ``agent_id`` and ``success`` are
special: ``user_id``/``agent_id`` match ``actor`` and the ``actor_type``;
``success`` (a bool) matches ``outcome`` ``success``/``failure``."""

SORTABLE = ("seq", "ts", "event_id", "event_type", "action", "outcome", "actor", "clearance")
"""Fields a search can be sorted by (each prefixed with ``-`` for descending)."""

_TEXT_KEYS = ("text", "q")
_MAX_CONDITIONS = 64
_MAX_IN = 1000
_MAX_VALUE = 4096
_MAX_TEXT = 1024
_PATH_PART = re.compile(r'[^."\\\x00-\x1f]{1,128}')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FieldRef:
    """A searchable field: an indexed column, or a JSON path inside the event."""

    name: str
    kind: str
    """``text``, ``int``, ``clearance``, ``time`` (columns) or ``json`` (a path)."""
    path: tuple[str, ...] = ()

    @property
    def column(self) -> str | None:
        """The entries-table column, or ``None`` for a JSON path."""
        if self.kind == "json":
            return None
        return "ts_us" if self.kind == "time" else self.name


@dataclass(frozen=True)
class Condition:
    """One parsed condition. ``value`` is normalised (a tuple for ``in``/``not_in``)."""

    field: FieldRef
    op: str
    value: Any


@dataclass(frozen=True)
class SortSpec:
    """Sort order: a :data:`SORTABLE` field, ties broken by ``seq`` in the same direction."""

    field: str = "seq"
    descending: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> SortSpec:
        """Parse ``"ts"``, ``"-ts"``, ``"ts desc"`` … (``None``: by seq ascending)."""
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            raise ConfigError(f"sort must be a string like '-ts', got {type(spec).__name__}")
        text = spec.strip()
        desc = False
        if text.startswith("-"):
            desc, text = True, text[1:]
        elif text.lower().endswith((" desc", " asc")):
            text, order = text.rsplit(" ", 1)
            desc = order.lower() == "desc"
            text = text.strip()
        text = ALIASES.get(text, text)
        if text not in SORTABLE:
            raise ConfigError(f"cannot sort by {spec!r}; sortable fields: {', '.join(SORTABLE)}")
        return cls(text, desc)

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field


def text_terms(text: str) -> list[str]:
    """The words of a full-text search (Unicode word characters), at least one."""
    terms = _WORD.findall(text)
    if not terms:
        raise ConfigError(f"text search {text[:64]!r} holds no word to search for")
    return terms


def _resolve(name: object) -> FieldRef:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"criteria keys must be field names, got {name!r}")
    if name.startswith("details."):
        parts = name.split(".")
        for part in parts[1:]:
            if not _PATH_PART.fullmatch(part):
                raise ConfigError(
                    f"field {name!r}: path part {part[:64]!r} is empty, too long or holds "
                    "a quote, backslash or control character"
                )
        return FieldRef(name, "json", tuple(parts))
    real = ALIASES.get(name, name)
    kind = FIELDS.get(real)
    if kind is None:
        known = ", ".join([*FIELDS, "user_id", "agent_id", "success", *ALIASES, "details.<path>"])
        raise ConfigError(f"unknown search field {name!r}; known fields: {known}")
    return FieldRef(real, kind)


def _scalar(ref: FieldRef, value: Any, op: str) -> Any:
    """Check and normalise one comparison value for ``ref``."""
    where = f"{ref.name} {op}"
    if ref.kind == "text":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")
        if len(value) > _MAX_VALUE:
            raise ConfigError(f"{where}: value longer than {_MAX_VALUE} characters")
        return index_text(value)
    if ref.kind == "int":
        if type(value) is not int:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if ref.kind == "clearance":
        return int(ClearanceLevel.coerce(value, where))
    if ref.kind == "json":
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            if len(value) > _MAX_VALUE:
                raise ConfigError(f"{where}: value longer than {_MAX_VALUE} characters")
            return value
        raise ConfigError(
            f"{where}: expected a string, number, bool or None, got {type(value).__name__}"
        )
    raise AssertionError(ref.kind)  # pragma: no cover


def _time_conditions(ref: FieldRef, op: str, value: Any) -> list[Condition]:
    what = f"{ref.name} {op}"
    if op in ("gte", "lt"):
        bound = parse_time_bound(value, what)
        return [Condition(ref, op, bound)]
    if op in ("gt", "lte"):  # after / up to and including: the end of the day or instant
        bound = parse_time_bound(value, what, end=True)
        return [Condition(ref, "gte" if op == "gt" else "lt", bound)]
    if op == "eq":
        return [
            Condition(ref, "gte", parse_time_bound(value, what)),
            Condition(ref, "lt", parse_time_bound(value, what, end=True)),
        ]
    raise ConfigError(f"{what}: times support eq, gt, gte, lt and lte")


def _conditions(ref: FieldRef, op: str, value: Any) -> list[Condition]:
    if op not in OPERATORS:
        raise ConfigError(
            f"unknown operator {op!r} for field {ref.name!r}; operators: {', '.join(OPERATORS)}"
        )
    if ref.kind == "time":
        return _time_conditions(ref, op, value)
    if op == "exists":
        if not isinstance(value, bool):
            raise ConfigError(f"{ref.name} exists: expected true or false")
        return [Condition(ref, op, value)]
    if op in ("in", "not_in"):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            raise ConfigError(f"{ref.name} {op}: expected a list of values")
        items = list(value)
        if not items or len(items) > _MAX_IN:
            raise ConfigError(f"{ref.name} {op}: needs 1 to {_MAX_IN} values, got {len(items)}")
        if any(v is None for v in items) and ref.kind != "json":
            raise ConfigError(f"{ref.name} {op}: None is not a value of this field")
        return [Condition(ref, op, tuple(_scalar(ref, v, op) for v in items))]
    if op == "contains":
        if ref.kind not in ("text", "json") or not isinstance(value, str) or not value:
            raise ConfigError(f"{ref.name} contains: expected a non-empty string on a text field")
        return [Condition(ref, op, _scalar(ref, value, op))]
    if value is None and op in ("gt", "gte", "lt", "lte"):
        raise ConfigError(f"{ref.name} {op}: cannot compare with None")
    if value is None:
        return [Condition(ref, "exists", op == "ne")]
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
        raise ConfigError(f"{ref.name} {op}: cannot compare with a bool")
    return [Condition(ref, op, _scalar(ref, value, op))]


def _parse_one(name: str, spec: Any) -> list[Condition]:
    if name in ("user_id", "agent_id"):
        kind = "user" if name == "user_id" else "agent"
        actor = FieldRef("actor", "text")
        out = [Condition(FieldRef("actor_type", "text"), "eq", kind)]
        return out + _parse_spec(actor, spec)
    if name == "success":
        if not isinstance(spec, bool):
            raise ConfigError("success: expected true or false")
        return [Condition(FieldRef("outcome", "text"), "eq", "success" if spec else "failure")]
    return _parse_spec(_resolve(name), spec)


def _parse_spec(ref: FieldRef, spec: Any) -> list[Condition]:
    if isinstance(spec, Mapping):
        if not spec:
            raise ConfigError(f"{ref.name}: empty condition")
        out: list[Condition] = []
        for op, value in spec.items():
            out.extend(_conditions(ref, str(op), value))
        return out
    if isinstance(spec, list | tuple | set | frozenset):
        return _conditions(ref, "in", spec)
    return _conditions(ref, "eq", spec)


@dataclass(frozen=True)
class EventQuery:
    """A parsed, validated search: conditions (ANDed), full text, time range and sort.

    Build one with :meth:`build`. ``start_us`` is inclusive, ``end_us`` exclusive
    (microseconds since the epoch, on the event time).
    """

    conditions: tuple[Condition, ...] = ()
    text: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    sort: SortSpec = field(default_factory=SortSpec)

    @classmethod
    def build(
        cls,
        criteria: Mapping[str, Any] | None = None,
        *,
        start: TimeBound | None = None,
        end: TimeBound | None = None,
        text: str | None = None,
        sort: str | None = None,
    ) -> EventQuery:
        """Parse criteria (see the module docstring), a time range, text and sort.

        ``start``/``end`` follow :func:`~logging_audit.audit.dates.parse_time_bound`:
        a date as ``end`` includes that whole day.
        """
        if criteria is not None and not isinstance(criteria, Mapping):
            raise ConfigError(f"criteria must be a mapping, got {type(criteria).__name__}")
        conditions: list[Condition] = []
        for name, spec in (criteria or {}).items():
            if name in _TEXT_KEYS:
                if text is not None:
                    raise ConfigError("give the text search once (criteria 'text' or text=)")
                if not isinstance(spec, str):
                    raise ConfigError(f"{name}: text search expects a string")
                text = spec
                continue
            conditions.extend(_parse_one(name, spec))
        if len(conditions) > _MAX_CONDITIONS:
            raise ConfigError(f"at most {_MAX_CONDITIONS} conditions per search")
        if text is not None:
            if not isinstance(text, str):
                raise ConfigError("text search expects a string")
            if len(text) > _MAX_TEXT:
                raise ConfigError(f"text search longer than {_MAX_TEXT} characters")
            text_terms(text)
        start_us = parse_time_bound(start, "start_date")
        end_us = parse_time_bound(end, "end_date", end=True)
        if start_us is not None and end_us is not None and end_us <= start_us:
            raise ConfigError("end_date is before start_date")
        return cls(tuple(conditions), text, start_us, end_us, SortSpec.parse(sort))

    def describe(self) -> dict[str, Any]:
        """JSON-ready description, recorded in the audit event of the search."""
        return {
            "conditions": [[c.field.name, c.op, _jsonable(c.value)] for c in self.conditions],
            "text": self.text,
            "start": None if self.start_us is None else us_to_ts(self.start_us),
            "end_before": None if self.end_us is None else us_to_ts(self.end_us),
            "sort": str(self.sort),
        }

    def fingerprint(self) -> str:
        """A digest of the query: a paging cursor is valid only for the same query."""
        data = orjson.dumps(self.describe(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:32]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value
