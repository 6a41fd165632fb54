"""JSON Lines with a field mapping → audit events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from logging_audit.audit.factory import open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.errors import ConfigError
from logging_audit.importers import import_jsonl, parse_assignments

READER = Requestor("t", 5)


def test_mapping_constants_and_skips(tmp_path: Path) -> None:
    rows = [
        {
            "@timestamp": "2024-05-01T08:00:00Z",
            "user": {"name": "alice"},
            "event": {"action": "login", "outcome": "FAILED"},
            "client": {"ip": "192.0.2.1"},
        },
        {
            "@timestamp": 1714550400123,
            "user": {"name": "bob"},
            "event": {"action": "login", "outcome": "success"},
            "log.level": "info",
        },
        {"user": {"name": "carol"}},
        [1, 2],
    ]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\nnot json\n\n")
    store = open_store(tmp_path / "imp.db", synchronous="NORMAL")
    mapping = parse_assignments(
        [
            "time=@timestamp",
            "actor=user.name",
            "action=event.action",
            "outcome=event.outcome",
            "source_ip=client.ip",
            "details.level=log\\.level",
        ],
        "--map",
    )
    report = import_jsonl(src, store, mapping, constants={"event_type": "authentication"})
    assert report.imported == 2
    assert dict(report.skipped) == {
        "missing_actor_or_action": 1,
        "not_an_object": 1,
        "not_json": 1,
        "blank": 1,
    }
    events = list(store.iter_events(EventQuery.build({"event_type": "authentication"}), READER))
    a, b = (e.event for e in events)
    assert (a.actor, a.outcome, a.source_ip) == ("alice", "failure", "192.0.2.1")
    assert a.details["event_time"] == "2024-05-01T08:00:00.000000Z"
    assert b.details["event_time"] == "2024-05-01T08:00:00.123000Z"
    assert b.details["level"] == "info"
    assert b.details["original"]["user"] == {"name": "bob"}
    assert a.details["source_digest"] == report.digest
    store.close()


def test_mapping_errors(tmp_path: Path) -> None:
    store = open_store(tmp_path / "imp.db", synchronous="NORMAL")
    src = tmp_path / "e.jsonl"
    src.write_text("{}\n")
    with pytest.raises(ConfigError, match="actor"):
        import_jsonl(src, store, {"actor": "u"})
    with pytest.raises(ConfigError, match="unknown audit field"):
        import_jsonl(src, store, {"actor": "u", "action": "a", "colour": "c"})
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_assignments(["actor"], "--map")
    store.close()
