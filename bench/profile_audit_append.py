"""Recording speed of the audit store, measured in one run against plain inserts of the same rows.

Issue 4's recording goals: batched recording into SQLite with the full ledger at
least 0.4x a plain ``executemany`` INSERT of the same rows with no integrity at
all; PostgreSQL COPY-based recording at least 30k events/s; a single durable
``record_event`` p50 under 1 ms. This script prints, on one thread, best of
``--rounds`` interleaved rounds, batches of ``--batch`` events:

``plain executemany``
    the event rows (id, time, type, action, outcome, actor, actor type,
    resource, ip, node, clearance, details as JSON text) into a table with no
    index, one transaction per batch, WAL and ``synchronous=FULL``: issue 4's
    baseline.
``indexed executemany (no ledger)``
    the rows the store writes (line, leaf hash, index columns, search text)
    into the store's own schema — its five indexes, the unique event id and the
    FTS5 index — with no chain, MAC or event objects: the floor that the
    indexes set, whatever the ledger costs.
``AuditStore.append``
    prebuilt :class:`AuditEvent` objects; ``+ events`` also builds them from
    keyword arguments inside the timing, as a caller does.
``AuditService.record_events`` / ``AuditTrailService.log_events``
    the faces, from dicts / from built events.
``PostgreSQL``
    a plain text ``COPY`` of the plain rows into an unindexed table; the rows the
    store wrote, COPYed again into a copy of its table (indexes, JSONB + GIN,
    tsvector + GIN: the floor); and ``PostgresEventStore.append`` (binary COPY,
    streamed), when a server answers at ``$LOGAUDIT_TEST_PG_URL``.
``single durable record_event``
    p50/p95 of ``AuditService.record_event`` (one transaction, fsync'd) and of a
    bare SQLite commit (one small row, WAL, ``synchronous=FULL``) in the same
    directory — the fsync floor.

``--profile`` adds a cProfile of ``AuditStore.append`` (and of
``AuditService.record_events``) for one batch, ``--pyinstrument`` a
pyinstrument tree if it is installed. Use ``--dir`` on a real disk (fsync on
tmpfs is free). Not a timed test: nothing fails on a slow figure.

    .venv/bin/python bench/profile_audit_append.py                 # ~1 minute
    .venv/bin/python bench/profile_audit_append.py --quick         # ~10 seconds
    .venv/bin/python bench/profile_audit_append.py --batch 10000 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logging_audit.audit.driver import ENTRY_COLUMNS
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.sqlite_schema import SQLITE_MIGRATIONS
from logging_audit.audit.sqlite_store import SqliteEventStore
from logging_audit.audit.testing import pg_test_url, pg_unavailable_reason, temporary_pg_schema
from logging_audit.audit_service import AuditService
from logging_audit.audit_trail_service import AuditTrailService

NODE = "bench-node"
GOAL_SQLITE = 0.4
GOAL_PG = 30_000
GOAL_P50_MS = 1.0

PLAIN_COLUMNS = (
    "event_id, ts_us, event_type, action, outcome, actor, actor_type, resource, source_ip, "
    "source_node, clearance, details"
)
PLAIN_TABLE = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, event_id TEXT, ts_us INTEGER, "
    "event_type TEXT, action TEXT, outcome TEXT, actor TEXT, actor_type TEXT, resource TEXT, "
    "source_ip TEXT, source_node TEXT, clearance INTEGER, details TEXT)"
)
INDEXED_COLUMNS = ", ".join((*ENTRY_COLUMNS, "search_text"))
INDEXED_INSERT = f"INSERT INTO entries ({INDEXED_COLUMNS}) VALUES ({', '.join('?' * 16)})"  # noqa: S608 (fixed names)
PLAIN_INSERT = f"INSERT INTO events ({PLAIN_COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608 (fixed names)


def spec(i: int) -> dict[str, Any]:
    """Keyword arguments of the i-th event: a data access with a few details."""
    return {
        "event_type": "data_access",
        "action": ("read", "write", "delete", "export")[i % 4],
        "actor": f"user{i * 7919 % 1000}",
        "resource": f"document_{i * 104729 % 100_000}",
        "source_ip": f"10.{i % 256}.{i // 256 % 256}.1",
        "source_node": NODE,
        "clearance": 1 + i % 5,
        "details": {
            "ip_address": "192.168.1.1",
            "auth_method": "password",
            "request_id": i,
            "path": f"/api/v1/documents/{i % 977}",
            "bytes": 1024 + i % 4096,
        },
    }


def service_item(i: int) -> dict[str, Any]:
    """``AuditService.record_events`` item for the i-th event."""
    s = spec(i)
    return {
        "agent_id": f"A-{i % 500:05d}",
        "action_type": s["action"],
        "details": s["details"],
        "clearance_level": s["clearance"],
        "resource": s["resource"],
        "source_ip": s["source_ip"],
    }


def plain_row(e: AuditEvent, ts_us: int) -> tuple[Any, ...]:
    """The plain baseline's row of an event."""
    return (
        e.event_id,
        ts_us,
        e.event_type,
        e.action,
        e.outcome,
        e.actor,
        e.actor_type,
        e.resource,
        e.source_ip,
        e.source_node,
        int(e.clearance),
        orjson.dumps(e.details).decode(),
    )


