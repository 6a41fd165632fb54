"""The SQLite schema of an audit store, as migrations.

Version 1: the entries table (line verbatim, leaf hash, derived index
columns), the state row, checkpoints, meta; indexes actor+time and type+time.
Version 2: actor type, source ip/node and search text columns (filled from the
entry bytes), resource+time and time indexes, the FTS5 full-text index over
the search text (external content: the store inserts into it with each row —
a trigger would flush FTS5's pending terms at every row — and triggers keep it
in step on DELETE and UPDATE) and legal holds.
Version 3: the ``entry_times`` row saying whether entry times rise with seq
(:mod:`~logging_audit.audit.time_order`), filled from the entries.
"""

from __future__ import annotations

from logging_audit.audit.driver import Driver, Tx
from logging_audit.audit.index import search_text
from logging_audit.audit.migrations import Migration, backfill_from_entries
from logging_audit.audit.time_order import CREATE_ENTRY_TIMES, init_time_order
from logging_audit.ledger import Entry

__all__ = ["SQLITE_MIGRATIONS"]

_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE ledger_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL,
        prev BLOB NOT NULL,
        frontier BLOB NOT NULL,
        epoch INTEGER NOT NULL,
        epoch_has_entries INTEGER NOT NULL,
        start TEXT,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,
        line BLOB NOT NULL,
        leaf_hash BLOB NOT NULL,
        kind TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        event_id TEXT,
        event_type TEXT,
        action TEXT,
        outcome TEXT,
        actor TEXT,
        resource TEXT,
        clearance INTEGER
    )""",
    "CREATE UNIQUE INDEX entries_event_id ON entries (event_id)",
    "CREATE INDEX entries_actor_ts ON entries (actor, ts_us)",
    "CREATE INDEX entries_type_ts ON entries (event_type, ts_us)",
    """CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tree_size INTEGER NOT NULL,
        root_hash BLOB NOT NULL,
        note TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX checkpoints_size ON checkpoints (tree_size)",
)

_V2 = (
    "ALTER TABLE entries ADD COLUMN actor_type TEXT",
    "ALTER TABLE entries ADD COLUMN source_ip TEXT",
    "ALTER TABLE entries ADD COLUMN source_node TEXT",
    "ALTER TABLE entries ADD COLUMN search_text TEXT",
    "CREATE INDEX entries_resource_ts ON entries (resource, ts_us)",
    "CREATE INDEX entries_ts ON entries (ts_us)",
    """CREATE TABLE legal_holds (
        hold_id TEXT PRIMARY KEY,
        criteria TEXT NOT NULL,
        reason TEXT NOT NULL,
        placed_by TEXT NOT NULL,
        placed_at TEXT NOT NULL,
        released_at TEXT
    )""",
)

_V2_AFTER = (
    "CREATE VIRTUAL TABLE entries_fts USING fts5("
    "search_text, content='entries', content_rowid='seq')",
    "INSERT INTO entries_fts (entries_fts) VALUES ('rebuild')",
    """CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
         INSERT INTO entries_fts (entries_fts, rowid, search_text)
         VALUES ('delete', old.seq, old.search_text);
       END""",
    """CREATE TRIGGER entries_fts_update AFTER UPDATE OF search_text ON entries BEGIN
         INSERT INTO entries_fts (entries_fts, rowid, search_text)
           VALUES ('delete', old.seq, old.search_text);
         INSERT INTO entries_fts (rowid, search_text) VALUES (new.seq, new.search_text);
       END""",
)


def _search_text(entry: Entry) -> tuple[object, ...]:
    return (search_text(entry),)


def _backfill_v2(driver: Driver, tx: Tx) -> None:
    backfill_from_entries(
        tx, ("actor_type", "source_ip", "source_node"), _search_text, ("search_text",)
    )


SQLITE_MIGRATIONS = (
    Migration(1, "entries, ledger state, checkpoints, meta", _V1),
    Migration(
        2,
        "actor type, source ip/node, FTS5 text index, resource and time indexes, legal holds",
        _V2,
        _backfill_v2,
        _V2_AFTER,
    ),
    Migration(
        3,
        "entry_times: whether entry times rise with seq, and the latest time",
        (CREATE_ENTRY_TIMES,),
        lambda driver, tx: init_time_order(tx),
    ),
)
