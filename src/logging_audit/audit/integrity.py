"""``verify_integrity``: the stored stream through the ledger verifier, plus every derived column.

Two independent checks, one pass over the entries in seq order (constant memory):

1. The framed lines go through :class:`~logging_audit.ledger.StreamVerifier`
   with every stored checkpoint note: an UPDATE of an entry's bytes is a
   ``modified_entry``, a DELETE a ``deleted_entries``, a row inserted by hand an
   ``inserted_entry`` or a MAC failure, a replaced checkpoint row a
   ``forged_checkpoint``/``unknown_signer``/``checkpoint_mismatch``.
2. Every column derived from the bytes (kind, time, event id, type, action,
   outcome, actor, actor type, resource, source ip/node, clearance, leaf hash
   and the backend's text/JSON columns) is recomputed and compared: an index
   column changed without the bytes is named by seq and column. So are the
   checkpoints table's size/root columns, the state row, and the full-text index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logging_audit.audit.driver import ENTRY_COLUMNS
from logging_audit.audit.index import derive_index
from logging_audit.audit.ledger_state import load_state
from logging_audit.audit.records import IndexFailure, IntegrityReport
from logging_audit.audit.time_order import OrderCheck, load_time_order
from logging_audit.errors import FramingError, NoteError
from logging_audit.ledger import (
    Frontier,
    StreamVerifier,
    leaf_hash,
    parse_checkpoint,
    parse_entry,
    unframe_line,
    verify_note,
)

if TYPE_CHECKING:
    from logging_audit.audit.store import AuditStore

__all__ = ["verify_store"]

_SEGMENT = "entries"


def verify_store(
    store: AuditStore, verifier_path: str | None = None, trusted_checkpoint: str | None = None
) -> IntegrityReport:
    """Verify the whole stored stream of ``store``; see the module docstring.

    ``verifier_path``: a verifier file (K(0) and public key) to check every
    epoch's MACs; without it the best material at hand is used and the report's
    ``verifier`` says which. ``trusted_checkpoint``: a signed note obtained
    elsewhere (a witness) that the stream must be consistent with.
    """
    driver = store.driver
    material, source = store.verifier_material(verifier_path)
    with driver.read() as tx:
        state = load_state(tx)
        cp_rows = tx.all("SELECT id, tree_size, root_hash, note FROM checkpoints ORDER BY id")
        time_order = load_time_order(tx)
    failures: list[IndexFailure] = []
    start = state.start
    pruned = start.size if start is not None else 0
    notes = []
    for cid, size, root, note in cp_rows:
        failures.extend(_check_checkpoint_row(int(cid), int(size), bytes(root), note, material))
        if int(size) > pruned:
            notes.append(note)
    verifier = StreamVerifier(
        material, checkpoints=notes, trusted_checkpoint=trusted_checkpoint, start=start
    )
    extras = driver.extra_columns
    columns = ", ".join((*ENTRY_COLUMNS, *extras))
    frontier = Frontier(start.size, start.frontier) if start is not None else Frontier()
    frontier_ok = True
    last_leaf = start.prev if start is not None else None
    last_epoch: int | None = None
    expected_seq = pruned
    order = OrderCheck()
    for row in driver.stream(f"SELECT {columns} FROM entries ORDER BY seq"):  # noqa: S608 (names only; values bound)
        seq, line = int(row[0]), bytes(row[1])
        if seq < state.size:  # entries appended since the state was read are not its concern
            order.feed(int(row[4]))  # ts_us as stored: what time-window searches rely on
        verifier.feed(line, segment=_SEGMENT, line=seq)
        entry = _check_row(row, seq, line, len(ENTRY_COLUMNS), driver, failures)
        if seq != expected_seq:
            frontier_ok = False
        expected_seq = seq + 1
        if entry is not None:
            h = leaf_hash(entry.raw)
            frontier.append(h)
            last_leaf = h
            last_epoch = entry.epoch
    report = verifier.finish()
    failures.extend(_check_state(state, expected_seq, last_leaf, last_epoch, frontier, frontier_ok))
    with driver.read() as tx:
        damaged = driver.check_text_index(tx)
    failures.extend(order.failures(time_order))
    if damaged is not None:
        failures.append(IndexFailure(None, "text_index", damaged))
    return IntegrityReport(report, failures, source)


def _check_checkpoint_row(
    cid: int, size: int, root: bytes, note: str, material: Any
) -> list[IndexFailure]:
    try:
        opened = verify_note(note, material.note_verifiers)
        cp = parse_checkpoint(opened.text)
    except NoteError:
        return []  # the stream verifier reports a forged or unknown-signer checkpoint
    if cp.size != size or cp.root_hash != root:
        return [
            IndexFailure(
                None,
                f"checkpoints.{cid}",
                "the tree_size/root_hash columns differ from the signed note",
            )
        ]
    return []


def _check_row(
    row: tuple[Any, ...], seq: int, line: bytes, n: int, driver: Any, failures: list[IndexFailure]
) -> Any:
    try:
        raw, _ = unframe_line(line)
        entry = parse_entry(raw)
        derived = derive_index(entry)
    except FramingError:
        return None  # the stream verifier names the malformed line
    if entry.seq != seq:
        failures.append(
            IndexFailure(seq, "seq", f"the row's seq differs from the entry's ({entry.seq})")
        )
    if bytes(row[2]) != leaf_hash(raw):
        failures.append(IndexFailure(seq, "leaf_hash", "differs from the hash of the entry bytes"))
    for i, name in enumerate(ENTRY_COLUMNS[3:], start=3):
        stored = row[i]
        if name == "clearance" and stored is not None:
            stored = int(stored)
        if stored != derived[name]:
            failures.append(IndexFailure(seq, name, "differs from the value in the entry bytes"))
    for name in driver.compare_extras(entry, row[n:]):
        failures.append(IndexFailure(seq, name, "differs from the value in the entry bytes"))
    return entry


def _check_state(
    state: Any,
    next_seq: int,
    last_leaf: bytes | None,
    last_epoch: int | None,
    frontier: Frontier,
    frontier_ok: bool,
) -> list[IndexFailure]:
    out: list[IndexFailure] = []
    if state.size != next_seq:
        out.append(
            IndexFailure(
                None,
                "ledger_state.size",
                f"the state row says {state.size} entries, the table ends at seq {next_seq - 1}",
            )
        )
    elif last_leaf is not None and state.prev != last_leaf:
        out.append(IndexFailure(None, "ledger_state.prev", "differs from the last entry's hash"))
    elif frontier_ok and frontier.hashes != state.frontier:
        out.append(IndexFailure(None, "ledger_state.frontier", "differs from the stored tree"))
    if last_epoch is not None and state.epoch < last_epoch:
        out.append(IndexFailure(None, "ledger_state.epoch", "is behind the last entry's epoch"))
    return out
