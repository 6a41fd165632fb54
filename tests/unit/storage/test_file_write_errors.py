"""Failed writes: nothing torn, nothing lost, nothing written twice, and the log still verifies."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from storage_helpers import MakeLogger, entries

from logging_audit.errors import StorageError
from logging_audit.storage.files.segment_file import SegmentFile


class Disk:
    """Makes segment writes (and optionally fsyncs) fail while ``full`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.fsync_fails = False
        self.refused = 0
        real_write, real_sync = SegmentFile.write, SegmentFile.sync

        def write(seg: SegmentFile, data: bytes) -> None:
            if self.full:
                self.refused += 1
                raise StorageError(f"cannot write to {seg.path}: No space left on device")
            real_write(seg, data)

        def sync(seg: SegmentFile) -> None:
            if self.fsync_fails:
                self.fsync_fails = False
                raise StorageError(f"cannot fsync {seg.path}: Input/output error")
            real_sync(seg)

        monkeypatch.setattr(SegmentFile, "write", write)
        monkeypatch.setattr(SegmentFile, "sync", sync)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    return Disk(monkeypatch)


def _msgs(log_dir: Path) -> list[str]:
    return [
        e["msg"] for e in entries(log_dir / "app" / "segments" / "00000001.jsonl") if "msg" in e
    ]


def test_sync_mode_raises_from_the_call_and_keeps_the_record(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger(durability="sync")
    logger.info("one")
    disk.full = True
    with pytest.raises(StorageError, match="No space left"):
        logger.info("two")
    with pytest.raises(StorageError, match="No space left"):
        logger.info("three")  # refused while the disk is full: never acknowledged
    disk.full = False
    logger.info("four")
    assert _msgs(log_dir) == ["one", "two", "four"]
    assert logger.verify_log_integrity()["verified"] is True


def test_batched_mode_raises_from_flush_and_the_next_call(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger(flush_interval=60)
    logger.info("one")
    logger.flush()
    disk.full = True
    logger.info("two")  # queued
    with pytest.raises(StorageError, match="No space left"):
        logger.flush()
    with pytest.raises(StorageError, match="No space left"):
        logger.info("three")  # refused while the disk is full
    disk.full = False
    logger.info("four")
    logger.flush()
    assert _msgs(log_dir) == ["one", "two", "four"]
    assert logger.verify_log_integrity()["verified"] is True


def test_a_failure_of_the_background_flusher_reaches_the_next_call(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger(flush_interval=0.05)
    disk.full = True
    logger.info("one")
    deadline = time.monotonic() + 5
    while logger.stream._error is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the background flusher failed and keeps the error for the caller
    assert disk.refused >= 1
    with pytest.raises(StorageError, match="No space left"):
        logger.info("two")
    disk.full = False
    logger.info("three")
    logger.flush()
    assert _msgs(log_dir) == ["one", "three"]
    assert logger.verify_log_integrity()["verified"] is True


def test_a_seal_that_cannot_be_written_leaves_the_log_consistent(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(durability="sync", verifier_file=verifier)
    logger.info("one")
    disk.full = True
    with pytest.raises(StorageError):
        logger.seal()
    disk.full = False
    logger.info("two")
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    logger.seal()
    logger.info("three")
    logger.close()
    logger = make_logger(durability="sync")
    logger.info("four")
    report = logger.verify_log_integrity(verifier_file=verifier)
    assert report["verified"] is True, report["errors"]
    assert _msgs(log_dir) == ["one", "two", "three", "four"]


def test_close_on_a_full_disk_raises_and_reopening_recovers(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger()
    logger.info("one")
    logger.flush()
    logger.info("two")
    disk.full = True
    with pytest.raises(StorageError):
        logger.close()
    disk.full = False
    logger = make_logger()
    logger.info("three")
    assert logger.verify_log_integrity()["verified"] is True
    assert _msgs(log_dir)[0] == "one"


def test_a_failed_fsync_does_not_write_records_twice(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger(durability="sync")
    logger.info("one")
    disk.fsync_fails = True
    with pytest.raises(StorageError, match="fsync"):
        logger.info("two")
    logger.info("three")
    assert _msgs(log_dir) == ["one", "two", "three"]
    assert logger.verify_log_integrity()["verified"] is True


def test_a_prune_that_cannot_be_written_changes_nothing(
    make_logger: MakeLogger, log_dir: Path, disk: Disk
) -> None:
    logger = make_logger(max_log_size_mb=0.01, durability="sync")
    for i in range(80):
        logger.info("record %d", i, extra={"pad": "p" * 60})
    logger.flush()  # closed segments are archived in the background; flush() finishes that
    archives = sorted((log_dir / "app" / "archive").iterdir())
    assert len(archives) >= 2
    disk.full = True
    with pytest.raises(StorageError):
        logger.stream.prune(older_than=timedelta(0))
    disk.full = False
    assert sorted((log_dir / "app" / "archive").iterdir()) == archives
    assert logger.verify_log_integrity()["verified"] is True
    assert logger.stream.prune(older_than=timedelta(0)) == len(archives)
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["pruned"][0]["confirmed"] is True
