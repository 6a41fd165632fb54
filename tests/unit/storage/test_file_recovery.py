"""Durability and recovery: sync mode, group commit, torn lines, leftovers of a crash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from storage_helpers import NODE, MakeLogger, entries, manifest

from logging_audit.errors import IntegrityError, StorageError
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger

TORN = b'{"enc":null,"epoch":0,"level":"INFO","msg":"half a li'


def _segment(log_dir: Path, n: int = 1) -> Path:
    return log_dir / "app" / "segments" / f"{n:08d}.jsonl"


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the fds passed to ``os.fsync`` (each call takes 2 ms, like a real disk)."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        time.sleep(0.002)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_sync_mode_returns_after_the_record_is_written_and_fsynced(
    make_logger: MakeLogger, log_dir: Path, fsyncs: list[int]
) -> None:
    logger = make_logger(durability="sync", flush_interval=60)
    seg_fd = logger.stream._seg.fd
    for i in range(5):
        before = len(fsyncs)
        logger.info("durable %d", i)
        # no flush, no close: it is in the file, and the segment was fsynced for it
        assert entries(_segment(log_dir))[-1]["msg"] == f"durable {i}"
        assert seg_fd in fsyncs[before:]


def test_group_commit_eight_threads_in_sync_mode(
    make_logger: MakeLogger, log_dir: Path, fsyncs: list[int]
) -> None:
    logger = make_logger(durability="sync", flush_interval=60)
    seg_fd = logger.stream._seg.fd
    per_thread = 40
    acked: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(per_thread):
            logger.info("t%d #%d", t, i, extra={"t": t, "i": i})
            with lock:
                acked.append((t, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(acked) == 8 * per_thread
    lines = entries(_segment(log_dir))
    got = {(e["extra"]["t"], e["extra"]["i"]) for e in lines if "extra" in e}
    assert got == set(acked)
    assert [e["seq"] for e in lines] == list(range(len(lines)))
    segment_fsyncs = fsyncs.count(seg_fd)
    assert segment_fsyncs < 8 * per_thread / 2, "threads must share fsyncs (group commit)"
    assert logger.verify_log_integrity()["verified"] is True


def test_batched_mode_writes_within_the_flush_interval(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(flush_interval=0.1)
    logger.info("soon on disk")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _segment(log_dir).stat().st_size:
            break
        time.sleep(0.02)
    assert entries(_segment(log_dir))[0]["msg"] == "soon on disk"


def _reopen(log_dir: Path, **kw: object) -> SecureLogger:
    return SecureLogger(name="app", log_dir=log_dir, node_id=NODE, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "torn",
    [TORN, b"{", b"\x00" * 300, b'{"epoch":0,"seq":3}'],
    ids=["half-line", "one-byte", "nul-block", "no-mac"],
)
def test_reopening_cuts_a_torn_last_line_and_logs_the_cut(
    make_logger: MakeLogger, log_dir: Path, torn: bytes
) -> None:
    logger = make_logger()
    for i in range(3):
        logger.info("before crash %d", i)
    logger.close()
    seg = _segment(log_dir)
    good = seg.read_bytes()
    with seg.open("ab") as f:
        f.write(torn)
    logger = make_logger()
    data = seg.read_bytes()
    assert data.startswith(good)
    assert data.endswith(b"\n")
    after = [json.loads(line) for line in data[len(good) :].splitlines()]
    assert [e["msg"] for e in after] == ["cut a torn last line left by a crash"]
    cut = [r for r in read_records(log_dir / "app") if r.fields.get("logger") == "logaudit"]
    assert len(cut) == 1
    assert cut[0].level == "WARNING"
    assert "cut a torn last line" in cut[0].fields["msg"]
    assert cut[0].fields["extra"] == {
        "segment": seg.name,
        "offset": len(good),
        "bytes": len(torn),
        "sha256": hashlib.sha256(torn).hexdigest(),
        "reason": cut[0].fields["extra"]["reason"],
    }
    logger.info("after recovery")
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]


def test_a_corrupt_line_inside_the_open_segment_is_an_error_naming_it(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    for i in range(3):
        logger.info("line %d", i)
    logger.close()
    seg = _segment(log_dir)
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[1] = b"this is not a log line\n"
    seg.write_bytes(b"".join(lines))
    with pytest.raises(StorageError, match=re.escape(f"segment {seg} is corrupt at line 2")):
        _reopen(log_dir)


def test_a_foreign_open_segment_is_an_error_naming_it(
    make_logger: MakeLogger, log_dir: Path, tmp_path: Path
) -> None:
    ours = make_logger()
    theirs = make_logger(log_dir=tmp_path / "other")
    for logger in (ours, theirs):
        for i in range(4):
            logger.info("line %d", i)
        logger.rotate()
        for i in range(4):
            logger.info("second segment line %d", i)
        logger.close()
    seg = _segment(log_dir, 2)
    seg.write_bytes(_segment(tmp_path / "other", 2).read_bytes())
    with pytest.raises(IntegrityError, match=re.escape(f"segment {seg} line 1 does not continue")):
        _reopen(log_dir)


def test_a_crash_during_rotation_leaves_an_empty_segment_that_is_reused(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    logger.info("first")
    _segment(log_dir, 2).touch()  # created just before the crash, not in the manifest yet
    logger.rotate()
    logger.info("second")
    assert [s["file"] for s in manifest(log_dir / "app")["segments"]][-1] == (
        "segments/00000002.jsonl"
    )
    assert logger.verify_log_integrity()["verified"] is True


def test_a_stray_next_segment_stops_rotation_cleanly(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    logger.info("first")
    stray = _segment(log_dir, 2)
    stray.write_bytes(b"not ours\n")
    with pytest.raises(StorageError, match=re.escape(f"segment {stray} already exists")):
        logger.rotate()
    # nothing changed: the log goes on in its segment and verifies
    logger.info("still writing")
    assert len(manifest(log_dir / "app")["segments"]) == 1
    assert logger.verify_log_integrity()["verified"] is True
    stray.unlink()
    logger.rotate()
    logger.info("rotated at last")
    assert logger.verify_log_integrity()["verified"] is True


def test_key_file_left_one_epoch_behind_is_evolved_on_reopen(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing a seal and saving the evolved key must not brick the log."""
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(verifier_file=verifier)
    logger.info("sealed soon")
    key_file = log_dir / "app" / "keys" / "signing.json"
    before = key_file.read_bytes()
    logger.seal()
    logger.info("in the next epoch")
    logger.close()
    key_file.write_bytes(before)  # as if the key file was never advanced
    assert json.loads(key_file.read_bytes())["epoch"] == 0
    logger = make_logger()
    logger.info("after reopening")
    assert json.loads(key_file.read_bytes())["epoch"] >= 2
    report = logger.verify_log_integrity(verifier_file=verifier)
    assert report["verified"] is True, report["errors"]


def test_close_is_sealed_and_idempotent_and_verify_still_works(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    logger.info("x")
    logger.close()
    logger.close()
    lines = entries(_segment(log_dir))
    assert lines[-1]["ledger"] == "seal"
    report = logger.verify_log_integrity()
    assert report["verified"] is True
    assert report["unsealed_tail"] is None
    with pytest.raises(StorageError, match="closed"):
        logger.info("after close")
