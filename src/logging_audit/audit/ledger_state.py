"""The state row: where the stream stands (size, last leaf hash, frontier, epoch, prune start).

It is updated in the same transaction as the rows it describes, so any
appender, in any process, continues from it. It is a cache of the entries'
tail: ``verify_integrity`` checks it against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from logging_audit.audit.driver import Tx
from logging_audit.errors import FramingError, StorageError
from logging_audit.ledger import HASH_SIZE, ZERO_HASH, StreamStart, WriterState

__all__ = ["StreamState", "insert_initial_state", "load_state", "save_state"]


@dataclass(frozen=True)
class StreamState:
    """The state row, parsed."""

    size: int
    prev: bytes
    frontier: tuple[bytes, ...]
    epoch: int
    epoch_has_entries: bool
    start: StreamStart | None

    def writer_state(self) -> WriterState:
        """The ledger writer's view of it."""
        return WriterState(self.size, self.prev, self.frontier, self.epoch, self.epoch_has_entries)


def _split(blob: bytes) -> tuple[bytes, ...]:
    return tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))


def load_state(tx: Tx) -> StreamState:
    """Read the state row (inside a write transaction: it is then current)."""
    row = tx.one(
        "SELECT size, prev, frontier, epoch, epoch_has_entries, start FROM ledger_state "
        "WHERE id = 1"
    )
    if row is None:
        raise StorageError("the audit database has no ledger_state row")
    size, prev, frontier, epoch, dirty, start = row
    parsed = None
    if start is not None:
        try:
            parsed = StreamStart.from_fields(orjson.loads(start))
        except (orjson.JSONDecodeError, FramingError) as exc:
            raise StorageError(f"the ledger_state row's prune start is corrupt: {exc}") from exc
    return StreamState(
        int(size), bytes(prev), _split(bytes(frontier)), int(epoch), bool(dirty), parsed
    )


def save_state(tx: Tx, state: WriterState, start: StreamStart | None, now: str) -> None:
    """Write the state row after an append."""
    tx.execute(
        "UPDATE ledger_state SET size = ?, prev = ?, frontier = ?, epoch = ?, "
        "epoch_has_entries = ?, start = ?, updated_at = ? WHERE id = 1",
        (
            state.size,
            state.prev,
            b"".join(state.frontier),
            state.epoch,
            bool(state.epoch_has_entries),
            None if start is None else orjson.dumps(start.to_fields()).decode(),
            now,
        ),
    )


def insert_initial_state(tx: Tx, now: str) -> None:
    """Create the state row of an empty stream at epoch 0."""
    tx.execute(
        "INSERT INTO ledger_state (id, size, prev, frontier, epoch, epoch_has_entries, start, "
        "updated_at) VALUES (1, 0, ?, ?, 0, ?, NULL, ?)",
        (ZERO_HASH, b"", False, now),
    )
