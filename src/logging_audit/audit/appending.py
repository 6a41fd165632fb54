"""One append transaction: state row → ledger writer → rows, seals, checkpoints → state row.

:class:`AppendBatch` is created inside a write transaction (the stream's
append lock held). It reloads the state row — another thread or process may
have appended since — brings the key store to the state's epoch, seals the
epoch first when ``epoch_seconds`` have passed, then turns records into
framed lines and their rows — audit events in one pass, each row derived from
the validated event (:meth:`AppendBatch.add_events`), a large batch streamed
to the database chunk by chunk (:meth:`AppendBatch.insert_events`).
:meth:`AppendBatch.commit` inserts the rows not inserted yet, the checkpoints
and the new state in the same transaction. After the commit, if an epoch
ended, :func:`catch_up_keys` advances the key file (in a second locked
transaction): committing first means a crash in between leaves the key file
one epoch behind, which the next appender repairs, never ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from logging_audit.audit.driver import Driver, EntryRow, Tx
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.index import (
    INDEX_COLUMNS,
    KIND_EVENT,
    derive_index,
    index_text,
    search_text,
    text_of,
    ts_to_us,
)
from logging_audit.audit.keys import StreamKeys
from logging_audit.audit.ledger_state import load_state, save_state
from logging_audit.audit.time_order import note_times
from logging_audit.errors import FormatError, IntegrityError
from logging_audit.ledger import (
    LedgerWriter,
    NoteVerifier,
    StreamStart,
    format_ts,
    leaf_hash,
    open_checkpoint,
    parse_entry,
    unframe_line,
)

__all__ = ["AppendBatch", "catch_up_keys", "insert_checkpoint", "row_from_line"]

STREAM_CHUNK = 256
"""Events per chunk when :meth:`AppendBatch.insert_events` streams a large batch."""

_NUL_ESCAPE = b"\\u0000"
"""How the entry bytes spell U+0000 (orjson escapes it; a literal NUL never appears)."""


def row_from_line(line: bytes) -> EntryRow:
    """Parse a framed line just written and derive its row (from the bytes, as verify does)."""
    raw, _ = unframe_line(line)
    entry = parse_entry(raw)
    ix = derive_index(entry)
    text = search_text(entry)
    columns = (entry.seq, line, leaf_hash(raw), *(ix[c] for c in INDEX_COLUMNS), text)
    return EntryRow(columns, None if text is None else entry.fields)


def insert_checkpoint(tx: Tx, note: str, now: str, verifier: NoteVerifier) -> None:
    """Keep a signed checkpoint note in the checkpoints table (checked against ``verifier``)."""
    cp = open_checkpoint(note, [verifier])
    tx.execute(
        "INSERT INTO checkpoints (tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?)",
        (cp.size, cp.root_hash, note, now),
    )


class AppendBatch:
    """The records of one transaction, on top of the stream's current state."""

    def __init__(
        self,
        tx: Tx,
        keys: StreamKeys,
        clock: Callable[[], datetime],
        *,
        seal_if_due: bool = True,
    ) -> None:
        """Load the state and key, and seal first if the epoch is due."""
        self._tx = tx
        self._keys = keys
        self._clock = clock
        self.state = load_state(tx)
        keys.sync(self.state.epoch)
        self.start: StreamStart | None = self.state.start
        try:
            self.writer = LedgerWriter(
                keys.store.origin,
                keys.store.epoch_key,
                state=self.state.writer_state(),
                clock=self.now,
            )
        except FormatError as exc:
            raise IntegrityError(
                f"the ledger_state row is inconsistent ({exc}): nothing can be appended; "
                "run verify_integrity()"
            ) from exc
        self.rows: list[EntryRow] = []
        self._inserted = 0  # rows[:_inserted] are in the table already
        self.notes: list[str] = []
        self.sealed = False
        self._ts: str | None = None
        self._ts_us = 0
        if seal_if_due and keys.epoch_due():
            self.seal()

    def now(self) -> str:
        """The current time as the ledger writes it."""
        return format_ts(self._clock())

    @property
    def ts(self) -> str:
        """The time every record of this batch carries."""
        return self._batch_time()[0]

    def _batch_time(self) -> tuple[str, int]:
        if self._ts is None:
            self._ts = self.now()
            self._ts_us = ts_to_us(self._ts)
        return self._ts, self._ts_us

    def add_events(self, events: Sequence[AuditEvent]) -> list[EntryRow]:
        """Append validated events as entries; return their rows, in order.

        Every record of a batch carries the batch's time. Each row is derived
        once, from the event (already validated and normalised: its attributes
        are exactly the entry's fields) and the ledger fields of the line — what
        :func:`~logging_audit.audit.index.derive_index` and
        :func:`~logging_audit.audit.index.search_text` give for the stored bytes,
        which ``verify_integrity`` recomputes.
        """
        if not events:
            return []
        ts, ts_us = self._batch_time()
        seq = self.writer.size
        records = [(ts, ev.to_fields()) for ev in events]
        leaves: list[bytes] = []
        lines = self.writer.append_owned_batch(records, leaves_out=leaves).split(b"\n")
        rows: list[EntryRow] = []
        add = rows.append
        for line, leaf, ev, (_, fields) in zip(lines, leaves, events, records, strict=False):
            # ``lines`` ends with the empty string after the last newline
            # event_search_text(fields), from the event's attributes (the same values)
            texts = [ev.event_type, ev.action, ev.actor, ev.outcome]
            if ev.resource is not None:
                texts.append(ev.resource)
            if ev.source_ip is not None:
                texts.append(ev.source_ip)
            if ev.source_node is not None:
                texts.append(ev.source_node)
            text = text_of(texts, ev.details)
            if _NUL_ESCAPE in line:  # a NUL somewhere: index columns hold it as U+FFFD
                columns = (
                    seq, line, leaf, KIND_EVENT, ts_us,
                    *[None if v is None else index_text(v) for v in (
                        ev.event_id, ev.event_type, ev.action, ev.outcome, ev.actor,
                        ev.actor_type, ev.resource, ev.source_ip, ev.source_node)],
                    int(ev.clearance), text,
                )  # fmt: skip
            else:
                columns = (
                    seq, line, leaf, KIND_EVENT, ts_us,
                    ev.event_id, ev.event_type, ev.action, ev.outcome, ev.actor,
                    ev.actor_type, ev.resource, ev.source_ip, ev.source_node,
                    int(ev.clearance), text,
                )  # fmt: skip
            add(EntryRow(columns, fields))
            seq += 1
        self.rows.extend(rows)
        return rows

    def insert_events(self, events: Sequence[AuditEvent]) -> list[EntryRow]:
        """:meth:`add_events`, inserting the rows as they are made; return the event rows.

        A large batch is made and handed to the database in chunks of
        :data:`STREAM_CHUNK` events through one insert (one ``COPY`` in
        PostgreSQL), so that the database works on one chunk while the next
        is made. Rows made before (a seal) go in first.
        """
        if len(events) <= STREAM_CHUNK:
            return self.add_events(events)
        made: list[EntryRow] = []

        def stream() -> Iterator[EntryRow]:
            yield from self.rows[self._inserted :]
            for i in range(0, len(events), STREAM_CHUNK):
                rows = self.add_events(events[i : i + STREAM_CHUNK])
                made.extend(rows)
                yield from rows

        self._tx.insert_entries(stream())
        self._inserted = len(self.rows)
        return made

    def add(self, fields: Mapping[str, Any]) -> EntryRow:
        """Append one record (JSON-native ``fields``, any shape); return its row.

        The row is derived from the line's bytes, as ``verify_integrity`` does;
        :meth:`add_events` is the fast path for audit events.
        """
        ts, _ = self._batch_time()
        return self._add_line(self.writer.append(fields, ts=ts))

    def _add_line(self, line: bytes) -> EntryRow:
        row = row_from_line(line)
        self.rows.append(row)
        return row

    def seal(self) -> None:
        """End the epoch: a seal entry (if it has entries), a checkpoint, the next key."""
        line = self.writer.seal()
        self.sealed = True
        if line is not None:
            self._add_line(line)
            self.checkpoint()

    def checkpoint(self) -> str:
        """Sign a checkpoint of the tree as it stands in this batch."""
        note = self.writer.checkpoint(self._keys.store.signer)
        self.notes.append(note)
        return note

    def prune(self, start: StreamStart) -> EntryRow:
        """Append the prune record confirming ``start``; the state row will carry it."""
        row = self._add_line(self.writer.prune(start))
        self.start = start
        return row

    def commit(self) -> None:
        """Insert the rows and checkpoints and save the state (same transaction)."""
        now = self.now()
        if len(self.rows) > self._inserted:
            self._tx.insert_entries(self.rows[self._inserted :])
            self._inserted = len(self.rows)
        note_times(self._tx, [r.columns[4] for r in self.rows])  # ts_us, in seq order
        for note in self.notes:
            insert_checkpoint(self._tx, note, now, self._keys.store.verifier)
        if self.rows or self.sealed or self.start != self.state.start:
            save_state(self._tx, self.writer.state(), self.start, now)


def catch_up_keys(driver: Driver, keys: StreamKeys) -> None:
    """After an epoch ended: advance the key file to the committed epoch (under the lock)."""
    with driver.write() as tx:
        keys.sync(load_state(tx).epoch)
