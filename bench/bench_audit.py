"""Audit store figures measured in one run (issue 4): recording, search, export and bundles.

1. Batched recording into SQLite with the full ledger (chain, MAC, tree,
   seals, checkpoints, index columns, FTS) against a plain ``executemany``
   INSERT of the same events into a table with no integrity and no index —
   same PRAGMAs (WAL, ``synchronous=FULL``), same batch size, one commit per
   batch. Goal: at least 0.4x. Also printed: the same plain rows into a table
   with only the indexes issue 4 requires (actor+time, type+time,
   resource+time, FTS5 over details) — the floor those indexes set before any
   integrity work (PostgreSQL likewise: JSONB + GIN, text GIN, BRIN, b-trees).
2. Single durable ``append`` of one event (``synchronous=FULL``): p50 / p95.
   Goal: p50 under 1 ms.
3. Search on N events spread over 30 days (1,000 actors, 6 event types):
   actor + 1-day range and type + 1-day range (goal p95 < 50 ms) and full-text
   (goal p95 < 200 ms), each a real ``AuditStore.search`` of 100 results —
   which includes durably recording the search itself, as every search is.
4. PostgreSQL: batched (COPY) recording of as many events as SQLite's race into
   a new stream, events/s (goal >= 30k/s); the rate while growing the searched
   population to N; the same queries on N events (goal p95 < 100 ms); skipped
   with a message when no server answers.
5. An evidence bundle of 100k events (every inclusion proof) exported, then
   ``verify_bundle`` — each goal under 10 s.

Usage::

    .venv/bin/python bench/bench_audit.py                   # about 2 minutes
    .venv/bin/python bench/bench_audit.py --quick           # smoke run, ~20 seconds
    .venv/bin/python bench/bench_audit.py --events 1000000  # the issue's 1M-event search

Not a timed test: nothing fails on slow figures; the table says which goals
hold on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from logging_audit.audit.bundle import verify_bundle
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.export import export_events
from logging_audit.audit.factory import open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock, pg_test_url, pg_unavailable_reason
from logging_audit.persistence.models import ClearanceLevel

TITLE = "== logging_audit bench: audit store (issue 4) =="
HEADER = f"{'measurement':<46} {'events':>9} {'figure':>14}  {'ratio / p95':<20} {'goal':<12} met"
BATCH = 1000
SPAN = timedelta(days=30)
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
TYPES = ("authentication", "data_access", "administrative", "system", "agent_action", "query")
ACTIONS = {
    "authentication": ("login", "logout", "mfa"),
    "data_access": ("read", "write", "delete", "export"),
    "administrative": ("user_create", "role_grant", "config_change"),
    "system": ("startup", "shutdown", "error"),
    "agent_action": ("read_inbox", "update_ticket", "summarise"),
    "query": ("search",),
}
WORDS = (
    "invoice", "payroll", "contract", "warehouse", "shipment", "customer", "password",
    "firewall", "backup", "report", "quarterly", "audit", "merger", "salary", "patent",
)  # fmt: skip
READER = Requestor("bench-auditor", ClearanceLevel.LEVEL_5)


# -- the events -------------------------------------------------------------------------


def make_events(n: int, seed: int = 4) -> list[AuditEvent]:
    """``n`` realistic events: 1,000 actors, 6 types, details with a few words (fixed seed)."""
    rnd = random.Random(seed)
    out: list[AuditEvent] = []
    for i in range(n):
        et = TYPES[i % len(TYPES)]
        out.append(
            AuditEvent(
                et,
                rnd.choice(ACTIONS[et]),
                f"user{rnd.randrange(1000):04d}",
                outcome="success" if rnd.random() < 0.9 else "failure",
                resource=f"doc-{rnd.randrange(100_000)}",
                source_ip=f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
                source_node=f"web-{rnd.randrange(8)}",
                clearance=ClearanceLevel(1 + rnd.randrange(5)),
                details={
                    "note": " ".join(rnd.choice(WORDS) for _ in range(3)),
                    "bytes": rnd.randrange(1 << 20),
                    "i": i,
                },
            )
        )
    return out


def plain_rows(events: list[AuditEvent], first_seq: int = 0) -> list[tuple[Any, ...]]:
    """The same events as rows of a plain table (no chain, no MAC, no tree, no index)."""
    ts = START.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ts_us = int(START.timestamp() * 1_000_000)
    return [
        (
            first_seq + i,
            ts,
            ts_us + i,
            e.event_id,
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
        for i, e in enumerate(events)
    ]


# -- timing helpers ---------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    label: str
    events: int | None
    figure: str
    ratio: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) of ``samples`` (nearest rank)."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def print_table(rows: list[Row]) -> None:
    """The results table (the smoke test looks for its title and header)."""
    print()
    print(TITLE)
    print(HEADER)
    print("-" * len(HEADER))
    for r in rows:
        n = f"{r.events:,}" if r.events is not None else ""
        met = {True: "yes", False: "NO", None: ""}[r.met]
        line = f"{r.label:<46} {n:>9} {r.figure:>14}  {r.ratio:<20} {r.goal:<12} {met}"
        print(line.rstrip() + (f"  {r.note}" if r.note else ""))


# -- 1. batched recording vs plain executemany ------------------------------------------


PLAIN_TABLE = (
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts TEXT, ts_us INTEGER, event_id TEXT,"
    " event_type TEXT, action TEXT, outcome TEXT, actor TEXT, actor_type TEXT, resource TEXT,"
    " source_ip TEXT, source_node TEXT, clearance INTEGER, details TEXT)"
)
PLAIN_INSERT = "INSERT INTO events VALUES (" + ", ".join("?" * 14) + ")"  # noqa: S608 (placeholders only)
REQUIRED_SQLITE = (
    "CREATE INDEX events_actor_ts ON events (actor, ts_us)",
    "CREATE INDEX events_type_ts ON events (event_type, ts_us)",
    "CREATE INDEX events_resource_ts ON events (resource, ts_us)",
    "CREATE VIRTUAL TABLE events_fts USING fts5(details, content='events', content_rowid='seq')",
)
"""Issue 4's required SQLite indexes (actor+time, type+time, resource+time, FTS5 over
details) on the plain table: the floor any store keeping them pays, ledger or not."""


@dataclass
class RecordTimes:
    """Seconds to record the same events: the store, plain, plain with the required indexes."""

    store: float
    plain: float
    required: float


def _plain_insert(d: Path, name: str, rows: list[tuple[Any, ...]], indexed: bool) -> float:
    """Seconds to insert ``rows`` in batches into a plain table (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(d / name, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(PLAIN_TABLE)
        for sql in REQUIRED_SQLITE if indexed else ():
            conn.execute(sql)
        gc.collect()
        t0 = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            conn.execute("BEGIN")
            conn.executemany(PLAIN_INSERT, rows[i : i + BATCH])
            if indexed:
                conn.execute(
                    "INSERT INTO events_fts (rowid, details) "
                    "SELECT seq, details FROM events WHERE seq >= ?",
                    (rows[i][0],),
                )
            conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def bench_record_sqlite(events: list[AuditEvent], d: Path) -> RecordTimes:
    """Seconds for the store (full ledger) and for plain executemany, same events and batches."""
    store = open_store(d / "ledger.db", node_id="bench")
    try:
        gc.collect()
        t0 = time.perf_counter()
        for i in range(0, len(events), BATCH):
            store.append(events[i : i + BATCH])
        t_store = time.perf_counter() - t0
    finally:
        store.close()
    rows = plain_rows(events)
    t_plain = _plain_insert(d, "plain.db", rows, indexed=False)
    t_required = _plain_insert(d, "required.db", rows, indexed=True)
    return RecordTimes(t_store, t_plain, t_required)


# -- 2. one durable event ---------------------------------------------------------------


def bench_plain_single(events: list[AuditEvent], d: Path) -> list[float]:
    """Seconds of each single-row INSERT + COMMIT into a plain table (sync=FULL): the floor."""
    conn = sqlite3.connect(d / "plain-single.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT, details TEXT)")
    out = []
    try:
        for row in plain_rows(events):
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO events VALUES (?, ?, ?)", (row[0], row[3], row[13]))
            conn.execute("COMMIT")
            out.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return out


def bench_single(events: list[AuditEvent], d: Path) -> list[float]:
    """Seconds of each single-event durable ``append``."""
    store = open_store(d / "single.db", node_id="bench", synchronous="FULL")
    try:
        store.append(events[:1])  # warm up: schema, keys, first page
        out = []
        for e in events[1:]:
            t0 = time.perf_counter()
            store.append([e])
            out.append(time.perf_counter() - t0)
        return out
    finally:
        store.close()


# -- 3./4. population and queries -------------------------------------------------------


def populate(store: AuditStore, events: list[AuditEvent], clock: FakeClock) -> float:
    """Record ``events`` spread evenly over :data:`SPAN`; return the seconds it took."""
    batches = max(1, len(events) // BATCH)
    step = SPAN / batches
    t0 = time.perf_counter()
    for i in range(0, len(events), BATCH):
        store.append(events[i : i + BATCH])
        clock.advance(step.total_seconds())
    return time.perf_counter() - t0


def query_set(n: int, seed: int = 9) -> dict[str, list[EventQuery]]:
    """``n`` queries of each kind: actor + 1 day, type + 1 day, full text."""
    rnd = random.Random(seed)

    def window() -> tuple[datetime, datetime]:
        start = START + timedelta(
            seconds=rnd.uniform(0, (SPAN - timedelta(days=1)).total_seconds())
        )
        return start, start + timedelta(days=1)

    out: dict[str, list[EventQuery]] = {"actor": [], "type": [], "text": []}
    for _ in range(n):
        a, b = window()
        out["actor"].append(
            EventQuery.build({"actor": f"user{rnd.randrange(1000):04d}"}, start=a, end=b)
        )
        a, b = window()
        out["type"].append(EventQuery.build({"event_type": rnd.choice(TYPES[:5])}, start=a, end=b))
        out["text"].append(EventQuery.build({}, text=f"{rnd.choice(WORDS)} {rnd.choice(WORDS)}"))
    return out


def time_queries(store: AuditStore, queries: dict[str, list[EventQuery]]) -> dict[str, list[float]]:
    """Seconds of each ``search`` (100 results), per kind; kinds interleaved."""
    out: dict[str, list[float]] = {k: [] for k in queries}
    for i in range(len(queries["actor"])):
        for kind, qs in queries.items():
            t0 = time.perf_counter()
            store.search(qs[i], READER, limit=100)
            out[kind].append(time.perf_counter() - t0)
    return out


def query_rows(
    prefix: str, n: int, times: dict[str, list[float]], goals: dict[str, float]
) -> list[Row]:
    rows = []
    names = {"actor": "actor + time range", "type": "type + time range", "text": "full-text"}
    for kind, samples in times.items():
        p95 = pct(samples, 95)
        rows.append(
            Row(
                f"{prefix} search: {names[kind]}",
                n,
                f"p50 {ms(pct(samples, 50))}",
                f"p95 {ms(p95)}",
                f"p95 < {goals[kind] * 1000:g} ms",
                p95 < goals[kind],
            )
        )
    return rows


def drop_schema(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    name = f"logaudit_bench_{os.getpid()}"
    try:
        yield name
    finally:
        drop_schema(url, name)


PG_PLAIN_TABLE = (
    "CREATE TABLE events (seq bigint PRIMARY KEY, ts text, ts_us bigint, event_id text,"
    " event_type text, action text, outcome text, actor text, actor_type text, resource text,"
    " source_ip text, source_node text, clearance smallint, details jsonb)"
)
REQUIRED_PG = (
    "ALTER TABLE events ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(jsonb_to_tsvector('simple'::regconfig, details, '[\"string\"]')) STORED",
    "CREATE INDEX events_actor_ts ON events (actor, ts_us)",
    "CREATE INDEX events_type_ts ON events (event_type, ts_us)",
    "CREATE INDEX events_resource_ts ON events (resource, ts_us)",
    "CREATE INDEX events_ts_brin ON events USING brin (ts_us)",
    "CREATE INDEX events_details ON events USING gin (details jsonb_path_ops)",
    "CREATE INDEX events_tsv ON events USING gin (tsv)",
)
"""Issue 4's required PostgreSQL indexes on the plain table (JSONB + GIN, BRIN on time,
actor/type/resource + time, text search over details): the floor, ledger or not."""


def pg_copy_plain(url: str, schema: str, events: list[AuditEvent], indexed: bool) -> float:
    """Seconds to COPY the plain rows of ``events`` in batches (one transaction each)."""
    import psycopg
    from psycopg import sql

    rows = plain_rows(events)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(PG_PLAIN_TABLE)
        for stmt in REQUIRED_PG if indexed else ():
            conn.execute(stmt)
        copy_sql = (
            "COPY events (seq, ts, ts_us, event_id, event_type, action, outcome, actor,"
            " actor_type, resource, source_ip, source_node, clearance, details) FROM STDIN"
        )
        gc.collect()
        t0 = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in rows[i : i + BATCH]:
                    copy.write_row(row)
        elapsed = time.perf_counter() - t0
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return elapsed


def bench_postgres(
    args: argparse.Namespace, events: list[AuditEvent], d: Path, n_queries: int
) -> tuple[list[Row], str | None]:
    """Recording and queries on PostgreSQL, or why they were skipped."""
    url = args.pg_url or pg_test_url()
    reason = pg_unavailable_reason(url)
    if reason is not None:
        return [], reason
    try:
        import logging_audit.audit.postgres_store  # noqa: F401 (is the backend there?)
    except ImportError as exc:  # pragma: no cover - the backend is part of the package
        return [], f"PostgreSQL backend unavailable: {exc}"
    rows: list[Row] = []
    floor_events = events[: args.record_events]
    nf = len(floor_events)
    t_plain = pg_copy_plain(url, f"logaudit_bench_plain_{os.getpid()}", floor_events, False)
    t_req = pg_copy_plain(url, f"logaudit_bench_req_{os.getpid()}", floor_events, True)
    rows.append(Row("PostgreSQL plain COPY (no integrity)", nf, f"{nf / t_plain:,.0f}/s"))
    rows.append(
        Row(
            "PostgreSQL plain COPY + the required indexes",
            nf,
            f"{nf / t_req:,.0f}/s",
            f"{t_plain / t_req:.2f}x of plain",
            note="no integrity: the floor the required indexes set",
        )
    )
    with pg_schema(url) as schema:
        # the recording race: as many events as SQLite's, into a new stream
        store = open_store(url, key_dir=d / "pg-race-keys", schema=schema + "_race")
        try:
            gc.collect()
            t0 = time.perf_counter()
            for i in range(0, nf, BATCH):
                store.append(floor_events[i : i + BATCH])
            rate = nf / (time.perf_counter() - t0)
        finally:
            store.close()
            drop_schema(url, schema + "_race")
        rows.append(
            Row(
                "PostgreSQL batched recording (COPY), full ledger",
                nf,
                f"{rate:,.0f}/s",
                f"{rate * t_req / nf:.2f}x of plain + required indexes",
                ">= 30,000/s",
                rate >= 30_000,
                f"batches of {BATCH}",
            )
        )
        clock = FakeClock(START)
        store = open_store(url, key_dir=d / "pg-keys", schema=schema, clock=clock, node_id="bench")
        try:
            t = populate(store, events, clock)
            rows.append(
                Row(
                    "PostgreSQL recording while growing to N",
                    len(events),
                    f"{len(events) / t:,.0f}/s",
                    note="the population searched below, batches of 1000",
                )
            )
            print(f"PostgreSQL populated {len(events):,} events in {t:.1f} s", flush=True)
            times = time_queries(store, query_set(n_queries))
            goals = {"actor": 0.1, "type": 0.1, "text": 0.1}
            rows.extend(query_rows("PostgreSQL", len(events), times, goals))
        finally:
            store.close()
    return rows, None


# -- 5. bundle export and verification --------------------------------------------------


def bench_bundle(store: AuditStore, last_seq: int, d: Path) -> tuple[float, float, int, int]:
    """Seconds to export a bundle of the events up to ``last_seq``, to verify it; count; bytes."""
    q = EventQuery.build({"seq": {"lte": last_seq}})
    out = d / "bundle.jsonl"
    gc.collect()
    t0 = time.perf_counter()
    result = export_events(store, q, READER, out, format="jsonl", bundle=True)
    t_export = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    report = verify_bundle(out, store.verifier_key)
    t_verify = time.perf_counter() - t0
    if not report.verified:
        raise SystemExit(f"the bundle did not verify: {report.failures[:3]}")
    size = out.stat().st_size
    out.unlink()
    return t_export, t_verify, result.count, size


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--events", type=int, help="events searched (default 100000; --quick 5000)")
    p.add_argument("--record-events", type=int, help="events of the recording race (50000)")
    p.add_argument("--single", type=int, help="single durable appends timed (300)")
    p.add_argument("--queries", type=int, help="queries of each kind (100)")
    p.add_argument("--bundle-events", type=int, help="events in the bundle (100000)")
    p.add_argument(
        "--pg-events", type=int, help="events recorded and searched in PostgreSQL (--events)"
    )
    p.add_argument("--pg-url", help="PostgreSQL URL (default: $LOGAUDIT_TEST_PG_URL or local)")
    p.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL measurements")
    p.add_argument("--quick", action="store_true", help="smoke run: small counts, ~20 s")
    p.add_argument("--dir", type=Path, help="where to make the temporary directory")
    a = p.parse_args(argv)
    q = a.quick
    a.events = a.events or (5_000 if q else 100_000)
    a.record_events = a.record_events or (5_000 if q else 50_000)
    a.single = a.single or (50 if q else 300)
    a.queries = a.queries or (20 if q else 100)
    a.bundle_events = min(a.bundle_events or (5_000 if q else 100_000), a.events)
    a.pg_events = a.pg_events or a.events
    if min(a.events, a.record_events, a.single, a.queries, a.bundle_events, a.pg_events) < 1:
        p.error("counts must be positive")
    return a


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the table."""
    args = parse_args(argv)
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"events={args.events:,} record-events={args.record_events:,} "
        f"bundle-events={args.bundle_events:,} queries={args.queries}",
        flush=True,
    )
    t_all = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="logaudit-bench-audit-", dir=args.dir) as tmp_s:
        tmp = Path(tmp_s)
        print(f"working in {tmp} (removed afterwards)", flush=True)

        rec = make_events(args.record_events, seed=1)
        rec_t = bench_record_sqlite(rec, tmp)
        n = len(rec)
        ratio = rec_t.plain / rec_t.store
        rows.append(
            Row("SQLite plain executemany INSERT (no integrity)", n, f"{n / rec_t.plain:,.0f}/s")
        )
        rows.append(
            Row(
                "SQLite plain + the required indexes and FTS5",
                n,
                f"{n / rec_t.required:,.0f}/s",
                f"{rec_t.plain / rec_t.required:.2f}x of plain",
                note="no integrity: the floor the required indexes set",
            )
        )
        rows.append(
            Row(
                "SQLite batched recording, full ledger",
                n,
                f"{n / rec_t.store:,.0f}/s",
                f"{ratio:.2f}x of plain",
                ">= 0.4x",
                ratio >= 0.4,
                f"{rec_t.required / rec_t.store:.2f}x of plain + required indexes; "
                f"batches of {BATCH}",
            )
        )
        rates = f"store {n / rec_t.store:,.0f}/s, plain {n / rec_t.plain:,.0f}/s"
        print(f"recording: {rates}", flush=True)

        single_events = make_events(args.single + 1, seed=2)
        floor = bench_plain_single(single_events[1:], tmp)
        single = bench_single(single_events, tmp)
        p50 = pct(single, 50)
        rows.append(
            Row(
                "SQLite plain single INSERT+COMMIT (sync=FULL)",
                len(floor),
                f"p50 {ms(pct(floor, 50))}",
                f"p95 {ms(pct(floor, 95))}",
                note="the fsync floor of this disk",
            )
        )
        rows.append(
            Row(
                "SQLite single durable append (sync=FULL)",
                len(single),
                f"p50 {ms(p50)}",
                f"p95 {ms(pct(single, 95))}",
                "p50 < 1 ms",
                p50 < 0.001,
            )
        )

        clock = FakeClock(START)
        store = open_store(tmp / "search.db", clock=clock, node_id="bench", synchronous="NORMAL")
        events = make_events(args.events, seed=3)
        try:
            t = populate(store, events, clock)
            print(f"populated {len(events):,} events in {t:.1f} s", flush=True)
            last_seq = store.size - 1
        finally:
            store.close()
        del events
        gc.collect()
        store = open_store(tmp / "search.db", clock=clock, node_id="bench", synchronous="FULL")
        try:
            times = time_queries(store, query_set(args.queries))
            goals = {"actor": 0.05, "type": 0.05, "text": 0.2}
            rows.extend(query_rows("SQLite", args.events, times, goals))
            print("queries done", flush=True)
            bundle_last = last_seq
            if args.bundle_events < args.events:
                q = EventQuery.build({})
                for i, e in enumerate(store.iter_events(q, READER, batch_size=5000)):
                    if i + 1 == args.bundle_events:
                        bundle_last = e.seq
                        break
            t_exp, t_ver, count, size = bench_bundle(store, bundle_last, tmp)
        finally:
            store.close()
        rows.append(
            Row(
                "bundle export (inclusion proof per event)",
                count,
                f"{t_exp:.2f} s",
                f"{count / t_exp:,.0f} events/s",
                "< 10 s",
                t_exp < 10,
                f"{size / 1e6:.0f} MB JSON Lines",
            )
        )
        rows.append(
            Row(
                "verify_bundle (offline, trusted key)",
                count,
                f"{t_ver:.2f} s",
                f"{count / t_ver:,.0f} events/s",
                "< 10 s",
                t_ver < 10,
            )
        )
        print("bundle done", flush=True)

        if args.no_pg:
            skipped: str | None = "--no-pg"
        else:
            pg_rows, skipped = bench_postgres(
                args, make_events(args.pg_events, seed=5), tmp, args.queries
            )
            rows.extend(pg_rows)
        if skipped:
            print(f"PostgreSQL skipped: {skipped}", flush=True)
            rows.append(Row("PostgreSQL", None, "skipped", note=skipped[:120]))

    print_table(rows)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
