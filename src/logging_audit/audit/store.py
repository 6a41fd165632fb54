"""The ledger-backed audit event store: record, search, prove, verify, retain.

:class:`AuditStore` is the one store; a backend hands it a
:class:`~logging_audit.audit.driver.Driver` (see
:class:`~logging_audit.audit.sqlite_store.SqliteEventStore` and
:class:`~logging_audit.audit.postgres_store.PostgresEventStore`).

Writing: :meth:`AuditStore.append` records events as ledger entries in one
transaction (chain, MAC, seal when the epoch is due, checkpoint at each seal).

Reading — every path filters by the requestor's clearance (no read-up) and
records itself as a ``query`` event (who, criteria, result count):
:meth:`~AuditStore.search` (a page, with a cursor), :meth:`~AuditStore.count`,
:meth:`~AuditStore.iter_events` (constant memory, for exports).

Ledger material, for exports and evidence bundles:
:meth:`~AuditStore.latest_checkpoint`, :meth:`~AuditStore.checkpoints`,
:meth:`~AuditStore.checkpoint` (sign one now), :meth:`~AuditStore.proof_tree`,
:meth:`~AuditStore.inclusion_proofs`, :meth:`~AuditStore.consistency_proof`,
:attr:`~AuditStore.verifier_key`, :meth:`~AuditStore.verifier_material`,
:meth:`~AuditStore.iter_lines` (LEVEL_5 only).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from logging_audit.audit import integrity, retention
from logging_audit.audit.appending import AppendBatch, catch_up_keys
from logging_audit.audit.cursors import CursorCodec
from logging_audit.audit.driver import Driver
from logging_audit.audit.events import AuditEvent, EventType, event_from_fields
from logging_audit.audit.keys import KeyConfig, StreamKeys
from logging_audit.audit.ledger_state import insert_initial_state, load_state
from logging_audit.audit.limits import DEFAULT_LIMITS, Limits
from logging_audit.audit.migrations import Migration, apply_migrations
from logging_audit.audit.proof_tree import StoredTree
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import (
    IntegrityReport,
    LegalHold,
    PruneResult,
    Requestor,
    SearchPage,
    StoredCheckpoint,
    StoredEvent,
)
from logging_audit.audit.sql import compile_query, order_by, sort_column
from logging_audit.audit.time_order import seq_window
from logging_audit.errors import (
    AccessDeniedError,
    ConfigError,
    FramingError,
    IntegrityError,
    NoteError,
    ProofError,
)
from logging_audit.ledger import (
    StreamStart,
    VerifierMaterial,
    format_ts,
    open_checkpoint,
    parse_entry,
    unframe_line,
)
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["MAX_PAGE", "AuditStore", "default_node_id", "default_origin"]

MAX_PAGE = 10_000
"""Largest page a search returns."""

_QUERY_LIMITS = Limits(max_details_bytes=1 << 20, max_string=4096)
_NODE = re.compile(r"[^A-Za-z0-9._-]")


def default_node_id() -> str:
    """This host's name, reduced to ``[A-Za-z0-9._-]`` (``node`` if nothing is left)."""
    return _NODE.sub("-", socket.gethostname())[:64].strip("-") or "node"


