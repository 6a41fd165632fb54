"""The PostgreSQL schema of an audit store, as migrations.

Version 1: entries (``line bytea`` verbatim, leaf hash, derived columns and the
``body jsonb`` document), state row, checkpoints, meta; indexes actor+time,
type+time and a BRIN index on time. Version 2: actor type and source ip/node
(filled from the entry bytes), the generated ``tsv`` full-text column with a
GIN index, a GIN (jsonb_path_ops) index on ``body``, resource+time, legal holds.
Version 3 (ADR 0037): ``details jsonb`` (the event's details only, GIN
``jsonb_path_ops``) replaces ``body`` (every field, most of them columns
already); ``search_text`` holds the event's lexemes
(:func:`~logging_audit.audit.lexemes.lexemes`) and ``tsv`` is built from them
with ``array_to_tsvector`` instead of running the text parser — recording
costs the server about a third less.

Text columns use the "C" collation so that sorting and cursor comparisons
follow code points, exactly as in SQLite.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from logging_audit.audit.driver import Driver, Tx
from logging_audit.audit.index import json_details, search_text
from logging_audit.audit.lexemes import lexemes
from logging_audit.audit.migrations import Migration, backfill_from_entries
from logging_audit.audit.time_order import CREATE_ENTRY_TIMES, init_time_order
from logging_audit.ledger import Entry

__all__ = ["POSTGRES_MIGRATIONS"]

_T = 'text COLLATE "C"'

_V1 = (
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE ledger_state (
        id integer PRIMARY KEY CHECK (id = 1),
        size bigint NOT NULL,
        prev bytea NOT NULL,
        frontier bytea NOT NULL,
        epoch bigint NOT NULL,
        epoch_has_entries boolean NOT NULL,
        start text,
        updated_at text NOT NULL
    )""",
    f"""CREATE TABLE entries (
        seq bigint PRIMARY KEY,
        line bytea NOT NULL,
        leaf_hash bytea NOT NULL,
        kind {_T} NOT NULL,
        ts_us bigint NOT NULL,
        event_id {_T},
        event_type {_T},
        action {_T},
        outcome {_T},
        actor {_T},
        resource {_T},
        clearance smallint,
        body jsonb
    )""",
    "CREATE UNIQUE INDEX entries_event_id ON entries (event_id)",
    "CREATE INDEX entries_actor_ts ON entries (actor, ts_us)",
    "CREATE INDEX entries_type_ts ON entries (event_type, ts_us)",
    "CREATE INDEX entries_ts_brin ON entries USING brin (ts_us)",
    """CREATE TABLE checkpoints (
        id bigserial PRIMARY KEY,
        tree_size bigint NOT NULL,
        root_hash bytea NOT NULL,
        note text NOT NULL,
        created_at text NOT NULL
    )""",
    "CREATE INDEX checkpoints_size ON checkpoints (tree_size)",
)

_V2 = (
    f"ALTER TABLE entries ADD COLUMN actor_type {_T}",
    f"ALTER TABLE entries ADD COLUMN source_ip {_T}",
    f"ALTER TABLE entries ADD COLUMN source_node {_T}",
    "ALTER TABLE entries ADD COLUMN search_text text",
)

_V2_AFTER = (
    "ALTER TABLE entries ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple'::regconfig, coalesce(search_text, ''))) STORED",
    "CREATE INDEX entries_tsv ON entries USING gin (tsv)",
    "CREATE INDEX entries_body ON entries USING gin (body jsonb_path_ops)",
    "CREATE INDEX entries_resource_ts ON entries (resource, ts_us)",
    """CREATE TABLE legal_holds (
        hold_id text PRIMARY KEY,
        criteria text NOT NULL,
        reason text NOT NULL,
        placed_by text NOT NULL,
        placed_at text NOT NULL,
        released_at text
    )""",
)


_V3 = (
    "ALTER TABLE entries ADD COLUMN details jsonb",
    "DROP INDEX entries_body",
    "ALTER TABLE entries DROP COLUMN tsv",
)

_V3_AFTER = (
    "ALTER TABLE entries DROP COLUMN body",
    "ALTER TABLE entries ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(array_to_tsvector(string_to_array(coalesce(search_text, ''), ' '))) STORED",
    "CREATE INDEX entries_tsv ON entries USING gin (tsv)",
    "CREATE INDEX entries_details ON entries USING gin (details jsonb_path_ops)",
)


def _search_text(entry: Entry) -> tuple[object, ...]:
    return (search_text(entry),)


def _lexemes_and_details(entry: Entry) -> tuple[object, ...]:
    details = json_details(entry)
    return (lexemes(search_text(entry)), None if details is None else Jsonb(details))


def _backfill_v2(driver: Driver, tx: Tx) -> None:
    backfill_from_entries(
        tx, ("actor_type", "source_ip", "source_node"), _search_text, ("search_text",)
    )


def _backfill_v3(driver: Driver, tx: Tx) -> None:
    backfill_from_entries(tx, (), _lexemes_and_details, ("search_text", "details"))


POSTGRES_MIGRATIONS = (
    Migration(1, "entries, ledger state, checkpoints, meta; BRIN on time", _V1),
    Migration(
        2,
        "actor type, source ip/node, tsvector + GIN, GIN on body, resource index, legal holds",
        _V2,
        _backfill_v2,
        _V2_AFTER,
    ),
    Migration(
        3,
        "details jsonb + GIN instead of body; tsv from stored lexemes (array_to_tsvector)",
        _V3,
        _backfill_v3,
        _V3_AFTER,
    ),
    Migration(
        4,
        "entry_times: whether entry times rise with seq, and the latest time",
        (CREATE_ENTRY_TIMES,),
        lambda driver, tx: init_time_order(tx),
    ),
)
