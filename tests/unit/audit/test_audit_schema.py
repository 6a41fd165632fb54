"""Schema versions: a database written by an older release is upgraded; a newer one is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from logging_audit.audit.appending import row_from_line
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.index import json_document
from logging_audit.audit.keys import KeyConfig, StreamKeys
from logging_audit.audit.ledger_state import insert_initial_state, save_state
from logging_audit.audit.migrations import apply_migrations, schema_version
from logging_audit.audit.postgres_schema import POSTGRES_MIGRATIONS
from logging_audit.audit.postgres_store import PostgresDriver
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.sqlite_schema import SQLITE_MIGRATIONS
from logging_audit.audit.sqlite_store import SqliteDriver, default_key_dir
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import StorageError
from logging_audit.ledger import LedgerWriter, format_ts
from logging_audit.persistence.models import ClearanceLevel

V1_COLUMNS = (
    "seq, line, leaf_hash, kind, ts_us, event_id, event_type, action, outcome, actor, "
    "resource, clearance"
)
ORIGIN = "logaudit/test-node/audit"


def _driver(location: dict[str, Any]) -> tuple[Any, Any, Path]:
    if location["backend"] == "sqlite":
        path = location["database"]
        return SqliteDriver(path), SQLITE_MIGRATIONS, default_key_dir(path)
    driver = PostgresDriver(location["database"], schema=location["schema"])
    return driver, POSTGRES_MIGRATIONS, location["key_dir"]


def _write_v1_database(location: dict[str, Any], clock: FakeClock) -> list[AuditEvent]:
    """What release 1 wrote: schema 1 and its rows (no actor type, ip, node, search text)."""
    driver, migrations, key_dir = _driver(location)
    keys = StreamKeys.create(KeyConfig(key_dir), ORIGIN, clock)
    writer = LedgerWriter(ORIGIN, keys.store.epoch_key, clock=lambda: format_ts(clock()))
    events = [
        AuditEvent(
            "authentication",
            "login",
            f"user{i}",
            source_ip=f"10.0.0.{i}",
            source_node="old-node",
            clearance=ClearanceLevel.LEVEL_2,
            details={"note": f"legacy entry number{i}"},
        )
        for i in range(5)
    ]
    rows = [row_from_line(writer.append(e.to_fields())) for e in events]
    rows.append(row_from_line(writer.seal() or b""))
    pg = location["backend"] == "postgres"
    with driver.write() as tx:
        assert apply_migrations(driver, tx, migrations, target=1) == 1
        for key, value in (("origin", ORIGIN), ("verifier_key", keys.store.verifier_key)):
            tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        insert_initial_state(tx, format_ts(clock()))
        for r in rows:
            ix = r.index
            values = [r.seq, r.line, r.leaf_hash, ix["kind"], ix["ts_us"], ix["event_id"],
                      ix["event_type"], ix["action"], ix["outcome"], ix["actor"], ix["resource"],
                      ix["clearance"]]  # fmt: skip
            cols, marks = V1_COLUMNS, ", ".join("?" * len(values))
            if pg:
                body = None if r.fields is None else json_document(dict(r.fields))
                values.append(None if body is None else orjson.dumps(body).decode())
                cols, marks = cols + ", body", marks + ", ?::jsonb"
            tx.execute(f"INSERT INTO entries ({cols}) VALUES ({marks})", values)  # noqa: S608 (test SQL)
        save_state(tx, writer.state(), None, format_ts(clock()))
        assert schema_version(tx) == 1
    driver.close()
    keys.sync(writer.epoch)  # release 1 advanced its key file after the seal, as we do
    return events


def test_upgrade_from_version_1(
    store_location: dict[str, Any], clock: FakeClock, make_store: Any
) -> None:
    events = _write_v1_database(store_location, clock)
    store = make_store()  # opens, migrates to the latest version, fills columns from the bytes
    latest = (SQLITE_MIGRATIONS if store.backend == "sqlite" else POSTGRES_MIGRATIONS)[-1].version
    with store.driver.read() as tx:
        assert schema_version(tx) == latest
        versions = tx.all("SELECT version, description FROM schema_version ORDER BY version")
    assert [v for v, _ in versions] == list(range(1, latest + 1))
    top = Requestor("auditor", ClearanceLevel.LEVEL_5)
    by_node = store.search(EventQuery.build({"source_node": "old-node"}), top).events
    assert [e.event for e in by_node] == events
    assert len(store.search(EventQuery.build({"source_ip": "10.0.0.3"}), top).events) == 1
    assert len(store.search(EventQuery.build({"text": "legacy number2"}), top).events) == 1
    report = store.verify_integrity()
    assert report.verified, report.to_dict()
    store.append([AuditEvent("system", "startup", "system", actor_type="system")])
    assert store.verify_integrity().verified


def test_a_newer_schema_is_refused(store_location: dict[str, Any], make_store: Any) -> None:
    make_store().close()
    driver, _, _ = _driver(store_location)
    with driver.write() as tx:
        tx.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'x', 'y')"
        )
    driver.close()
    with pytest.raises(StorageError, match="schema version 99"):
        make_store()