def default_origin(node_id: str, name: str = "audit") -> str:
    """The default stream origin: ``logaudit/<node>/<name>``."""
    return f"logaudit/{node_id}/{name}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AuditStore:
    """An audit stream in a database: events are ledger entries, indexed for search."""

    def __init__(
        self,
        driver: Driver,
        migrations: Sequence[Migration],
        keys: KeyConfig,
        *,
        origin: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], datetime] | None = None,
        node_id: str | None = None,
    ) -> None:
        """Open the stream in ``driver``'s database, creating schema, stream and keys if new.

        The driver is closed if opening fails. ``origin`` names a new stream
        (default ``logaudit/<node>/audit``); for an existing one it must match or
        be ``None``. ``clock`` returns aware
        datetimes (tests pin time with it).
        """
        self._driver = driver
        self.limits = limits
        self._clock = clock or _utcnow
        self.node_id = node_id or default_node_id()
        self._closed = False
        try:
            self._open(migrations, keys, origin)
        except BaseException:
            driver.close()
            raise

    def _open(self, migrations: Sequence[Migration], keys: KeyConfig, origin: str | None) -> None:
        """Migrate the schema; load the stream's keys, or create the stream and its keys."""
        driver = self._driver
        with driver.write() as tx:
            apply_migrations(driver, tx, migrations)
            meta = dict(tx.all("SELECT key, value FROM meta"))
            if "origin" in meta:
                if origin is not None and origin != meta["origin"]:
                    raise ConfigError(
                        f"{driver.describe()} holds stream {meta['origin']!r}, not {origin!r}"
                    )
                self._keys = StreamKeys.load(
                    keys, meta["origin"], meta["verifier_key"], self._clock
                )
            else:
                self._keys = StreamKeys.create(
                    keys, origin or default_origin(self.node_id), self._clock
                )
                now = self._now()
                for key, value in (
                    ("origin", self._keys.store.origin),
                    ("verifier_key", self._keys.store.verifier_key),
                    ("created_at", now),
                    ("created_by_node", self.node_id),
                ):
                    tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
                insert_initial_state(tx, now)
        self.origin = self._keys.store.origin
        self._cursors = CursorCodec(self._keys.cursor_key())

    # -- basics ------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgres"``."""
        return self._driver.backend

    @property
    def driver(self) -> Driver:
        """The database driver (for tools that need raw access, e.g. migrations)."""
        return self._driver

    @property
    def keys(self) -> StreamKeys:
        """The stream's key store (kept at the database's epoch)."""
        return self._keys

    def _now(self) -> str:
        return format_ts(self._clock())

    def now(self) -> datetime:
        """The store's clock."""
        return self._clock()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("the audit store is closed")

    @property
    def size(self) -> int:
        """Number of entries in the stream (events, seals and prune records, pruned included)."""
        with self._driver.read() as tx:
            return load_state(tx).size

    def stream_start(self) -> StreamStart | None:
        """Where the stream resumes after retention pruned its head (``None`` if never)."""
        with self._driver.read() as tx:
            return load_state(tx).start

    # -- writing -----------------------------------------------------------------------

    def append(self, events: Iterable[AuditEvent]) -> list[StoredEvent]:
        """Record events in one transaction; return them as stored (seq, time, line).

        Durable when it returns (SQLite ``synchronous=FULL``; PostgreSQL commit).
        A duplicate ``event_id`` is a :class:`ConfigError` and records nothing.
        """
        self._check_open()
        batch_events = list(events)
        if not batch_events:
            return []
        if len(batch_events) > self.limits.max_batch:
            raise ConfigError(
                f"{len(batch_events)} events in one batch; the limit is {self.limits.max_batch}"
            )
        for ev in batch_events:
            if not isinstance(ev, AuditEvent):
                raise ConfigError(f"expected AuditEvent, got {type(ev).__name__}")
        with self._driver.write() as tx:
            batch = AppendBatch(tx, self._keys, self._clock)
            rows = batch.insert_events(batch_events)
            batch.commit()
        self._driver.appended(batch.writer.size)
        if batch.sealed:
            catch_up_keys(self._driver, self._keys)
        ts = batch.ts
        return [
            StoredEvent(r.seq, ts, r.line, ev) for r, ev in zip(rows, batch_events, strict=True)
        ]

    def seal_if_due(self) -> bool:
        """Seal the current epoch if ``epoch_seconds`` have passed; return whether it did.

        Appends do this by themselves; call it from a timer so that an idle
        store does not keep an old epoch key.
        """
        self._check_open()
        with self._driver.write() as tx:
            batch = AppendBatch(tx, self._keys, self._clock)
            batch.commit()
        if batch.sealed:
            catch_up_keys(self._driver, self._keys)
        return batch.sealed

    def checkpoint(self) -> StoredCheckpoint:
        """Sign and keep a checkpoint of the tree as it stands now; return it."""
        self._check_open()
        with self._driver.write() as tx:
            batch = AppendBatch(tx, self._keys, self._clock, seal_if_due=False)
            batch.checkpoint()
            batch.commit()
        latest = self.latest_checkpoint()
        assert latest is not None
        return latest

    def close(self) -> None:
        """Seal the epoch, sign a final checkpoint, close the database. Idempotent."""
        if self._closed:
            return
        try:
            with self._driver.write() as tx:
                batch = AppendBatch(tx, self._keys, self._clock, seal_if_due=False)
                batch.seal()
                if batch.writer.size and not batch.notes:
                    batch.checkpoint()
                batch.commit()
            catch_up_keys(self._driver, self._keys)
        finally:
            self._closed = True
            self._driver.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    def _decode(self, line: Any, requestor: Requestor) -> StoredEvent | None:
        data = bytes(line)
        try:
            entry = parse_entry(unframe_line(data)[0])
            event = event_from_fields(entry.fields)
        except FramingError as exc:
            raise IntegrityError(
                f"a stored entry does not parse ({exc}); run verify_integrity()"
            ) from exc
        if event.clearance > requestor.clearance:
            return None  # index column disagrees with the bytes: never read up
        return StoredEvent(entry.seq, entry.ts, data, event)

    def _window(
        self, tx: Any, start_us: int | None, end_us: int | None
    ) -> tuple[int | None, int | None] | None:
        """The seq bounds of a time window (ADR 0038), where the backend wants them."""
        if not self._driver.dialect.bounds_time_windows:
            return None
        return seq_window(tx, start_us, end_us)

    def search(
        self,
        query: EventQuery,
        requestor: Requestor,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SearchPage:
        """Return one page of events matching ``query`` that ``requestor`` may see.

        ``cursor`` continues from a page's ``next_cursor``; it is valid only for
        the same query, requestor and clearance. The search is recorded.
        """
        self._check_open()
        if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
            raise ConfigError(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
        after = None if cursor is None else self._cursors.decode(cursor, query, requestor)
        col = sort_column(query)
        with self._driver.read() as tx:
            where, params = compile_query(
                query,
                requestor.clearance,
                self._driver.dialect,
                after=after,
                seq_range=self._window(tx, query.start_us, query.end_us),
            )
            sql = f"SELECT seq, line, {col} FROM entries WHERE {where} {order_by(query)} LIMIT ?"  # noqa: S608 (names only; values bound)
            rows = tx.all(sql, [*params, limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        events = [e for e in (self._decode(r[1], requestor) for r in rows) if e is not None]
        next_cursor = None
        if more and rows:
            next_cursor = self._cursors.encode(query, requestor, rows[-1][2], rows[-1][0])
        self.record_query(
            requestor, "search", query, len(events), {"limit": limit, "continued": bool(cursor)}
        )
        return SearchPage(events, next_cursor)

    def count(self, query: EventQuery, requestor: Requestor) -> int:
        """Number of events matching ``query`` that ``requestor`` may see (recorded)."""
        self._check_open()
        with self._driver.read() as tx:
            window = self._window(tx, query.start_us, query.end_us)
            where, params = compile_query(
                query, requestor.clearance, self._driver.dialect, seq_range=window
            )
            row = tx.one(f"SELECT count(*) FROM entries WHERE {where}", params)  # noqa: S608 (names only; values bound)
        n = int(row[0]) if row else 0
        self.record_query(requestor, "count", query, n)
        return n

    def iter_events(
        self,
        query: EventQuery,
        requestor: Requestor,
        *,
        purpose: str = "search",
        batch_size: int = 1000,
        details: dict[str, Any] | None = None,
    ) -> Iterator[StoredEvent]:
        """Yield every event matching ``query`` that ``requestor`` may see, in constant memory.

        Rows come from one snapshot, in the query's sort order. When the
        iteration ends (or is abandoned) it is recorded as a ``query`` event with
        action ``purpose`` (e.g. ``"export"``), the number of events yielded and
        whether it completed.
        """
        self._check_open()
        with self._driver.read() as tx:  # a lower bound holds in any later snapshot too
            window = self._window(tx, query.start_us, None)
        where, params = compile_query(
            query, requestor.clearance, self._driver.dialect, seq_range=window
        )
        sql = f"SELECT line FROM entries WHERE {where} {order_by(query)}"  # noqa: S608 (names only; values bound)
        return self._iter(sql, params, query, requestor, purpose, batch_size, details or {})

    def _iter(
        self,
        sql: str,
        params: list[Any],
        query: EventQuery,
        requestor: Requestor,
        purpose: str,
        batch_size: int,
        details: dict[str, Any],
    ) -> Iterator[StoredEvent]:
        count = 0
        complete = False
        try:
            for (line,) in self._driver.stream(sql, params, batch_size):
                event = self._decode(line, requestor)
                if event is not None:
                    count += 1
                    yield event
            complete = True
        finally:
            if not self._closed:
                self.record_query(
                    requestor, purpose, query, count, {**details, "complete": complete}
                )

    def record_query(
        self,
        requestor: Requestor,
        action: str,
        query: EventQuery | None,
        result_count: int,
        extra: dict[str, Any] | None = None,
    ) -> StoredEvent:
        """Record a read of the audit data (search, count, export …) as a ``query`` event.

        Classified at the requestor's clearance, so readers below it do not
        learn what it looked for.
        """
        details: dict[str, Any] = {
            "criteria": None if query is None else query.describe(),
            "result_count": result_count,
        }
        details.update(extra or {})
        event = AuditEvent(
            event_type=EventType.QUERY.value,
            action=action,
            actor=requestor.requestor_id,
            actor_type=requestor.actor_type,
            clearance=requestor.clearance,
            source_node=self.node_id,
            details=details,
            limits=_QUERY_LIMITS,
        )
        return self.append([event])[0]

    # -- ledger material ---------------------------------------------------------------

    @property
    def verifier_key(self) -> str:
        """The public checkpoint verifier key (``name+hex(id)+base64(…)``)."""
        return self._keys.store.verifier_key

    def verifier_material(self, verifier_path: str | None = None) -> tuple[VerifierMaterial, str]:
        """Verifier material (best at hand, or from ``verifier_path``) and what it covers."""
        return self._keys.verifier_material(verifier_path)

    def _checkpoint(self, row: tuple[Any, ...]) -> StoredCheckpoint:
        cid, note, created = row
        try:
            cp = open_checkpoint(note, [self._keys.store.verifier], self.origin)
        except NoteError as exc:
            raise IntegrityError(
                f"stored checkpoint #{cid} does not verify ({exc}); run verify_integrity()"
            ) from exc
        return StoredCheckpoint(int(cid), note, cp, created)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The newest signed checkpoint (largest tree), or ``None`` if none was made yet."""
        with self._driver.read() as tx:
            row = tx.one(
                "SELECT id, note, created_at FROM checkpoints ORDER BY tree_size DESC, id DESC "
                "LIMIT 1"
            )
        return None if row is None else self._checkpoint(row)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, oldest first."""
        with self._driver.read() as tx:
            rows = tx.all("SELECT id, note, created_at FROM checkpoints ORDER BY id")
        return [self._checkpoint(r) for r in rows]

    def proof_tree(self, tree_size: int | None = None) -> StoredTree:
        """A tree over the stored leaf hashes up to ``tree_size`` (default: all), for proofs.

        Memory is about two hashes per leaf; build one and ask it many proofs.
        """
        with self._driver.read() as tx:
            state = load_state(tx)
        size = state.size if tree_size is None else tree_size
        if not 0 <= size <= state.size:
            raise ProofError(f"tree size {size} is beyond the stream's {state.size} entries")
        first = state.start.size if state.start is not None else 0
        rows = self._driver.stream(
            "SELECT seq, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (first, size),
        )
        return StoredTree(state.start, _contiguous(rows, first))

    def inclusion_proofs(
        self, seqs: Iterable[int], checkpoint: StoredCheckpoint
    ) -> dict[int, list[bytes]]:
        """RFC 9162 inclusion proofs of ``seqs`` against ``checkpoint``'s tree.

        The stored tree's root at that size must equal the checkpoint's signed
        root (else :class:`IntegrityError`): the proofs then verify offline.
        """
        tree = self.proof_tree(checkpoint.size)
        if tree.root(checkpoint.size) != checkpoint.root_hash:
            raise IntegrityError(
                f"the stored leaves do not produce checkpoint #{checkpoint.checkpoint_id}'s "
                "root; run verify_integrity()"
            )
        return {seq: tree.inclusion_proof(seq, checkpoint.size) for seq in seqs}

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes of this stream."""
        tree = self.proof_tree(new_size)
        return tree.consistency_proof(old_size, new_size)

    def iter_lines(
        self, requestor: Requestor, *, first_seq: int = 0
    ) -> Iterator[tuple[int, bytes]]:
        """Yield ``(seq, framed line)`` of every stored entry — the raw stream.

        It holds events of every classification, so only a LEVEL_5 requestor may
        read it (else :class:`AccessDeniedError`); the read is recorded.
        """
        self._check_open()
        if requestor.clearance < ClearanceLevel.LEVEL_5:
            raise AccessDeniedError("reading the raw ledger stream needs clearance LEVEL_5")
        return self._lines(requestor, first_seq)

    def _lines(self, requestor: Requestor, first_seq: int) -> Iterator[tuple[int, bytes]]:
        count = 0
        try:
            for seq, line in self._driver.stream(
                "SELECT seq, line FROM entries WHERE seq >= ? ORDER BY seq", (first_seq,)
            ):
                count += 1
                yield int(seq), bytes(line)
        finally:
            if not self._closed:
                self.record_query(requestor, "ledger_read", None, count, {"first_seq": first_seq})

    # -- integrity and retention -------------------------------------------------------

    def verify_integrity(
        self, verifier_path: str | None = None, trusted_checkpoint: str | None = None
    ) -> IntegrityReport:
        """Replay the stored stream through the ledger verifier and check every derived column.

        See :func:`logging_audit.audit.integrity.verify_store`.
        """
        return integrity.verify_store(self, verifier_path, trusted_checkpoint)

    def prune(self, before: datetime, *, actor: str = "retention") -> PruneResult:
        """Remove events recorded before ``before`` (legal holds respected), verifiably.

        See :func:`logging_audit.audit.retention.prune_before`.
        """
        self._check_open()
        return retention.prune_before(self, before, actor)

    def place_legal_hold(
        self, hold_id: str, criteria: dict[str, Any], *, reason: str, placed_by: str
    ) -> LegalHold:
        """Keep events matching ``criteria`` from retention until released (recorded)."""
        self._check_open()
        return retention.place_hold(self, hold_id, criteria, reason, placed_by)

    def release_legal_hold(self, hold_id: str, *, released_by: str) -> LegalHold:
        """Release a legal hold (recorded)."""
        self._check_open()
        return retention.release_hold(self, hold_id, released_by)

    def legal_holds(self, *, active_only: bool = False) -> list[LegalHold]:
        """The legal holds, oldest first."""
        return retention.list_holds(self, active_only=active_only)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._driver.describe()}, origin={self.origin!r})"


def _contiguous(rows: Iterator[tuple[Any, ...]], first: int) -> Iterator[bytes]:
    expected = first
    for seq, leaf in rows:
        if seq != expected:
            raise IntegrityError(
                f"stored entries jump from seq {expected - 1} to {seq}; run verify_integrity()"
            )
        expected += 1
        yield bytes(leaf)
