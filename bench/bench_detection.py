"""Anomaly detection speed on a large audit store (issue 5's "Speed" goals), measured in one run.

Builds (or reuses, with ``--reuse``) a SQLite audit store of about ``--events``
events (default 1,000,000: the actor count is chosen for it) from the labelled
workload generator: 30 days of baseline plus one day, recorded through
``AuditStore.append`` on a fake clock (events are recorded in 10-minute batches,
since a batch shares one time; durability ``NORMAL`` for the build only).
Then it times, with the store's own code paths:

- learning the 30-day baseline (``AnomalyDetector.learn_baseline``);
- ``analyze_current_activity`` for ``--actors`` people active in the last 24 h
  (baseline in memory; the first call, which loads the baseline file, is
  reported apart);
- streaming scoring: ``AnomalyDetector.observe`` over the last ``--stream``
  stored events (already read), and a ``StoreFollower`` poll that reads and
  scores them (what ``logaudit detect follow`` does).

Usage::

    .venv/bin/python bench/bench_detection.py                  # 1M events (build ~4 min)
    .venv/bin/python bench/bench_detection.py --quick          # 60k events, ~30 s
    .venv/bin/python bench/bench_detection.py --dir /data --reuse

Not a timed test: the table says which goals hold on this machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from logging_audit.anomaly_detection import AnomalyDetector
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.factory import open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.detection.workload import generate_workload
from logging_audit.persistence.models import ClearanceLevel

TITLE = "== logging_audit bench: anomaly detection speed (issue 5) =="
BATCH_SECONDS = 600
EVENTS_PER_ACTOR_DAY = 90  # about what the workload generator produces


def build_store(path: Path, events: int, seed: int) -> tuple[int, float, float]:
    """Record the workload into a new store; return (events, seconds, end time)."""
    days = 31
    actors = max(20, round(events / (EVENTS_PER_ACTOR_DAY * days)))
    w = generate_workload(seed=seed, n_actors=actors, days=days, test_days=1, scenarios_per_kind=2)
    clock = FakeClock(datetime.fromtimestamp(w.start - 60, timezone.utc))
    store = open_store(path, clock=clock, synchronous="NORMAL")
    start = time.perf_counter()
    n, batch, current = 0, [], None
    for e in w.events:  # all of them: a cut would end the store mid-week
        bucket = int(e.ts // BATCH_SECONDS)
        if current is not None and bucket != current and batch:
            clock.now = datetime.fromtimestamp(current * BATCH_SECONDS, timezone.utc)
            n += len(store.append(batch))
            batch = []
        current = bucket
        batch.append(
            AuditEvent(
                event_type=e.event_type,
                action=e.action,
                actor=e.actor,
                actor_type=e.actor_type,
                outcome=e.outcome,
                resource=e.resource,
                source_ip=e.source_ip,
                source_node=e.source_node,
                clearance=ClearanceLevel.coerce(e.clearance),
                details=dict(e.details),
            )
        )
    if batch:
        clock.now = datetime.fromtimestamp((current or 0) * BATCH_SECONDS, timezone.utc)
        n += len(store.append(batch))
    seconds = time.perf_counter() - start
    end = clock.now.timestamp()
    store.close()
    (path.parent / "end.txt").write_text(f"{n} {seconds} {end}")
    return n, seconds, end


def row(label: str, value: str, goal: str = "", met: str = "") -> None:
    print(f"{label:<58} {value:>20}  {goal:<14} {met}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--actors", type=int, default=20, help="actors analysed")
    ap.add_argument("--stream", type=int, default=200_000, help="events scored in streaming")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", type=Path, help="where the store goes (default: a temporary dir)")
    ap.add_argument("--reuse", action="store_true", help="reuse a store built earlier in --dir")
    ap.add_argument("--quick", action="store_true", help="60k events, 5 actors, 20k streamed")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.actors, args.stream = 60_000, 5, 20_000
    tmp = None
    if args.dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="logaudit-bench-detect-"))
        base_dir = tmp
    else:
        base_dir = args.dir
        base_dir.mkdir(parents=True, exist_ok=True)
    db = base_dir / f"detect-{args.events}.db"
    try:
        print(TITLE)
        print(f"python {sys.version.split()[0]}, store {db}")
        marker = base_dir / "end.txt"
        if args.reuse and db.exists() and marker.exists():
            n, build_s, end = (float(x) for x in marker.read_text().split())
            n = int(n)
            print(f"reusing the store: {n:,} events")
        else:
            if db.exists():
                shutil.rmtree(db.with_name(db.name + ".keys"), ignore_errors=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
            n, build_s, end = build_store(db, args.events, args.seed)
            print(f"built the store: {n:,} events in {build_s:.0f} s ({n / build_s:,.0f}/s)")
        clock = FakeClock(datetime.fromtimestamp(end, timezone.utc))
        store: AuditStore = open_store(db, clock=clock)
        models = base_dir / "models"
        shutil.rmtree(models, ignore_errors=True)
        det = AnomalyDetector("medium", store=store, models_dir=models)
        t = time.perf_counter()
        baseline = det.learn_baseline()
        learn_s = time.perf_counter() - t
        print()
        print(f"{'measurement':<58} {'figure':>20}  {'goal':<14} met")
        row(
            "learn 30-day baseline",
            f"{learn_s:.1f} s",
        )
        row(
            "  events learned from / per second",
            f"{baseline.events:,} / {baseline.events / learn_s:,.0f}",
        )
        recent = EventQuery.build(
            {"actor_type": "user"}, start=datetime.fromtimestamp(end - 86400, timezone.utc)
        )
        active = sorted(
            {
                s.event.actor
                for s in store.iter_events(recent, Requestor("bench", ClearanceLevel.LEVEL_5))
            }
        )
        rng = random.Random(args.seed)
        chosen = rng.sample(active, min(args.actors, len(active)))
        cold = AnomalyDetector("medium", store=store, models_dir=models)
        t = time.perf_counter()
        cold.analyze_current_activity(chosen[0])
        cold_ms = (time.perf_counter() - t) * 1000
        timings, sizes = [], []
        for actor in chosen:
            t = time.perf_counter()
            det.analyze_current_activity(actor)
            timings.append((time.perf_counter() - t) * 1000)
            q = EventQuery.build(
                {"actor": actor}, start=datetime.fromtimestamp(end - 86400, timezone.utc)
            )
            sizes.append(store.count(q, Requestor("bench", ClearanceLevel.LEVEL_5)))
        med, p95 = statistics.median(timings), sorted(timings)[int(0.95 * (len(timings) - 1))]
        row(
            f"analyze_current_activity, 24 h vs 30 days, median of {len(timings)}",
            f"{med:.1f} ms",
            "< 100 ms",
            "yes" if med < 100 else "no",
        )
        row(
            "  p95 / max",
            f"{p95:.1f} / {max(timings):.1f} ms",
            "< 100 ms",
            "yes" if p95 < 100 else "no",
        )
        row("  actor events in the window (median)", f"{statistics.median(sizes):.0f}")
        row("  first call of a new detector (loads the baseline file)", f"{cold_ms:.1f} ms")
        size = store.size
        first = max(0, size - args.stream)
        query = EventQuery.build({"seq": {"gte": first}})
        stored = list(
            store.iter_events(query, Requestor("bench", ClearanceLevel.LEVEL_5), batch_size=5000)
        )
        stream_det = AnomalyDetector("medium", store=store, models_dir=models)
        stream_det.get_baseline()
        t = time.perf_counter()
        stream_det.observe(stored)
        obs_s = time.perf_counter() - t
        rate = len(stored) / obs_s
        row(
            f"streaming observe(), {len(stored):,} stored events",
            f"{rate:,.0f} events/s",
            ">= 20k/s",
            "yes" if rate >= 20_000 else "no",
        )
        follow_det = AnomalyDetector("medium", store=store, models_dir=models)
        follower = follow_det.follow(from_seq=first)
        t = time.perf_counter()
        follower.poll_once()
        fol_s = time.perf_counter() - t
        row(
            "  follower poll: read + decode + score",
            f"{follower.events / fol_s:,.0f} events/s",
        )
        store.close()
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
