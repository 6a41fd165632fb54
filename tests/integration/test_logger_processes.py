"""Several real processes appending to one log (``multiprocess=True``), and what they must not do.

Workers are started with the ``spawn`` method (a fresh interpreter each, like gunicorn
workers after exec), so nothing is shared with the test process but the files.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from logging_audit.errors import StorageError
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger

NODE = "node-1"
SMALL_MB = 0.01

ctx = multiprocessing.get_context("spawn")


def _options(**kw: Any) -> dict[str, Any]:
    return {
        "name": "shared",
        "node_id": NODE,
        "multiprocess": True,
        "max_log_size_mb": SMALL_MB,
        "encryption_enabled": True,  # every writer must see the data keys the others make
        **kw,
    }


def _worker(log_dir: str, worker: int, n: int, durability: str, start: Any) -> None:
    logger = SecureLogger(log_dir=log_dir, **_options(durability=durability, flush_interval=0.02))
    start.wait()
    for j in range(n):
        logger.info("worker %d record %d", worker, j, extra={"w": worker, "j": j, "pad": "p" * 40})
        if durability == "batched" and j % 10 == 9:
            logger.flush()
    logger.close()


def _acking_worker(log_dir: str, worker: int, n: int, ack_path: str, start: Any) -> None:
    """Logs in sync mode and records every acknowledged record in its own ack file."""
    logger = SecureLogger(log_dir=log_dir, **_options(durability="sync"))
    start.wait()
    with open(ack_path, "a", buffering=1) as acks:
        for j in range(n):
            logger.info("worker %d record %d", worker, j, extra={"w": worker, "j": j})
            acks.write(f"{j}\n")
    logger.close()


def _by_worker(stream: Path) -> dict[int, list[int]]:
    got: dict[int, list[int]] = defaultdict(list)
    for rec in read_records(stream):
        extra = rec.fields.get("extra")
        if rec.kind == "record" and isinstance(extra, dict) and "w" in extra:
            got[extra["w"]].append(extra["j"])
    return got


@pytest.mark.slow
def test_four_processes_share_one_log_with_rotation(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    verifier = tmp_path / "verifier.json"
    parent = SecureLogger(log_dir=log_dir, verifier_file=verifier, **_options(durability="sync"))
    try:
        parent.info("parent starts the workers")
        start = ctx.Barrier(4)
        modes = ["batched", "batched", "batched", "sync"]
        procs = [
            ctx.Process(target=_worker, args=(str(log_dir), w, 500, modes[w], start))
            for w in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        parent.info("parent saw the workers finish")
        report = parent.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
        assert report["mac_epochs_unchecked"] == []
    finally:
        parent.close()
    stream = log_dir / "shared"
    records = list(read_records(stream))
    assert all(r.status == "ok" for r in records), "no torn or interleaved line"
    assert [r.seq for r in records] == list(range(len(records))), "no fork, no gap"
    got = _by_worker(stream)
    assert sorted(got) == [0, 1, 2, 3]
    for w in range(4):
        assert got[w] == list(range(500)), f"worker {w}: lost, duplicated or reordered records"
    msgs = [r.fields.get("msg") for r in records if r.fields.get("logger") == "shared"]
    assert msgs[0] == "parent starts the workers"
    assert msgs[-1] == "parent saw the workers finish"
    manifest = json.loads((stream / "manifest.json").read_bytes())
    assert len(manifest["segments"]) >= 10, "the workers rotated the shared log"
    assert all(s["archive"] is not None for s in manifest["segments"][:-1])


@pytest.mark.slow
def test_a_writer_killed_mid_run_costs_nothing_acknowledged(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    SecureLogger(log_dir=log_dir, **_options()).close()
    start = ctx.Barrier(3)
    acks = [tmp_path / f"acks-{w}.txt" for w in range(3)]
    procs = [
        ctx.Process(target=_acking_worker, args=(str(log_dir), w, 200, str(acks[w]), start))
        for w in range(3)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if acks[0].exists() and len(acks[0].read_text().splitlines()) >= 40:
            break
        time.sleep(0.01)
    assert procs[0].pid is not None
    os.kill(procs[0].pid, signal.SIGKILL)
    for p in procs:
        p.join(120)
    assert procs[0].exitcode == -signal.SIGKILL
    assert [p.exitcode for p in procs[1:]] == [0, 0]
    with SecureLogger(log_dir=log_dir, **_options()) as logger:
        report = logger.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    got = _by_worker(log_dir / "shared")
    for w in range(3):
        acked = [int(x) for x in acks[w].read_text().split()]
        assert set(acked) <= set(got[w]), f"worker {w} lost acknowledged records"
        assert got[w] == sorted(set(got[w])), f"worker {w}: duplicated or reordered"
    assert got[1] == got[2] == list(range(200))


def test_writers_of_a_shared_encrypted_log_use_each_others_keys(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    kw = _options(durability="sync", encrypt_archives=True)
    first = SecureLogger(log_dir=log_dir, **kw)
    second = SecureLogger(log_dir=log_dir, **kw)
    try:
        for i in range(60):  # each rotation makes new data keys, in whichever writer rotates
            first.info("first %d", i, extra={"w": 0, "j": i, "pad": "p" * 80})
            second.info("second %d", i, extra={"w": 1, "j": i, "pad": "p" * 80})
        report = second.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    finally:
        first.close()
        second.close()
    stream = log_dir / "shared"
    manifest = json.loads((stream / "manifest.json").read_bytes())
    assert len(manifest["segments"]) >= 4
    assert len({s["kid"] for s in manifest["segments"]}) == len(manifest["segments"])
    assert all(r.status == "ok" for r in read_records(stream))
    assert _by_worker(stream) == {0: list(range(60)), 1: list(range(60))}


def test_a_prune_by_one_writer_is_kept_by_the_others(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    kw = _options(durability="sync")
    first = SecureLogger(log_dir=log_dir, **kw)
    second = SecureLogger(log_dir=log_dir, **kw)
    try:
        for i in range(40):
            first.info("first %d", i, extra={"w": 0, "j": i, "pad": "p" * 80})
            second.info("second %d", i, extra={"w": 1, "j": i, "pad": "p" * 80})
        pruned = first.stream.prune(older_than=timedelta(0))
        assert pruned >= 2
        for i in range(40, 80):  # the other writer rotates: it must not forget the prune
            second.info("second %d", i, extra={"w": 1, "j": i, "pad": "p" * 80})
        manifest = json.loads((log_dir / "shared" / "manifest.json").read_bytes())
        assert manifest["pruned"] is not None
        assert len(manifest["pruned"]["segments"]) == pruned
        for logger in (first, second):
            report = logger.verify_log_integrity()
            assert report["verified"] is True, report["errors"][:5]
            assert report["pruned"][0]["confirmed"] is True
    finally:
        first.close()
        second.close()


def test_a_torn_line_left_by_a_dead_writer_is_cut_by_the_others(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    first = SecureLogger(log_dir=log_dir, **_options(durability="sync"))
    second = SecureLogger(log_dir=log_dir, **_options(durability="sync"))
    try:
        first.info("before the crash")
        segment = log_dir / "shared" / "segments" / "00000001.jsonl"
        good = segment.read_bytes()
        with segment.open("ab") as f:  # what a writer killed in the middle of write() leaves
            f.write(b'{"epoch":0,"level":"INFO","logger":"shared","msg":"half')
        second.info("from the second writer")
        first.info("from the first writer again")
        second.flush()
        data = segment.read_bytes()
        assert data.startswith(good)
        assert b'"msg":"half' not in data
        assert data.endswith(b"\n")
        records = list(read_records(log_dir / "shared"))
        assert all(r.status == "ok" for r in records)
        msgs = [r.fields.get("msg") for r in records if r.kind == "record"]
        assert msgs[0] == "before the crash"
        assert "from the second writer" in msgs
        assert "from the first writer again" in msgs
        assert "cut a torn last line left by a crash" in msgs
        report = first.verify_log_integrity()
        assert report["verified"] is True, report["errors"]
    finally:
        first.close()
        second.close()


_OPEN_IN_CHILD = """
import sys
from logging_audit.secure_logger import SecureLogger
try:
    SecureLogger(name="shared", log_dir=sys.argv[1], node_id="node-1",
                 multiprocess=sys.argv[2] == "mp").close()
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc))
else:
    print("opened")
