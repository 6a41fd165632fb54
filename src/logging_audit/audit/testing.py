"""Helpers for testing code that uses the audit store (public: use them in your own tests).

- :class:`FakeClock`: a settable, aware UTC clock to pass as ``clock=``.
- :func:`pg_test_url` / :func:`pg_unavailable_reason`: the PostgreSQL server for
  tests (``$LOGAUDIT_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``).
- :func:`temporary_pg_schema`: a uniquely named schema, dropped afterwards.
- :func:`record_in_process`: a worker that records events from another process.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "DEFAULT_PG_URL",
    "PG_URL_ENV",
    "FakeClock",
    "pg_test_url",
    "pg_unavailable_reason",
    "record_in_process",
    "temporary_pg_schema",
]

PG_URL_ENV = "LOGAUDIT_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class FakeClock:
    """A clock that stands still until moved: ``clock()`` returns the current time."""

    def __init__(self, start: datetime | None = None) -> None:
        """Start at ``start`` (default 2026-01-01T00:00:00Z)."""
        self.now = start or datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (and/or ``timedelta`` keywords); return the new time."""
        self.now += timedelta(seconds=seconds, **delta)
        return self.now


def pg_test_url() -> str:
    """The PostgreSQL URL tests use."""
    return os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL


def pg_unavailable_reason(url: str | None = None) -> str | None:
    """``None`` when the test server answers, else why it does not."""
    import psycopg

    try:
        with psycopg.connect(url or pg_test_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url or pg_test_url()} is not reachable: {exc}"
    return None


@contextmanager
def temporary_pg_schema(url: str | None = None, prefix: str = "logaudit_test") -> Iterator[str]:
    """Yield a fresh schema name (unique per process and call); drop it afterwards."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        with psycopg.connect(url or pg_test_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def record_in_process(args: dict[str, Any]) -> list[str]:
    """Record ``args["count"]`` events from this process; return their event ids.

    ``args``: ``database`` (path or URL), ``key_dir``, ``schema``, ``worker``
    (a name), ``count``, ``epoch_seconds``, ``pause`` (seconds between events),
    ``batch`` (events per call). Used by multi-process tests via multiprocessing.
    """
    from logging_audit.audit.events import AuditEvent
    from logging_audit.audit.factory import open_store

    store = open_store(
        args["database"],
        key_dir=args.get("key_dir"),
        schema=args.get("schema", "logaudit"),
        epoch_seconds=args.get("epoch_seconds", 900),
    )
    ids: list[str] = []
    try:
        batch = int(args.get("batch", 1))
        for i in range(0, int(args["count"]), batch):
            events = [
                AuditEvent(
                    "agent_action",
                    "work",
                    args["worker"],
                    actor_type="agent",
                    details={"i": i + j, "worker": args["worker"]},
                )
                for j in range(min(batch, int(args["count"]) - i))
            ]
            ids.extend(e.event.event_id for e in store.append(events))
            if args.get("pause"):
                time.sleep(float(args["pause"]))
    finally:
        store.close()
    return ids
