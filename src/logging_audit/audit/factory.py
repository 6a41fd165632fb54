"""Opening an audit store from a database URL or a file path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError

__all__ = ["is_postgres_url", "open_store", "sqlite_path"]


def is_postgres_url(database: str | os.PathLike[str]) -> bool:
    """True for ``postgresql://…`` and ``postgres://…`` URLs."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def sqlite_path(database: str | os.PathLike[str]) -> Path:
    """The file of a SQLite database given as a path or a ``sqlite:///path`` URL."""
    if isinstance(database, str) and database.startswith("sqlite:"):
        parts = urlsplit(database)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(f"not a sqlite URL with a file path: {database!r}")
        # as in SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db
        path = unquote(parts.path)
        return Path(path[1:] if path.startswith("/") else path)
    return Path(database)


def open_store(
    database: str | os.PathLike[str],
    *,
    key_dir: str | os.PathLike[str] | None = None,
    schema: str = "logaudit",
    **options: Any,
) -> AuditStore:
    """Open the audit store at ``database``: a PostgreSQL URL, a ``sqlite:///`` URL or a path.

    For SQLite ``key_dir`` defaults to ``<database>.keys``; PostgreSQL needs it.
    Other keyword arguments go to the backend's store class.
    """
    if is_postgres_url(database):
        from logging_audit.audit.postgres_store import PostgresEventStore

        if key_dir is None:
            raise ConfigError(
                "a PostgreSQL audit store needs key_dir: the directory of its key files"
            )
        return PostgresEventStore(str(database), key_dir=key_dir, schema=schema, **options)
    from logging_audit.audit.sqlite_store import SqliteEventStore

    return SqliteEventStore(sqlite_path(database), key_dir=key_dir, **options)
