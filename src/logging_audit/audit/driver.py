"""The narrow interface the audit store needs from a database: transactions and rows.

Each backend (:mod:`~logging_audit.audit.sqlite_store`,
:mod:`~logging_audit.audit.postgres_store`) implements it on its own; SQL is
written with ``?`` placeholders and the backend's :class:`Dialect` supplies
what differs. Database errors are mapped to
:class:`~logging_audit.errors.StorageError` (a duplicate event id to
:class:`~logging_audit.errors.ConfigError`) inside the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

from logging_audit.audit.index import INDEX_COLUMNS
from logging_audit.audit.sql import Dialect
from logging_audit.ledger import Entry, parse_entry, unframe_line

__all__ = ["ENTRY_COLUMNS", "SEARCH_TEXT", "Driver", "EntryRow", "Tx"]

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

SEARCH_TEXT = len(ENTRY_COLUMNS)
"""Position of ``search_text`` in :attr:`EntryRow.columns` (after the entries columns)."""


class EntryRow:
    """One row to insert: the framed line, its leaf hash and every value derived from it.

    ``columns`` holds the values of :data:`ENTRY_COLUMNS` then ``search_text``
    (:func:`~logging_audit.audit.index.search_text`), ready to bind; ``fields``
    the event's caller fields (``None`` for ledger records), from which a
    backend may derive a document of its own — the ledger's ``seq``, ``ts``,
    ``epoch`` and ``prev`` may be among them.
    """

    __slots__ = ("columns", "fields")

    def __init__(self, columns: tuple[Any, ...], fields: Mapping[str, Any] | None) -> None:
        """Wrap the column values (``len(ENTRY_COLUMNS) + 1`` of them) and the fields."""
        self.columns = columns
        self.fields = fields

    @property
    def seq(self) -> int:
        """The entry's seq."""
        return cast(int, self.columns[0])

    @property
    def line(self) -> bytes:
        """The framed line."""
        return cast(bytes, self.columns[1])

    @property
    def leaf_hash(self) -> bytes:
        """RFC 6962 leaf hash of the entry bytes."""
        return cast(bytes, self.columns[2])

    @property
    def search_text(self) -> str | None:
        """The words indexed for text search (``None`` for ledger records)."""
        return cast("str | None", self.columns[SEARCH_TEXT])

    @property
    def index(self) -> dict[str, Any]:
        """The derived index columns by name (what ``derive_index`` returns)."""
        return dict(zip(INDEX_COLUMNS, self.columns[3:SEARCH_TEXT], strict=True))

    @property
    def entry(self) -> Entry:
        """The entry, parsed from the line."""
        return parse_entry(unframe_line(self.line)[0])

    def values(self) -> tuple[Any, ...]:
        """Values for :data:`ENTRY_COLUMNS`, in order."""
        return self.columns[:SEARCH_TEXT]


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

    def insert_entries(self, rows: Iterable[EntryRow]) -> None:
        """Insert entries rows (with the backend's derived extras), consuming ``rows`` once.

        ``rows`` may be a generator that makes them as they are consumed.
        """


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

    def appended(self, size: int) -> None:
        """An append committed; the stream holds ``size`` entries (statistics may be due)."""

    def close(self) -> None:
        """Close every connection."""
