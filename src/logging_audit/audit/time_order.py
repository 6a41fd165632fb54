"""Whether entry times rise with seq, and the seq range a time window can hold.

An audit stream's entries take their time when they are appended, so their
times almost always rise with their seq. PostgreSQL's planner does not know
that: for ``event_type = X AND ts in [a, b) ORDER BY seq LIMIT n`` it walks the
primary key from the first entry, expecting matches spread over the whole
table, and reads every entry before the window (measured: 120–240 ms at 1M
events). Given the seqs that bound the window, the same query reads only the
window (5 ms), whatever the plan.

The store keeps one row in the ``entry_times`` table, updated in every append
transaction (the appender role may UPDATE it, as the state row):

- ``ordered``: ``1`` while every entry's time is at least the time of every
  entry before it; ``0`` for good once one is not (a clock stepped back).
- ``latest_us``: the latest entry time (``NULL`` while there is none).

While ordered, :func:`seq_window` finds by binary search on the primary key the
first seq whose time is at or after the window's start and, when an entry at
or after the window's end exists, the last seq before it. Both bounds are
implied by the order, so adding them to a query changes no result; nothing is
bounded once the stream is not ordered. ``verify_integrity()`` checks the row
against the entries (:class:`OrderCheck`): a forged ``1`` could hide events
from time-window searches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from logging_audit.audit.driver import Tx
from logging_audit.audit.records import IndexFailure

__all__ = [
    "CREATE_ENTRY_TIMES",
    "OrderCheck",
    "init_time_order",
    "load_time_order",
    "note_times",
    "seq_window",
]

CREATE_ENTRY_TIMES = """CREATE TABLE entry_times (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ordered INTEGER NOT NULL,
    latest_us BIGINT
)"""


def load_time_order(tx: Tx) -> tuple[bool, int | None] | None:
    """``(ordered, latest time)`` from the ``entry_times`` row, or ``None`` without one."""
    row = tx.one("SELECT ordered, latest_us FROM entry_times WHERE id = 1")
    if row is None:
        return None
    return int(row[0]) == 1, (None if row[1] is None else int(row[1]))


def init_time_order(tx: Tx) -> None:
    """Fill the ``entry_times`` row from the entries as stored (a migration step; one pass)."""
    check = OrderCheck()
    for (ts_us,) in tx.iterate("SELECT ts_us FROM entries ORDER BY seq"):
        check.feed(int(ts_us))
    tx.execute(
        "INSERT INTO entry_times (id, ordered, latest_us) VALUES (1, ?, ?)",
        (1 if check.ordered else 0, check.latest),
    )


def note_times(tx: Tx, times: Sequence[int]) -> None:
    """Record the times of the entries an append adds (in seq order), in its transaction."""
    if not times:
        return
    state = load_time_order(tx)
    if state is None or not state[0]:
        return  # not kept (a database older than the migration) or no longer ordered
    latest = state[1]
    ordered = True
    for t in times:
        if latest is not None and t < latest:
            ordered = False
            break
        latest = t
    if not ordered:
        tx.execute("UPDATE entry_times SET ordered = 0 WHERE id = 1")
    elif latest != state[1]:
        tx.execute("UPDATE entry_times SET latest_us = ? WHERE id = 1", (latest,))


def _first_at_or_after(tx: Tx, ts_us: int, lo: int, hi: int) -> int | None:
    """The first seq in ``[lo, hi)`` whose time is at least ``ts_us`` (times ordered)."""
    found = None
    while lo < hi:
        mid = (lo + hi) // 2
        row = tx.one("SELECT seq, ts_us FROM entries WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,))
        if row is None or int(row[0]) >= hi:
            hi = mid
            continue
        seq, t = int(row[0]), int(row[1])
        if t >= ts_us:
            found, hi = seq, mid
        else:
            lo = seq + 1
    return found


def seq_window(
    tx: Tx, start_us: int | None, end_us: int | None
) -> tuple[int | None, int | None] | None:
    """``(first, last)`` seqs that entries in ``[start_us, end_us)`` lie within, if known.

    ``None`` when the stream's times are not (known to be) ordered. ``first``
    is ``None`` without a start; ``last`` is ``None`` without an end or when no
    entry is at or after the end yet (later entries may still fall inside).
    Call it in the transaction (one snapshot) of the query it bounds; a
    lower bound alone stays valid for a later snapshot too.
    """
    if start_us is None and end_us is None:
        return None
    state = load_time_order(tx)
    if state is None or not state[0]:
        return None
    bounds = tx.one("SELECT min(seq), max(seq) FROM entries")
    if bounds is None or bounds[0] is None:
        return None
    lo, hi = int(bounds[0]), int(bounds[1]) + 1
    first = last = None
    if start_us is not None:
        first = _first_at_or_after(tx, start_us, lo, hi)
        if first is None:
            first = hi  # every entry is before the window
    if end_us is not None:
        after = _first_at_or_after(tx, end_us, first if first is not None else lo, hi)
        if after is not None:
            last = after - 1
    return first, last


class OrderCheck:
    """Recompute the ``entry_times`` row while ``verify_integrity`` walks the entries."""

    def __init__(self) -> None:
        """Start with no entry seen."""
        self.ordered = True
        self.latest: int | None = None

    def feed(self, ts_us: int) -> None:
        """The next entry's time, in seq order."""
        if self.latest is not None and ts_us < self.latest:
            self.ordered = False
        if self.latest is None or ts_us > self.latest:
            self.latest = ts_us

    def failures(self, state: tuple[bool, int | None] | None) -> Iterable[IndexFailure]:
        """What the row (:func:`load_time_order`) claims that the entries do not bear out."""
        if state is None:
            return []
        ordered, latest = state
        out = []
        if ordered and not self.ordered:
            out.append(
                IndexFailure(
                    None, "entry_times.ordered", "says entry times rise with seq; they do not"
                )
            )
        if ordered and latest != self.latest:
            out.append(
                IndexFailure(None, "entry_times.latest_us", "differs from the latest entry time")
            )
        return out
