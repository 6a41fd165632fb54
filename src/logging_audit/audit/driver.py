"""The narrow interface the audit store needs from a database: transactions and rows.

Each backend (:mod:`~logging_audit.audit.sqlite_store`,
:mod:`~logging_audit.audit.postgres_store`) implements it on its own; SQL is
written with ``?`` placeholders and the backend's :class:`Dialect` supplies
what differs. Database errors are mapped to
:class:`~logging_audit.errors.StorageError` (a duplicate event id to
:class:`~logging_audit.errors.ConfigError`) inside the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from logging_audit.audit.sql import Dialect
from logging_audit.ledger import Entry

__all__ = ["ENTRY_COLUMNS", "Driver", "EntryRow", "Tx"]

ENTRY_COLUMNS = (
    "seq",
    "line",
    "leaf_hash",
    "kind",
    "ts_us",
    "event_id",
    "event_type",
    "action",
    "outcome",
    "actor",
    "actor_type",
    "resource",
    "source_ip",
    "source_node",
    "clearance",
)
"""Columns every backend's entries table has (each backend adds its own extras)."""


@dataclass(frozen=True)
class EntryRow:
    """One row to insert: the framed line, its leaf hash, parsed entry and derived index."""

    seq: int
    line: bytes
    leaf_hash: bytes
    entry: Entry
    index: dict[str, Any]

    def values(self) -> tuple[Any, ...]:
        """Values for :data:`ENTRY_COLUMNS`, in order."""
        ix = self.index
        return (self.seq, self.line, self.leaf_hash, *(ix[c] for c in ENTRY_COLUMNS[3:]))


class Tx(Protocol):
    """A transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Return the first row, or ``None``."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Return every row."""

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Yield rows lazily (constant memory)."""

    def insert_entries(self, rows: Sequence[EntryRow]) -> None:
        """Insert entries rows (with the backend's derived extras)."""


class Driver(Protocol):
    """A database holding one audit stream."""

    dialect: Dialect
    backend: str
    extra_columns: tuple[str, ...]
    """Backend-specific derived columns, checked by ``verify_integrity``."""

    def write(self) -> AbstractContextManager[Tx]:
        """A transaction holding the stream's append lock (serialised across processes)."""

    def read(self) -> AbstractContextManager[Tx]:
        """A read transaction (a consistent snapshot)."""

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        """Yield rows of a query on a snapshot of its own, in constant memory."""

    def compare_extras(self, entry: Entry, stored: Sequence[Any]) -> list[str]:
        """Names of the extra columns whose stored value differs from ``entry``'s."""

    def table_exists(self, tx: Tx, name: str) -> bool:
        """Whether the stream's table ``name`` exists."""

    def check_text_index(self, tx: Tx) -> str | None:
        """Check the full-text index against its table; a reason if it is damaged."""

    def describe(self) -> str:
        """Where the database is (never a password)."""

    def close(self) -> None:
        """Close every connection."""
