"""Fixtures for audit store tests: one store factory parametrised over SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.audit.postgres_store import PostgresEventStore
from logging_audit.audit.sqlite_store import SqliteEventStore
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import (
    FakeClock,
    temporary_pg_schema,
)
from logging_audit.errors import IntegrityError

StoreFactory = Callable[..., AuditStore]


@pytest.fixture
def store_location(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """Where the test's store lives: ``{"backend", "database", "key_dir", "schema"}``."""
    if backend == "sqlite":
        yield {
            "backend": backend,
            "database": tmp_path / "audit.db",
            "key_dir": None,
            "schema": None,
        }
        return
    url = request.getfixturevalue("pg_url")
    with temporary_pg_schema(url) as schema:
        yield {"backend": backend, "database": url, "key_dir": tmp_path / "keys", "schema": schema}


@pytest.fixture
def make_store(store_location: dict[str, Any], clock: FakeClock) -> Iterator[StoreFactory]:
    """Open the test's store (again and again: same database, same keys); all closed at the end."""
    opened: list[AuditStore] = []

    def make(**options: Any) -> AuditStore:
        options.setdefault("clock", clock)
        options.setdefault("node_id", "test-node")
        if store_location["backend"] == "sqlite":
            store: AuditStore = SqliteEventStore(
                store_location["database"], key_dir=store_location["key_dir"], **options
            )
        else:
            store = PostgresEventStore(
                store_location["database"],
                key_dir=store_location["key_dir"],
                schema=store_location["schema"],
                **options,
            )
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(IntegrityError):  # a store a test tampered with cannot seal
            store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> AuditStore:
    return make_store()


RawSql = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def raw_sql(store_location: dict[str, Any]) -> RawSql:
    """Run SQL on the test's database behind the store's back (``?`` placeholders); commits."""

    def run(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if store_location["backend"] == "sqlite":
            import sqlite3

            conn = sqlite3.connect(store_location["database"])
            try:
                cur = conn.execute(sql, params)
                rows = cur.fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        import psycopg
        from psycopg import sql as pgsql

        with psycopg.connect(store_location["database"], autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("SET search_path TO {}").format(
                    pgsql.Identifier(store_location["schema"])
                )
            )
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    return run