def connect(path: Path) -> sqlite3.Connection:
    """A connection as the store opens one: WAL, ``synchronous=FULL``, autocommit off."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Timings:
    """Best (smallest) time per contender over the rounds."""

    def __init__(self) -> None:
        self.best: dict[str, float] = {}

    def add(self, key: str, seconds: float) -> None:
        self.best[key] = min(self.best.get(key, float("inf")), seconds)


class Contenders:
    """Every SQLite contender, each with its own database in ``root``."""

    def __init__(self, root: Path, batch: int) -> None:
        self.batch = batch
        self.n = 0
        self.plain = connect(root / "plain.db")
        self.plain.execute(PLAIN_TABLE)
        self.indexed = connect(root / "indexed.db")
        for m in SQLITE_MIGRATIONS:
            for sql in (*m.statements, *m.statements_after):
                self.indexed.execute(sql)
        self.indexed_seq = 0
        self.store = SqliteEventStore(root / "store.db", node_id=NODE)
        self.store2 = SqliteEventStore(root / "store2.db", node_id=NODE)
        self.service = AuditService(root / "service.db", node_id=NODE)
        self.trail = AuditTrailService(log_dir=str(root / "trail"), node_id=NODE)

    def specs(self) -> list[dict[str, Any]]:
        first, self.n = self.n, self.n + self.batch
        return [spec(i) for i in range(first, self.n)]

    def run_plain(self) -> float:
        rows = [plain_row(AuditEvent(**s), 1_767_225_600_000_000) for s in self.specs()]
        t = time.perf_counter()
        self.plain.execute("BEGIN IMMEDIATE")
        self.plain.executemany(PLAIN_INSERT, rows)
        self.plain.execute("COMMIT")
        return time.perf_counter() - t

    def run_indexed(self) -> float:
        """The rows the store wrote for the same events, inserted again with no ledger work."""
        events = [AuditEvent(**s) for s in self.specs()]
        first = self.store2.size
        self.store2.append(events)
        with self.store2.driver.read() as tx:
            rows = tx.all(f"SELECT {INDEXED_COLUMNS} FROM entries WHERE seq >= ?", (first,))  # noqa: S608 (fixed names)
        seq0, self.indexed_seq = self.indexed_seq, self.indexed_seq + len(rows)
        data = [(seq0 + i, *r[1:]) for i, r in enumerate(rows)]
        t = time.perf_counter()
        self.indexed.execute("BEGIN IMMEDIATE")
        self.indexed.executemany(INDEXED_INSERT, data)
        self.indexed.executemany(
            "INSERT INTO entries_fts (rowid, search_text) VALUES (?, ?)",
            [(d[0], d[-1]) for d in data],
        )
        self.indexed.execute("COMMIT")
        return time.perf_counter() - t

    def run_append(self) -> float:
        events = [AuditEvent(**s) for s in self.specs()]
        t = time.perf_counter()
        self.store.append(events)
        return time.perf_counter() - t

    def run_append_building(self) -> float:
        specs = self.specs()
        t = time.perf_counter()
        self.store.append([AuditEvent(**s) for s in specs])
        return time.perf_counter() - t

    def run_service(self) -> float:
        first = self.n
        self.n += self.batch
        items = [service_item(i) for i in range(first, self.n)]
        t = time.perf_counter()
        self.service.record_events(items)
        return time.perf_counter() - t

    def run_trail(self) -> float:
        events = [AuditEvent(**s) for s in self.specs()]
        t = time.perf_counter()
        self.trail.log_events(events)
        return time.perf_counter() - t

    def close(self) -> None:
        self.plain.close()
        self.indexed.close()
        self.store.close()
        self.store2.close()
        self.service.close()
        self.trail.close()


class PgContenders:
    """PostgreSQL: a plain COPY, the same rows as the store's COPYed again, the store itself."""

    def __init__(self, url: str, schema: str, root: Path, batch: int) -> None:
        import psycopg
        from psycopg import sql

        from logging_audit.audit.postgres_store import PostgresEventStore

        self.batch = batch
        self.n = 10_000_000
        self.store = PostgresEventStore(url, key_dir=root / "pg-keys", schema=schema, node_id=NODE)
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        self.conn.execute(
            "CREATE TABLE plain_events (id bigserial PRIMARY KEY, event_id text, ts_us bigint, "
            "event_type text, action text, outcome text, actor text, actor_type text, "
            "resource text, source_ip text, source_node text, clearance smallint, "
            "details jsonb)"
        )
        self.conn.execute("CREATE TABLE indexed_entries (LIKE entries INCLUDING ALL)")
        self.copied = 0  # entries of the store already copied into indexed_entries

    def specs(self) -> list[dict[str, Any]]:
        first, self.n = self.n, self.n + self.batch
        return [spec(i) for i in range(first, self.n)]

    def run_plain_copy(self) -> float:
        rows = [plain_row(AuditEvent(**s), 1_767_225_600_000_000) for s in self.specs()]
        t = time.perf_counter()
        with (
            self.conn.transaction(),
            self.conn.cursor() as cur,
            cur.copy(f"COPY plain_events ({PLAIN_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - t

    def run_append(self) -> float:
        events = [AuditEvent(**s) for s in self.specs()]
        t = time.perf_counter()
        self.store.append(events)
        return time.perf_counter() - t

    def run_indexed_copy(self) -> float:
        """The rows the store wrote since the last call, COPYed again into a copy of its table."""
        cols = INDEXED_COLUMNS + ", body"
        rows = self.conn.execute(
            f"SELECT {cols.replace('body', 'body::text')} FROM entries WHERE seq >= %s "  # noqa: S608 (fixed names)
            "ORDER BY seq",
            (self.copied,),
        ).fetchall()
        self.copied += len(rows)
        t = time.perf_counter()
        with (
            self.conn.transaction(),
            self.conn.cursor() as cur,
            cur.copy(f"COPY indexed_entries ({cols}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return (time.perf_counter() - t) * self.batch / max(1, len(rows))

    def close(self) -> None:
        self.store.close()
        self.conn.close()


def latencies(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds per call of ``fn``, ``n`` calls."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def single_path(root: Path, n: int) -> dict[str, list[float]]:
    """Interleaved single durable records and bare commits, same directory."""
    service = AuditService(root / "single.db", node_id=NODE)
    bare = connect(root / "bare.db")
    bare.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    counter = iter(range(10**9))

    def record() -> None:
        service.record_event(
            agent_id="A-12345",
            action_type="data_access",
            details={"request_id": next(counter), "path": "/api/v1/documents/7"},
            clearance_level=3,
        )

    def commit() -> None:
        bare.execute("BEGIN IMMEDIATE")
        bare.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
        bare.execute("COMMIT")

    out: dict[str, list[float]] = {"record": [], "commit": []}
    for _ in range(20):  # warm up
        record()
        commit()
    for _ in range(max(1, n // 50)):
        out["record"].extend(latencies(record, 50))
        out["commit"].extend(latencies(commit, 50))
    service.close()
    bare.close()
    return out


@dataclass
class Row:
    label: str
    rate: float
    ratio: str = ""
    goal: str = ""
    met: str = ""


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'measurement':<44} {'events/s':>11}  {'ratio':<28} {'goal':<12} met")
    for r in rows:
        rate = f"{r.rate:,.0f}" if r.rate else ""
        print(f"{r.label:<44} {rate:>11}  {r.ratio:<28} {r.goal:<12} {r.met}")


def profile(root: Path, batch: int, top: int, use_pyinstrument: bool) -> None:
    """cProfile (and pyinstrument) of one AuditStore.append and one record_events batch."""
    store = SqliteEventStore(root / "profile.db", node_id=NODE)
    service = AuditService(root / "profile-service.db", node_id=NODE)
    store.append([AuditEvent(**spec(i)) for i in range(batch)])  # warm up
    events = [AuditEvent(**spec(i)) for i in range(batch, 2 * batch)]
    items = [service_item(i) for i in range(2 * batch, 3 * batch)]
    runs: list[tuple[str, Callable[[], object]]] = [
        (f"AuditStore.append, {batch} prebuilt events", lambda: store.append(events)),
        (f"AuditService.record_events, {batch} dicts", lambda: service.record_events(items)),
    ]
    for label, fn in runs:
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        print(f"\n== cProfile: {label} (tottime, top {top})")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)
    if use_pyinstrument:
        try:
            from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            print("\n(pyinstrument is not installed: .venv/bin/pip install pyinstrument)")
        else:
            more = [AuditEvent(**spec(i)) for i in range(5 * batch, 6 * batch)]
            p = Profiler(interval=0.0001)
            p.start()
            store.append(more)
            p.stop()
            print(p.output_text(unicode=True, color=False, show_all=False))
    store.close()
    service.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--batch", type=int, default=5000, help="events per batch (default 5000)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds, best kept")
    p.add_argument("--warmup", type=int, default=4, help="batches recorded before timing")
    p.add_argument("--single", type=int, default=400, help="single durable records timed")
    p.add_argument("--quick", action="store_true", help="smoke run: small counts")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    p.add_argument("--dir", type=Path, help="where to make the temporary directory")
    p.add_argument("--profile", action="store_true", help="cProfile one batch afterwards")
    p.add_argument("--pyinstrument", action="store_true", help="and a pyinstrument tree")
    p.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.rounds, args.warmup, args.single = 1000, 3, 1, 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("== logging_audit bench: audit recording (issue 4, Performance) ==")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; batch {args.batch}, "
        f"best of {args.rounds} interleaved rounds"
    )
    with tempfile.TemporaryDirectory(prefix="bench-audit-", dir=args.dir) as tmp:
        root = Path(tmp)
        sq = Contenders(root, args.batch)
        runs: list[tuple[str, Callable[[], float]]] = [
            ("plain", sq.run_plain),
            ("indexed", sq.run_indexed),
            ("append", sq.run_append),
            ("append+events", sq.run_append_building),
            ("service", sq.run_service),
            ("trail", sq.run_trail),
        ]
        pg: PgContenders | None = None
        pg_reason = "--no-postgres" if args.no_postgres else pg_unavailable_reason()
        timings = Timings()
        with contextlib.ExitStack() as stack:
            stack.callback(sq.close)
            if pg_reason is None:
                schema = stack.enter_context(temporary_pg_schema(pg_test_url()))
                pg = PgContenders(pg_test_url(), schema, root, args.batch)
                stack.callback(pg.close)
                runs += [
                    ("pg plain", pg.run_plain_copy),
                    ("pg append", pg.run_append),
                    ("pg indexed", pg.run_indexed_copy),
                ]
            gc.collect()
            gc.freeze()  # keep the bench's own objects out of every collection
            for _ in range(args.warmup):
                for _, fn in runs:
                    fn()
            for _ in range(args.rounds):
                for key, fn in runs:
                    timings.add(key, fn())
        single = single_path(root, args.single)
        if args.profile or args.pyinstrument:
            profile(root, args.batch, args.top, args.pyinstrument)

    rate = {k: args.batch / v for k, v in timings.best.items()}
    plain = rate["plain"]
    rows = [Row("plain executemany (no index, no integrity)", plain, "1.00x (baseline)")]
    for key, label in (
        ("indexed", "indexed executemany, store schema, no ledger"),
        ("append", "AuditStore.append (prebuilt events)"),
        ("append+events", "AuditStore.append + building the events"),
        ("service", "AuditService.record_events"),
        ("trail", "AuditTrailService.log_events"),
    ):
        ratio = rate[key] / plain
        met = "" if key == "indexed" else ("yes" if ratio >= GOAL_SQLITE else "no")
        goal = "" if key == "indexed" else f">= {GOAL_SQLITE}x"
        extra = "" if key == "indexed" else f"; {rate[key] / rate['indexed']:.2f}x of indexed"
        rows.append(Row(label, rate[key], f"{ratio:.2f}x{extra}", goal, met))
    print_table(f"SQLite, batches of {args.batch} (one transaction each)", rows)

    if pg is not None:
        ratio = rate["pg append"] / rate["pg plain"]
        print_table(
            f"PostgreSQL, batches of {args.batch} (COPY)",
            [
                Row("plain COPY (no index, no integrity)", rate["pg plain"], "1.00x"),
                Row(
                    "indexed COPY, store schema, no ledger",
                    rate["pg indexed"],
                    f"{rate['pg indexed'] / rate['pg plain']:.2f}x",
                ),
                Row(
                    "PostgresEventStore.append (COPY)",
                    rate["pg append"],
                    f"{ratio:.2f}x; {rate['pg append'] / rate['pg indexed']:.2f}x of indexed",
                    f">= {GOAL_PG:,}/s",
                    "yes" if rate["pg append"] >= GOAL_PG else "no",
                ),
            ],
        )
    else:
        print(f"\nPostgreSQL: skipped ({pg_reason})")

    rec, com = single["record"], single["commit"]
    p50r, p50c = statistics.median(rec) * 1e3, statistics.median(com) * 1e3
    print(f"\nSingle durable record (n={len(rec)}, interleaved with bare commits)")
    print(f"{'measurement':<44} {'p50 ms':>8} {'p95 ms':>8}  goal     met")
    print(
        f"{'AuditService.record_event (fsync)':<44} {p50r:8.3f} "
        f"{percentile(rec, 0.95) * 1e3:8.3f}  < {GOAL_P50_MS} ms   "
        f"{'yes' if p50r < GOAL_P50_MS else 'no'}"
    )
    print(
        f"{'bare SQLite commit, WAL, synchronous=FULL':<44} {p50c:8.3f} "
        f"{percentile(com, 0.95) * 1e3:8.3f}  (the fsync floor)"
    )
    print(f"{'record_event over the bare commit':<44} {p50r - p50c:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
