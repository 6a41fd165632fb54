"""Retention: archives past their age are pruned under a signed prune entry; legal hold stops it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from storage_helpers import MakeLogger, manifest

from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger

SMALL_MB = 0.01


def _fill(logger: SecureLogger, n: int = 120, start: int = 0) -> None:
    for i in range(start, start + n):
        logger.info("record %d", i, extra={"pad": "p" * 60})
    logger.flush()


@pytest.fixture
def verifier(log_dir: Path) -> Path:
    return log_dir.parent / "verifier.json"


def test_prune_removes_archives_and_verification_reports_pruned_by_policy(
    make_logger: MakeLogger, log_dir: Path, verifier: Path
) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", verifier_file=verifier)
    _fill(logger)
    root = log_dir / "app"
    before = manifest(root)["segments"]
    closed = before[:-1]
    assert len(closed) >= 3
    archives = [root / s["archive"]["file"] for s in closed]
    assert all(p.exists() for p in archives)

    assert logger.stream.prune(older_than=timedelta(0)) == len(closed)

    assert not any(p.exists() for p in archives)
    pruned = manifest(root)["pruned"]
    assert pruned["segments"] == [s["id"] for s in closed]
    assert pruned["size"] == closed[-1]["end_seq"]
    for material in (verifier, None):  # with K(0), and with this host's keys only
        report = logger.verify_log_integrity(verifier_file=material)
        assert report["verified"] is True, report["errors"]
        assert report["pruned"] == [
            {
                "first": 0,
                "last": closed[-1]["end_seq"] - 1,
                "reason": "retention: older than 0 days",
                "confirmed": True,
            }
        ]
        assert report["first_seq"] == closed[-1]["end_seq"]
    # the prune itself is a MAC'd entry of the stream
    records = list(read_records(root, where=lambda r: r.kind == "prune"))
    assert len(records) == 1
    assert records[0].fields["size"] == closed[-1]["end_seq"]
    assert records[0].fields["reason"] == "retention: older than 0 days"
    # what remains reads back from the first kept seq on
    kept = list(read_records(root))
    assert kept[0].seq == closed[-1]["end_seq"]


def test_pruned_log_reopens_keeps_appending_and_prunes_again(
    make_logger: MakeLogger, log_dir: Path, verifier: Path
) -> None:
    opts = {"max_log_size_mb": SMALL_MB, "durability": "sync", "verifier_file": verifier}
    logger = make_logger(**opts)
    _fill(logger)
    first = logger.stream.prune(older_than=timedelta(0))
    assert first >= 1
    logger.close()
    logger = make_logger(**opts)
    _fill(logger, start=120)
    second = logger.stream.prune(older_than=timedelta(0))
    assert second >= 1
    segs = manifest(log_dir / "app")["segments"]
    assert manifest(log_dir / "app")["pruned"]["segments"] == [s["id"] for s in segs[:-1]]
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["pruned"][0]["confirmed"] is True
    assert report["pruned"][0]["last"] == segs[-2]["end_seq"] - 1
    logger.info("still going")
    assert logger.verify_log_integrity()["verified"] is True


def test_retention_days_prunes_only_what_is_old_enough(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", retention_days=30)
    _fill(logger)
    now = datetime.now(timezone.utc)
    assert logger.prune() == 0, "nothing is 30 days old yet"
    assert logger.stream.prune(now=now + timedelta(days=29)) == 0
    closed = len(manifest(log_dir / "app")["segments"]) - 1
    assert logger.stream.prune(now=now + timedelta(days=31)) == closed
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["pruned"][0]["reason"] == "retention: older than 30 days"
    assert report["pruned"][0]["confirmed"] is True


def test_without_retention_prune_does_nothing(make_logger: MakeLogger) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync")
    _fill(logger)
    assert logger.prune() == 0


def test_retention_zero_days_prunes_at_every_rotation(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", retention_days=0)
    _fill(logger)
    m = manifest(log_dir / "app")
    assert m["pruned"] is not None
    assert m["pruned"]["segments"] == [s["id"] for s in m["segments"][:-1]]
    assert list((log_dir / "app" / "archive").iterdir()) == []
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]


def test_legal_hold_option_stops_pruning(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", legal_hold=True)
    _fill(logger)
    assert logger.stream.legal_hold is True
    assert logger.stream.prune(older_than=timedelta(0)) == 0
    assert manifest(log_dir / "app")["pruned"] is None
    assert len(list((log_dir / "app" / "archive").iterdir())) >= 2


def test_legal_hold_file_stops_pruning_until_removed(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", retention_days=0)
    (log_dir / "app").mkdir(parents=True, exist_ok=True)
    hold = log_dir / "app" / "LEGAL_HOLD"
    hold.write_text("case 4711\n")
    _fill(logger)
    assert logger.stream.legal_hold is True
    assert manifest(log_dir / "app")["pruned"] is None, "rotation must not prune under hold"
    assert logger.stream.prune(older_than=timedelta(0)) == 0
    hold.unlink()
    assert logger.stream.prune(older_than=timedelta(0)) >= 2
    assert logger.verify_log_integrity()["verified"] is True
