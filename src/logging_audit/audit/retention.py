"""Retention: prune the head of the stream, keep the rest verifiable, respect legal holds.

:func:`prune_before` removes the longest prefix of the stream whose entries
were all recorded before the cutoff and none of which is under an active
legal hold (a hold stops the prune at its first matching event: the ledger
can drop a head, never punch a hole). In one transaction it:

1. computes the :class:`~logging_audit.ledger.StreamStart` of the first kept
   entry (leaf hash before it, frontier of the removed prefix);
2. appends the ledger's MAC'd prune record (``LedgerWriter.prune``) and a
   ``system``/``retention_prune`` audit event saying what was removed;
3. deletes the removed rows and keeps the start in the state row.

Verification then resumes from that start (``StreamVerifier(start=...)``) and
the prune record confirms it: the report says "pruned by policy", not "missing".
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

from logging_audit.audit.appending import AppendBatch, catch_up_keys
from logging_audit.audit.dates import parse_time_bound
from logging_audit.audit.events import Action, ActorType, AuditEvent, EventType
from logging_audit.audit.index import us_to_ts
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import LegalHold, PruneResult
from logging_audit.audit.sql import compile_query
from logging_audit.errors import ConfigError, IntegrityError
from logging_audit.ledger import Frontier, StreamStart
from logging_audit.persistence.models import ClearanceLevel, check_identifier

if TYPE_CHECKING:
    from logging_audit.audit.store import AuditStore

__all__ = ["list_holds", "place_hold", "prune_before", "release_hold"]


def _hold(row: tuple[Any, ...]) -> LegalHold:
    hold_id, criteria, reason, placed_by, placed_at, released_at = row
    return LegalHold(hold_id, orjson.loads(criteria), reason, placed_by, placed_at, released_at)


_HOLD_COLUMNS = "hold_id, criteria, reason, placed_by, placed_at, released_at"


def list_holds(store: AuditStore, *, active_only: bool = False) -> list[LegalHold]:
    """Every legal hold (or only the active ones), oldest first."""
    where = " WHERE released_at IS NULL" if active_only else ""
    with store.driver.read() as tx:
        rows = tx.all(f"SELECT {_HOLD_COLUMNS} FROM legal_holds{where} ORDER BY placed_at")  # noqa: S608 (names only; values bound)
    return [_hold(r) for r in rows]


def _admin_event(store: AuditStore, actor: str, action: str, details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        event_type=EventType.ADMINISTRATIVE.value,
        action=action,
        actor=actor,
        clearance=ClearanceLevel.LEVEL_1,
        source_node=store.node_id,
        details=details,
    )


def place_hold(
    store: AuditStore, hold_id: str, criteria: dict[str, Any], reason: str, placed_by: str
) -> LegalHold:
    """Place a legal hold on events matching ``criteria`` (the search criteria syntax)."""
    check_identifier(hold_id, "hold_id")
    check_identifier(placed_by, "placed_by")
    if not isinstance(reason, str) or len(reason) > 4096:
        raise ConfigError("reason must be a string of at most 4096 characters")
    EventQuery.build(criteria)  # validates; ConfigError names a bad field
    try:
        text = orjson.dumps(criteria, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise ConfigError(f"legal hold criteria must be plain JSON: {exc}") from exc
    hold = LegalHold(hold_id, orjson.loads(text), reason, placed_by, store._now())
    with store.driver.write() as tx:
        if tx.one("SELECT 1 FROM legal_holds WHERE hold_id = ?", (hold_id,)):
            raise ConfigError(f"legal hold {hold_id!r} already exists")
        tx.execute(
            f"INSERT INTO legal_holds ({_HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",  # noqa: S608 (names only; values bound)
            (hold_id, text, reason, placed_by, hold.placed_at),
        )
        batch = AppendBatch(tx, store.keys, store.now)
        event = _admin_event(
            store,
            placed_by,
            Action.LEGAL_HOLD_PLACE,
            {"hold_id": hold_id, "reason": reason, "criteria": hold.criteria},
        )
        batch.add_events([event])
        batch.commit()
    if batch.sealed:
        catch_up_keys(store.driver, store.keys)
    return hold


def release_hold(store: AuditStore, hold_id: str, released_by: str) -> LegalHold:
    """Release an active legal hold."""
    check_identifier(released_by, "released_by")
    now = store._now()
    with store.driver.write() as tx:
        row = tx.one(f"SELECT {_HOLD_COLUMNS} FROM legal_holds WHERE hold_id = ?", (hold_id,))  # noqa: S608 (names only; values bound)
        if row is None:
            raise ConfigError(f"no legal hold {hold_id!r}")
        hold = _hold(row)
        if not hold.active:
            raise ConfigError(f"legal hold {hold_id!r} was already released")
        tx.execute("UPDATE legal_holds SET released_at = ? WHERE hold_id = ?", (now, hold_id))
        batch = AppendBatch(tx, store.keys, store.now)
        event = _admin_event(store, released_by, Action.LEGAL_HOLD_RELEASE, {"hold_id": hold_id})
        batch.add_events([event])
        batch.commit()
    if batch.sealed:
        catch_up_keys(store.driver, store.keys)
    return LegalHold(hold.hold_id, hold.criteria, hold.reason, hold.placed_by, hold.placed_at, now)


def prune_before(store: AuditStore, before: datetime, actor: str) -> PruneResult:
    """Remove the entries recorded before ``before``, up to the first one under a legal hold."""
    if not isinstance(before, datetime):
        raise ConfigError("the prune cutoff must be a datetime")
    cutoff = parse_time_bound(before, "cutoff")
    assert cutoff is not None
    check_identifier(actor, "actor")
    driver = store.driver
    holds = list_holds(store, active_only=True)
    with driver.write() as tx:
        batch = AppendBatch(tx, store.keys, store.now)
        state = batch.state
        base = state.start.size if state.start is not None else 0
        row = tx.one("SELECT min(seq) FROM entries WHERE ts_us >= ?", (cutoff,))
        end = state.size if row is None or row[0] is None else int(row[0])
        held_by: list[str] = []
        for hold in holds:
            where, params = compile_query(
                EventQuery.build(hold.criteria), ClearanceLevel.LEVEL_5, driver.dialect
            )
            first = tx.one(
                f"SELECT min(seq) FROM entries WHERE {where} AND seq < ?",  # noqa: S608 (names only; values bound)
                (*params, end),
            )
            if first is not None and first[0] is not None:
                end = int(first[0])
                held_by.append(hold.hold_id)
        if end <= base:
            batch.commit()
            result = PruneResult(0, base, us_to_ts(cutoff), tuple(held_by), state.start)
        else:
            frontier = Frontier(base, state.start.frontier) if state.start else Frontier()
            expected, last = base, b""
            for seq, leaf in tx.iterate(
                "SELECT seq, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
                (base, end),
            ):
                if seq != expected:
                    raise IntegrityError(
                        f"cannot prune: seq {expected} is missing from the stored stream; "
                        "run verify_integrity()"
                    )
                last = bytes(leaf)
                frontier.append(last)
                expected += 1
            if expected != end:
                raise IntegrityError(f"cannot prune: seqs {expected}..{end - 1} are missing")
            start = StreamStart(end, last, frontier.hashes, reason="retention")
            batch.prune(start)
            result = PruneResult(end - base, end, us_to_ts(cutoff), tuple(held_by), start)
            event = AuditEvent(
                event_type=EventType.SYSTEM.value,
                action=Action.RETENTION_PRUNE,
                actor=actor,
                actor_type=ActorType.SYSTEM.value,
                clearance=ClearanceLevel.LEVEL_1,
                source_node=store.node_id,
                details={**result.to_dict(), "pruned_first_seq": base},
            )
            batch.add_events([event])
            batch.checkpoint()
            batch.commit()
            tx.execute("DELETE FROM entries WHERE seq < ?", (end,))
    if batch.sealed:
        catch_up_keys(driver, store.keys)
    return result


def cutoff_for_days(days: int, now: datetime | None = None) -> datetime:
    """The cutoff of a retention of ``days`` days (events before it may be removed)."""
    from datetime import timedelta

    if type(days) is not int or days < 1:
        raise ConfigError(f"retention_days must be a positive integer, got {days!r}")
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)
