"""Group commit in sync mode: what every thread is told matches what is on disk.

A record is acknowledged when ``info()`` returns. Each test checks that an
acknowledged record was inside the part of its segment that an fsync had
covered at that moment, that threads waiting on a failed or interrupted leader
are told so (or carry on), and that nothing queued is lost or written twice.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, cast

import pytest
from storage_helpers import MakeLogger, entries, manifest

from logging_audit.errors import StorageError
from logging_audit.ledger.seals import SEAL
from logging_audit.storage.files import stream as stream_module
from logging_audit.storage.files.segment_file import SegmentFile
from logging_audit.storage.files.stream import FileStream

SMALL_MB = 0.01  # 10485 bytes: several rotations in a few hundred records
THREADS = 8


class FsyncedBytes:
    """How many bytes of each segment a finished fsync has covered (a patched ``sync``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.covered: dict[str, int] = {}
        self._lock = threading.Lock()
        real = SegmentFile.sync

        def sync(seg: SegmentFile) -> None:
            size = os.fstat(seg.fd).st_size  # written before the fsync starts: covered by it
            real(seg)
            with self._lock:
                self.covered[seg.path.name] = max(self.covered.get(seg.path.name, 0), size)

        monkeypatch.setattr(SegmentFile, "sync", sync)

    def snapshot(self) -> dict[str, int]:
        """The bytes covered so far, per segment file name."""
        with self._lock:
            return dict(self.covered)


class CountingDeque(deque[Any]):
    """A deque that says when it has held ``n`` items (to know that threads are waiting)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.full = threading.Event()

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) >= self.n:
            self.full.set()


def _run_threads(work: Any, n: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def body(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def _segment_lines(stream_dir: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(segment file name, offset just past the line, entry) for every line, in log order."""
    out = []
    for seg in manifest(stream_dir)["segments"]:
        path = stream_dir / seg["file"]
        end = 0
        for line in path.read_bytes().splitlines(keepends=True):
            end += len(line)
            out.append((path.name, end, json.loads(line)))
    return out


def test_every_acknowledged_record_was_fsynced_in_order_across_rotations(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsynced = FsyncedBytes(monkeypatch)
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(
        durability="sync",
        max_log_size_mb=SMALL_MB,
        archive=False,
        flush_interval=60,
        verifier_file=verifier,
    )
    per_thread = 60
    acks: list[tuple[int, int, dict[str, int]]] = []
    acks_lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(per_thread):
            logger.info("t%d #%d", t, i, extra={"t": t, "i": i, "pad": "x" * 40})
            covered = fsynced.snapshot()
            with acks_lock:
                acks.append((t, i, covered))

    assert _run_threads(work, THREADS) == []
    assert len(acks) == THREADS * per_thread
    root = log_dir / "app"
    lines = _segment_lines(root)
    where = {
        (e["extra"]["t"], e["extra"]["i"]): (name, end) for name, end, e in lines if "extra" in e
    }
    for t, i, covered in acks:
        name, end = where[(t, i)]
        assert covered.get(name, 0) >= end, f"t{t} #{i} was acknowledged before its fsync"
    # one thread's records are in its own order; seqs run on without a gap or a repeat
    for t in range(THREADS):
        mine = [e["extra"]["i"] for _, _, e in lines if e.get("extra", {}).get("t") == t]
        assert mine == list(range(per_thread))
    assert [e["seq"] for _, _, e in lines] == list(range(len(lines)))
    # every closed segment ends with its seal
    segs = manifest(root)["segments"]
    assert len(segs) >= 4, "the records must rotate the 10 kB segment several times"
    for seg in segs[:-1]:
        assert entries(root / seg["file"])[-1].get("ledger") == SEAL
    report = logger.verify_log_integrity(verifier_file=verifier)
    assert report["verified"] is True, report["errors"][:5]


def test_a_failed_write_fails_every_waiting_thread_and_keeps_their_records(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = make_logger(durability="sync", flush_interval=60)
    logger.info("before")
    stream = logger.stream
    waiting = CountingDeque(4)
    stream._waiters = waiting
    leader_writes = threading.Event()
    real_write = SegmentFile.write

    def write(seg: SegmentFile, data: bytes) -> None:
        if b'"msg":"leader"' in data and not leader_writes.is_set():
            leader_writes.set()
            waiting.full.wait()  # the others queued behind this write: it fails for all
            raise StorageError(f"cannot write to {seg.path}: No space left on device")
        real_write(seg, data)

    monkeypatch.setattr(SegmentFile, "write", write)
    outcome: dict[str, str] = {}

    def call(msg: str) -> None:
        try:
            logger.info(msg)
            outcome[msg] = "ok"
        except StorageError as exc:
            outcome[msg] = str(exc)

    leader = threading.Thread(target=call, args=("leader",))
    leader.start()
    leader_writes.wait()
    others = [threading.Thread(target=call, args=(f"waiter {k}",)) for k in range(4)]
    for th in others:
        th.start()
    for th in [leader, *others]:
        th.join()
    assert len(outcome) == 5
    assert all("No space left" in v for v in outcome.values()), outcome
    logger.info("after")  # the disk takes writes again: the queued records go first
    msgs = [e["msg"] for e in entries(log_dir / "app" / "segments" / "00000001.jsonl")]
    assert msgs[:2] == ["before", "leader"]
    assert sorted(msgs[2:6]) == [f"waiter {k}" for k in range(4)]
    assert msgs[6:] == ["after"]
    assert logger.verify_log_integrity()["verified"] is True


class Interrupt(BaseException):
    """Stands for a KeyboardInterrupt raised in the leader."""


def test_an_interrupted_leader_hands_the_lead_on(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = make_logger(durability="sync", flush_interval=60)
    stream = logger.stream
    waiting = CountingDeque(4)
    stream._waiters = waiting
    leading = threading.Event()
    real_flush = FileStream._flush_locked

    def flush(self: FileStream, sync: bool, shared: bool) -> None:
        if not leading.is_set():
            leading.set()
            waiting.full.wait()
            raise Interrupt
        real_flush(self, sync, shared)

    monkeypatch.setattr(FileStream, "_flush_locked", flush)
    outcome: dict[str, str] = {}

    def call(msg: str) -> None:
        try:
            logger.info(msg)
            outcome[msg] = "ok"
        except Interrupt:
            outcome[msg] = "interrupted"

    leader = threading.Thread(target=call, args=("leader",))
    leader.start()
    leading.wait()
    others = [threading.Thread(target=call, args=(f"waiter {k}",)) for k in range(4)]
    for th in others:
        th.start()
    for th in [leader, *others]:
        th.join()
    assert outcome == {"leader": "interrupted", **{f"waiter {k}": "ok" for k in range(4)}}
    msgs = [e["msg"] for e in entries(log_dir / "app" / "segments" / "00000001.jsonl")]
    # the interrupted call's record was queued: the next leader wrote it with the others
    assert sorted(msgs) == sorted(["leader", *(f"waiter {k}" for k in range(4))])
    assert not stream._leading
    logger.info("after")
    assert logger.verify_log_integrity()["verified"] is True


def test_a_waiter_interrupted_before_its_turn_leaves_the_queue(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = make_logger(durability="sync", flush_interval=60)
    stream = logger.stream
    plain_waiter = stream_module._Waiter

    class InterruptedWaiter(stream_module._Waiter):
        def __init__(self, ticket: int) -> None:
            super().__init__(ticket)
            self.lock = cast(Any, FailingLock(self.lock))

    class FailingLock:
        def __init__(self, lock: threading.Lock) -> None:
            self.lock = lock

        def acquire(self) -> bool:
            raise Interrupt

        def release(self) -> None:
            self.lock.release()

    monkeypatch.setattr(stream_module, "_Waiter", InterruptedWaiter)
    with stream._lock:
        stream._leading = True  # as if another thread were writing and fsyncing now
    with pytest.raises(Interrupt):
        logger.info("interrupted")
    assert list(stream._waiters) == []  # no leader will wake a thread that left
    with stream._lock:
        stream._leading = False
    monkeypatch.setattr(stream_module, "_Waiter", plain_waiter)
    logger.info("next")
    msgs = [e["msg"] for e in entries(log_dir / "app" / "segments" / "00000001.jsonl")]
    assert msgs == ["interrupted", "next"]  # queued, never acknowledged, written with the next
    assert logger.verify_log_integrity()["verified"] is True
