"""JSON Lines → audit events, with a field mapping given by the caller (or the command line).

``mapping`` says where each audit field comes from: a dotted path into each
JSON object (``user.name``; a key holding dots can be reached with
``\\.``, e.g. ``log\\.level``). ``constants`` fix a field for every line.
Fields: ``event_type``, ``action``, ``actor``, ``actor_type``, ``outcome``,
``resource``, ``source_ip``, ``source_node``, ``clearance`` (1–5), ``time``
(ISO 8601 text, or epoch seconds / milliseconds as a number), and
``details.<name>`` for anything to copy into ``details``. ``actor`` and
``action`` must come from the mapping or the constants; ``event_type``
defaults to ``system``, ``actor_type`` to ``user``.

Outcomes are normalised: ``success``/``succeeded``/``ok``/``allow(ed)``/``true``
→ ``success``; ``failure``/``failed``/``fail``/``error``/``deny``/``denied``/
``false``/``blocked`` → ``failure``; anything else → ``unknown``.

Each event keeps the whole source object in ``details.original`` (when it is at
most 16 KiB of JSON), and — like every import — ``source_file``,
``source_digest``, ``line`` and ``event_time``. Lines that are not JSON objects,
or lack a mapped ``actor``/``action``, or have an unreadable time, are skipped
and counted by reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError, StorageError
from logging_audit.importers._common import ImportReport, event_id_for, file_digest, write_import
from logging_audit.iso_time import parse_iso_datetime
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["FIELDS", "import_jsonl", "parse_assignments"]

FIELDS = (
    "event_type",
    "action",
    "actor",
    "actor_type",
    "outcome",
    "resource",
    "source_ip",
    "source_node",
    "clearance",
    "time",
)
_SUCCESS = {
    "success",
    "succeeded",
    "successful",
    "ok",
    "allow",
    "allowed",
    "true",
    "pass",
    "passed",
}
_FAILURE = {"failure", "failed", "fail", "error", "deny", "denied", "false", "blocked", "reject"}
_MAX_ORIGINAL = 16 * 1024
_SPLIT = re.compile(r"(?<!\\)\.")


def parse_assignments(items: Iterable[str], what: str) -> dict[str, str]:
    """``["actor=user.name", …]`` → ``{"actor": "user.name"}`` (``what`` names the option)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value:
            raise ConfigError(f"{what} {item!r}: expected FIELD=VALUE")
        out[name] = value
    return out


def _check_fields(names: Iterable[str]) -> None:
    for name in names:
        if name not in FIELDS and not (name.startswith("details.") and len(name) > 8):
            raise ConfigError(
                f"unknown audit field {name!r}; fields: {', '.join(FIELDS)}, details.<name>"
            )


def _path(path: str) -> list[str]:
    return [p.replace("\\.", ".") for p in _SPLIT.split(path)]


def _get(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _outcome(value: Any) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text in _SUCCESS:
        return "success"
    if text in _FAILURE:
        return "failure"
    return "unknown"


def _time(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            secs = value / 1000 if value > 1e11 else value
            when = datetime.fromtimestamp(secs, timezone.utc)
        elif isinstance(value, str):
            when = parse_iso_datetime(value.strip())
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text[:256] if text else None


def _events(
    lines: Iterable[bytes],
    mapping: dict[str, list[str]],
    constants: dict[str, str],
    report: ImportReport,
    source: str,
) -> Iterator[AuditEvent]:
    for n, raw in enumerate(lines, 1):
        report.lines = n
        if not raw.strip():
            report.skip(n, "blank")
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            report.skip(n, "not_json", raw.decode("utf-8", "replace"))
            continue
        if not isinstance(obj, dict):
            report.skip(n, "not_an_object", raw.decode("utf-8", "replace"))
            continue
        values: dict[str, Any] = dict(constants)
        for name, parts in mapping.items():
            got = _get(obj, parts)
            if got is not None:
                values[name] = got
        actor, action = _text(values.get("actor")), _text(values.get("action"))
        if actor is None or action is None:
            report.skip(n, "missing_actor_or_action", raw.decode("utf-8", "replace"))
            continue
        details: dict[str, Any] = {"source_file": source, "source_digest": report.digest, "line": n}
        if "time" in values:
            iso = _time(values["time"])
            if iso is None:
                report.skip(n, "unparsable_time", raw.decode("utf-8", "replace"))
                continue
            details["event_time"] = iso
            report.saw_time(iso)
        for name, value in values.items():
            if name.startswith("details."):
                details[name[8:]] = value
        if len(raw) <= _MAX_ORIGINAL:
            details["original"] = obj
        else:
            details["original_omitted"] = len(raw)
        try:
            level = ClearanceLevel.coerce(values.get("clearance", 1))
            event = AuditEvent(
                event_type=_text(values.get("event_type")) or "system",
                action=action,
                actor=actor,
                actor_type=_text(values.get("actor_type")) or "user",
                outcome=_outcome(values.get("outcome", "success")),
                resource=_text(values.get("resource")),
                source_ip=_text(values.get("source_ip")),
                source_node=_text(values.get("source_node")),
                clearance=level,
                details=details,
                event_id=event_id_for(report.digest, n),
            )
        except ConfigError as exc:
            report.skip(n, "invalid_value", f"{exc}")
            continue
        yield event


def import_jsonl(
    path: str | os.PathLike[str],
    store: AuditStore,
    mapping: Mapping[str, str],
    *,
    constants: Mapping[str, str] | None = None,
) -> ImportReport:
    """Import a JSON Lines file into ``store`` (use a stream of its own); see the module docs."""
    consts = dict(constants or {})
    _check_fields(mapping)
    _check_fields(consts)
    if not ({"actor", "action"} <= set(mapping) | set(consts)):
        raise ConfigError("map or set both 'actor' and 'action' (e.g. --map actor=user.name)")
    parsed = {name: _path(p) for name, p in mapping.items()}
    source = Path(path)
    digest, size = file_digest(source)
    report = ImportReport(str(source.resolve()), digest, size, "jsonl")
    options = {"mapping": dict(mapping), "constants": consts}
    try:
        with open(source, "rb") as f:
            return write_import(
                store, report, _events(f, parsed, consts, report, source.name), options=options
            )
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc}") from exc
