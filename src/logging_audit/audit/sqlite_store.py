"""The embedded backend: an audit stream in one SQLite database (the default).

WAL mode; ``synchronous=FULL`` by default so that a returned ``append`` is on
disk; a 64 MiB page cache on the writing connection (appends touch random pages
of the actor and resource indexes). Appends take ``BEGIN IMMEDIATE`` — SQLite's
own write lock — so any number of threads and processes can record into one
database without
interleaving; within a process one connection is shared under a lock. Long
reads (exports, verification) use a read-only connection of their own, so
they see one snapshot and never block writers.

Keys live beside the database: ``<database>.keys/`` (see :mod:`~logging_audit.audit.keys`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from logging_audit.audit.driver import ENTRY_COLUMNS, EntryRow
from logging_audit.audit.index import search_text
from logging_audit.audit.keys import KeyConfig
from logging_audit.audit.limits import DEFAULT_LIMITS, Limits
from logging_audit.audit.sql import SQLITE, Dialect
from logging_audit.audit.sqlite_schema import SQLITE_MIGRATIONS
from logging_audit.audit.store import AuditStore
from logging_audit.crypto import DEFAULT_EPOCH_SECONDS
from logging_audit.errors import ConfigError, StorageError
from logging_audit.ledger import Entry

__all__ = ["SqliteDriver", "SqliteEventStore", "default_key_dir"]

Synchronous = Literal["FULL", "NORMAL"]

CACHE_KIB = 64 * 1024
"""Page cache of the writing connection, in KiB (SQLite's default is 2 MiB)."""

_INSERT = (
    f"INSERT INTO entries ({', '.join(ENTRY_COLUMNS)}, search_text) "  # noqa: S608 (names only; values bound)
    f"VALUES ({', '.join('?' * (len(ENTRY_COLUMNS) + 1))})"
)


_INSERT_FTS = "INSERT INTO entries_fts (rowid, search_text) VALUES (?, ?)"
_INSERT_FTS_RANGE = (
    "INSERT INTO entries_fts (rowid, search_text) "
    "SELECT seq, search_text FROM entries WHERE seq >= ? AND seq <= ? ORDER BY seq"
)


def default_key_dir(path: str | os.PathLike[str]) -> Path:
    """Where a SQLite store keeps its keys by default: ``<database path>.keys``."""
    p = Path(path)
    return p.with_name(p.name + ".keys")


def _map_error(exc: sqlite3.Error, where: str) -> Exception:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError) and "event_id" in text:
        return ConfigError("an event with this event_id was already recorded")
    return StorageError(f"{where}: {text}")


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(sql, tuple(params)).rowcount
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        try:
            row = self._conn.execute(sql, tuple(params)).fetchone()
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._conn.execute(sql, tuple(params))]
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            cur = self._conn.execute(sql, tuple(params))
            while rows := cur.fetchmany(1000):
                yield from rows
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc

    def insert_entries(self, rows: Iterable[EntryRow]) -> None:
        text: list[tuple[int, str | None]] = []  # (rowid, search text) for the FTS5 index
        add = text.append

        def columns() -> Iterator[tuple[Any, ...]]:
            for row in rows:
                values = row.columns
                add((values[0], values[-1]))
                yield values

        try:
            self._conn.executemany(_INSERT, columns())
            if text and _contiguous(text):
                # every seq of [first, last] was just inserted: index them straight from
                # the table, without handing each text through Python again
                self._conn.execute(_INSERT_FTS_RANGE, (text[0][0], text[-1][0]))
            else:
                self._conn.executemany(_INSERT_FTS, text)
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc


def _contiguous(rows: list[tuple[int, str | None]]) -> bool:
    """Whether the seqs of ``rows`` are ascending and consecutive."""
    first = rows[0][0]
    return rows[-1][0] - first == len(rows) - 1 and all(
        seq == first + i for i, (seq, _) in enumerate(rows)
    )


class SqliteDriver:
    """:class:`~logging_audit.audit.driver.Driver` for one SQLite database file."""

    dialect: Dialect = SQLITE
    backend: str = "sqlite"
    extra_columns: tuple[str, ...] = ("search_text",)

    def __init__(self, path: str | os.PathLike[str], *, synchronous: Synchronous = "FULL") -> None:
        """Open (creating if needed) the database at ``path``."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = Path(path)
        if str(path) == ":memory:":
            raise ConfigError("an audit store needs a database file (its keys live beside it)")
        self._lock = threading.RLock()
        self._where = f"SQLite database {self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=60
            )
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA busy_timeout = 60000")
            # Appends touch every index (random pages of actor and resource): keep
            # up to 64 MiB of pages cached (allocated as used) instead of 2 MiB.
            self._conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open {self._where}: {exc}") from exc

    def describe(self) -> str:
        return self._where

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[_SqliteTx]:
        with self._lock:
            try:
                self._conn.execute(begin)
            except sqlite3.Error as exc:
                raise _map_error(exc, self._where) from exc
            try:
                yield _SqliteTx(self._conn, self._where)
            except BaseException:
                # the error may have ended the transaction already
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _map_error(exc, self._where) from exc

    def write(self) -> Any:
        """``BEGIN IMMEDIATE``: SQLite's write lock, across threads and processes."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> Any:
        """A deferred transaction: one WAL snapshot."""
        return self._transaction("BEGIN")

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` from a read-only connection of their own (one snapshot)."""
        try:
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc
        try:
            conn.execute("BEGIN")
            cur = conn.execute(sql, tuple(params))
            while rows := cur.fetchmany(batch_size):
                yield from rows
        except sqlite3.Error as exc:
            raise _map_error(exc, self._where) from exc
        finally:
            conn.close()

    def compare_extras(self, entry: Entry, stored: Sequence[Any]) -> list[str]:
        return ["search_text"] if stored[0] != search_text(entry) else []

    def table_exists(self, tx: Any, name: str) -> bool:
        return tx.one("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)) is not None

    def check_text_index(self, tx: Any) -> str | None:
        try:
            tx.execute("INSERT INTO entries_fts (entries_fts, rank) VALUES ('integrity-check', 1)")
        except StorageError as exc:
            return f"the FTS5 index does not match the entries table ({exc})"
        return None

    def appended(self, size: int) -> None:
        """Nothing to do: SQLite's planner picks the indexes without statistics."""

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteEventStore(AuditStore):
    """An :class:`~logging_audit.audit.store.AuditStore` in a SQLite file.

    ``key_dir`` defaults to ``<path>.keys`` beside the database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key_dir: str | os.PathLike[str] | None = None,
        origin: str | None = None,
        epoch_seconds: int = DEFAULT_EPOCH_SECONDS,
        keep_verifier: bool = True,
        verifier_out: str | os.PathLike[str] | None = None,
        secret_key: bytes | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] | None = None,
        node_id: str | None = None,
        synchronous: Synchronous = "FULL",
    ) -> None:
        """Open or create the store at ``path`` (see :class:`AuditStore` for the rest)."""
        keys = KeyConfig(
            key_dir=Path(key_dir) if key_dir is not None else default_key_dir(path),
            epoch_seconds=epoch_seconds,
            keep_verifier=keep_verifier,
            verifier_out=None if verifier_out is None else Path(verifier_out),
            secret_key=secret_key,
        )
        super().__init__(
            SqliteDriver(path, synchronous=synchronous),
            SQLITE_MIGRATIONS,
            keys,
            origin=origin,
            limits=limits,
            clock=clock,
            node_id=node_id,
        )