"""


def _open_in_child(log_dir: Path, mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_CHILD, str(log_dir), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(("holder", "opener"), [("excl", "excl"), ("excl", "mp"), ("mp", "excl")])
def test_a_second_process_without_multiprocess_is_refused(
    tmp_path: Path, holder: str, opener: str
) -> None:
    log_dir = tmp_path / "logs"
    logger = SecureLogger(log_dir=log_dir, **_options(multiprocess=holder == "mp"))
    try:
        logger.info("held")
        out = _open_in_child(log_dir, opener)
        assert out.startswith("StorageError: "), out
        assert f"stream {log_dir / 'shared'} is open in another process" in out
        assert "multiprocess=True" in out
    finally:
        logger.close()
    assert _open_in_child(log_dir, opener) == "opened", "closing releases the log"


def test_two_multiprocess_writers_may_share(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    logger = SecureLogger(log_dir=log_dir, **_options())
    try:
        assert _open_in_child(log_dir, "mp") == "opened"
    finally:
        logger.close()


def _fork(child: Callable[[], None]) -> int:
    """Run ``child`` in a forked process (as gunicorn --preload forks its workers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            child()
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_shared_log_opened_before_fork_is_reopened_in_each_child(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    logger = SecureLogger(log_dir=log_dir, **_options(flush_interval=60))
    try:
        logger.info("queued in the parent before fork", extra={"w": 9, "j": 0})

        def worker(w: int) -> Callable[[], None]:
            def run() -> None:
                for j in range(50):
                    logger.info("child %d record %d", w, j, extra={"w": w, "j": j})
                logger.close()

            return run

        assert [_fork(worker(w)) for w in range(2)] == [0, 0]
        logger.info("parent after the children", extra={"w": 9, "j": 1})
        report = logger.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    finally:
        logger.close()
    stream = log_dir / "shared"
    records = list(read_records(stream))
    assert [r.seq for r in records] == list(range(len(records)))
    assert _by_worker(stream) == {0: list(range(50)), 1: list(range(50)), 9: [0, 1]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_an_exclusive_log_opened_before_fork_refuses_the_child(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    logger = SecureLogger(log_dir=log_dir, **_options(multiprocess=False))
    try:
        logger.info("parent")

        def child() -> None:
            with pytest.raises(StorageError, match=r"opened before fork\(\) without multi"):
                logger.info("child")
            with pytest.raises(StorageError, match="post_fork"):
                logger.info("child")

        assert _fork(child) == 0
        logger.info("parent again")
        report = logger.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    finally:
        logger.close()
    msgs = [r.fields["msg"] for r in read_records(log_dir / "shared") if r.kind == "record"]
    assert msgs == ["parent", "parent again"]
