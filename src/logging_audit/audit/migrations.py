"""Schema versions: each backend's ordered migrations, applied under the append lock.

Applied versions are recorded in ``schema_version`` (version, description,
time). A new database runs every migration from 1, so the upgrade path is the
path every database takes. Migrations that add derived columns fill them from
the entry bytes (:func:`backfill_from_entries`): derived data is never copied
from other derived data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from logging_audit.audit.driver import Driver, Tx
from logging_audit.audit.index import derive_index
from logging_audit.errors import ConfigError, FramingError, StorageError
from logging_audit.ledger import parse_entry, unframe_line

__all__ = ["Migration", "apply_migrations", "backfill_from_entries", "schema_version"]


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements and optionally a Python step after them."""

    version: int
    description: str
    statements: tuple[str, ...]
    after: Callable[[Driver, Tx], None] | None = None
    statements_after: tuple[str, ...] = ()


def schema_version(tx: Tx) -> int:
    """The highest applied version (0 for an empty database)."""
    row = tx.one("SELECT max(version) FROM schema_version")
    return 0 if row is None or row[0] is None else int(row[0])


def apply_migrations(
    driver: Driver,
    tx: Tx,
    migrations: Sequence[Migration],
    *,
    target: int | None = None,
) -> int:
    """Apply every migration above the current version (up to ``target``); return the version.

    A database newer than this code (a version above the last migration) is a
    :class:`StorageError`: this code must not write to it.
    """
    if not driver.table_exists(tx, "schema_version"):
        tx.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    current = schema_version(tx)
    latest = migrations[-1].version
    if current > latest:
        raise StorageError(
            f"{driver.describe()} has schema version {current}; this version of "
            f"logging_audit knows versions up to {latest}: upgrade logging_audit"
        )
    if target is not None and not 0 < target <= latest:
        raise ConfigError(f"no schema version {target}")
    for step in migrations:
        if step.version <= current or (target is not None and step.version > target):
            continue
        for sql in step.statements:
            tx.execute(sql)
        if step.after is not None:
            step.after(driver, tx)
        for sql in step.statements_after:
            tx.execute(sql)
        tx.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            (step.version, step.description, datetime.now(timezone.utc).isoformat()),
        )
        current = step.version
    return current


def backfill_from_entries(
    tx: Tx,
    columns: Sequence[str],
    extra: Callable[..., tuple[object, ...]] | None = None,
    extra_columns: Sequence[str] = (),
) -> None:
    """Fill ``columns`` (index columns) and ``extra_columns`` of every row from its bytes.

    ``extra(entry)`` returns the values of ``extra_columns``. Rows whose line
    does not parse are left as they are (``verify_integrity`` reports them).
    """
    names = [*columns, *extra_columns]
    assign = ", ".join(f"{c} = ?" for c in names)
    last = -1
    while True:
        rows = tx.all(
            "SELECT seq, line FROM entries WHERE seq > ? ORDER BY seq LIMIT 1000", (last,)
        )
        if not rows:
            return
        for seq, line in rows:
            last = seq
            try:
                entry = parse_entry(unframe_line(bytes(line))[0])
                index = derive_index(entry)
            except FramingError:
                continue
            values = [index[c] for c in columns]
            if extra is not None:
                values.extend(extra(entry))
            tx.execute(f"UPDATE entries SET {assign} WHERE seq = ?", (*values, seq))  # noqa: S608 (names only; values bound)
