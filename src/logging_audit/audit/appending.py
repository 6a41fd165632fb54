"""One append transaction: state row → ledger writer → rows, seals, checkpoints → state row.

:class:`AppendBatch` is created inside a write transaction (the stream's
append lock held). It reloads the state row — another thread or process may
have appended since — brings the key store to the state's epoch, seals the
epoch first when ``epoch_seconds`` have passed, then turns records into
framed lines. :meth:`AppendBatch.commit` inserts the rows, the checkpoints
and the new state in the same transaction. After the commit, if an epoch
ended, :func:`catch_up_keys` advances the key file (in a second locked
transaction): committing first means a crash in between leaves the key file
one epoch behind, which the next appender repairs, never ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from logging_audit.audit.driver import Driver, EntryRow, Tx
from logging_audit.audit.index import derive_index, ts_to_us
from logging_audit.audit.keys import StreamKeys
from logging_audit.audit.ledger_state import load_state, save_state
from logging_audit.errors import FormatError, IntegrityError
from logging_audit.ledger import (
    Entry,
    LedgerWriter,
    NoteVerifier,
    StreamStart,
    format_ts,
    leaf_hash,
    open_checkpoint,
    parse_entry,
    unframe_line,
)
from logging_audit.ledger.framing import MAC_SUFFIX_LEN

__all__ = ["AppendBatch", "catch_up_keys", "insert_checkpoint", "row_from_line"]


def row_from_line(line: bytes) -> EntryRow:
    """Parse a framed line just written and derive its row (from the bytes, as verify does)."""
    raw, _ = unframe_line(line)
    entry = parse_entry(raw)
    return EntryRow(entry.seq, line, leaf_hash(raw), entry, derive_index(entry))


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
        self.notes: list[str] = []
        self.sealed = False
        self._prev = self.state.prev
        self._ts: str | None = None
        self._ts_us = 0
        if seal_if_due and keys.epoch_due():
            self.seal()

    def now(self) -> str:
        """The current time as the ledger writes it."""
        return format_ts(self._clock())

    def add(self, fields: Mapping[str, Any]) -> EntryRow:
        """Append one record (JSON-native ``fields``); return its row.

        Every record of a batch carries the batch's time. The row is derived
        from ``fields`` and the ledger fields the writer adds — what parsing
        the line back would give, without parsing it; ``verify_integrity``
        derives it again from the stored bytes.
        """
        if self._ts is None:
            self._ts = self.now()
            self._ts_us = ts_to_us(self._ts)
        seq, epoch = self.writer.size, self.writer.epoch
        line = self.writer.append(fields, ts=self._ts)
        raw = line[:-MAC_SUFFIX_LEN] + b"}"
        leaf = leaf_hash(raw)
        entry = Entry(seq, self._ts, epoch, self._prev, dict(fields), raw)
        self._prev = leaf
        row = EntryRow(seq, line, leaf, entry, derive_index(entry, self._ts_us))
        self.rows.append(row)
        return row

    def _add_line(self, line: bytes) -> EntryRow:
        row = row_from_line(line)
        self._prev = row.leaf_hash
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
        if self.rows:
            self._tx.insert_entries(self.rows)
        for note in self.notes:
            insert_checkpoint(self._tx, note, now, self._keys.store.verifier)
        if self.rows or self.sealed or self.start != self.state.start:
            save_state(self._tx, self.writer.state(), self.start, now)


def catch_up_keys(driver: Driver, keys: StreamKeys) -> None:
    """After an epoch ended: advance the key file to the committed epoch (under the lock)."""
    with driver.write() as tx:
        keys.sync(load_state(tx).epoch)
