"""Fixtures for export and evidence-bundle tests: stores on SQLite and PostgreSQL, sample events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.audit.factory import open_store
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import (
    FakeClock,
    temporary_pg_schema,
)
from logging_audit.errors import Error

StoreFactory = Callable[..., AuditStore]


@pytest.fixture
def location(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """``{"database", "key_dir", "schema"}`` of the test's store."""
    if backend == "sqlite":
        yield {"database": tmp_path / "audit.db", "key_dir": None, "schema": "logaudit"}
        return
    url = request.getfixturevalue("pg_url")
    with temporary_pg_schema(url, prefix="logaudit_export") as schema:
        yield {"database": url, "key_dir": tmp_path / "keys", "schema": schema}


@pytest.fixture
def make_store(location: dict[str, Any], clock: FakeClock) -> Iterator[StoreFactory]:
    """Open the test's store (again and again: same database, same keys); all closed at the end."""
    opened: list[AuditStore] = []

    def make(**options: Any) -> AuditStore:
        options.setdefault("clock", clock)
        options.setdefault("node_id", "test-node")
        store = open_store(
            location["database"],
            key_dir=location["key_dir"],
            schema=location["schema"],
            **options,
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(Error):
            store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> AuditStore:
    return make_store()
