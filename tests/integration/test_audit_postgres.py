"""PostgreSQL specifics: a role that can only INSERT and SELECT, COPY batches, the indexes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.factory import open_store
from logging_audit.audit.postgres_store import PostgresEventStore, grant_appender_role
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import pg_test_url, pg_unavailable_reason, temporary_pg_schema
from logging_audit.errors import ConfigError, StorageError
from logging_audit.persistence.models import ClearanceLevel

pytestmark = pytest.mark.postgres
TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


@pytest.fixture(scope="module")
def url() -> str:
    reason = pg_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return pg_test_url()


@pytest.fixture
def schema(url: str) -> Iterator[str]:
    with temporary_pg_schema(url) as name:
        yield name


@pytest.fixture
def app_role(url: str) -> Iterator[str]:
    role = f"logaudit_app_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    yield role
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _as_role(url: str, role: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-c%20role%3D{role}"


def test_appender_role_can_only_insert_and_select(
    url: str, schema: str, app_role: str, tmp_path: Path
) -> None:
    owner = PostgresEventStore(url, key_dir=tmp_path, schema=schema)
    owner.append([AuditEvent("system", "startup", "system", actor_type="system")])
    owner.close()
    grant_appender_role(url, app_role, schema=schema)
    app = PostgresEventStore(_as_role(url, app_role), key_dir=tmp_path, schema=schema)
    try:
        app.append([AuditEvent("authentication", "login", f"u{i}") for i in range(10)])
        assert app.count(EventQuery.build({"action": "login"}), TOP) == 10
        app.checkpoint()
        with app.driver.write() as tx:
            assert tx.one("SELECT current_user")[0] == app_role  # type: ignore[index]
        for statement in (
            "UPDATE entries SET actor = 'x' WHERE seq = 1",
            "DELETE FROM entries WHERE seq = 1",
            "UPDATE checkpoints SET note = 'x'",
            "DELETE FROM checkpoints",
            "TRUNCATE entries",
        ):
            with pytest.raises(StorageError, match="may not do this"), app.driver.write() as tx:
                tx.execute(statement)
        with pytest.raises(StorageError, match="may not do this"):  # retention needs the owner
            app.prune(app.now())
        assert app.verify_integrity().verified
    finally:
        app.close()


def test_batches_use_copy_and_duplicate_ids_roll_back(
    url: str, schema: str, tmp_path: Path
) -> None:
    store = PostgresEventStore(url, key_dir=tmp_path, schema=schema)
    try:
        events = [AuditEvent("data_access", "read", "bulk", details={"i": i}) for i in range(500)]
        store.append(events)
        assert store.count(EventQuery.build({"actor": "bulk"}), TOP) == 500
        with pytest.raises(ConfigError, match="already recorded"):
            store.append([AuditEvent("x", "y", "z"), AuditEvent("x", "y", "z2"), events[3]])
        assert store.count(EventQuery.build({"actor": ["z", "z2"]}), TOP) == 0
        assert store.verify_integrity().verified
    finally:
        store.close()


def test_indexes_exist(url: str, schema: str, tmp_path: Path) -> None:
    PostgresEventStore(url, key_dir=tmp_path, schema=schema).close()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (schema,)
        ).fetchall()
    defs = dict(rows)
    assert "USING brin (ts_us)" in defs["entries_ts_brin"]
    assert "USING gin (details jsonb_path_ops)" in defs["entries_details"]
    assert "USING gin (tsv)" in defs["entries_tsv"]
    for name in ("entries_actor_ts", "entries_type_ts", "entries_resource_ts", "entries_event_id"):
        assert name in defs


def test_bad_schema_names_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schema must match"):
        PostgresEventStore(url, key_dir=tmp_path, schema='x"; DROP SCHEMA public; --')
    with pytest.raises(ConfigError, match="needs key_dir"):
        open_store(url)


def test_statistics_follow_the_stream(
    url: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging_audit.audit.postgres_store as pg

    monkeypatch.setattr(pg, "ANALYZE_MIN_ROWS", 50)
    store = PostgresEventStore(url, schema=schema, key_dir=tmp_path / "keys")
    store.append([AuditEvent("system", "startup", "svc", actor_type="system")])

    def analysed() -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = 'entries'",
                (schema,),
            ).fetchone()
        return 0 if row is None else int(row[0])

    assert analysed() == 0  # one entry: not worth statistics yet
    store.append([AuditEvent("data_access", "read", f"user{i}") for i in range(60)])
    store.close()  # waits for the background ANALYZE
    assert analysed() > 0
