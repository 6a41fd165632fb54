"""Segments rotate by size, each closed one sealed, checkpointed, archived (zstd) and indexed."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import zstandard
from storage_helpers import MakeLogger, checkpoint_sizes, entries, manifest, raw_lines

from logging_audit.crypto import VerifierFile
from logging_audit.ledger import leaf_hash, open_checkpoint, parse_entry, unframe_line
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SMALL_MB = 0.01  # 10485 bytes: the smallest size the options accept is 4096


def _log_many(logger: SecureLogger, n: int) -> None:
    for i in range(n):
        logger.info("record %d", i, extra={"i": i, "pad": "x" * 60})


def _archive_lines(path: Path) -> list[bytes]:
    data = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 24)
    return data.splitlines(keepends=True)


def test_segments_rotate_seal_checkpoint_and_archive(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", verifier_file=verifier)
    _log_many(logger, 250)
    logger.flush()
    root = log_dir / "app"
    m = manifest(root)
    segs = m["segments"]
    assert len(segs) >= 5, "250 records of ~250 bytes must rotate a 10 kB segment several times"
    closed, current = segs[:-1], segs[-1]
    assert current["end_seq"] is None
    assert current["archive"] is None
    assert (root / current["file"]).exists()

    sizes = checkpoint_sizes(root)
    previous_last: bytes | None = None
    next_first = 0
    for seg in closed:
        assert seg["first_seq"] == next_first, "segments must cover the seqs without gaps"
        next_first = seg["end_seq"]
        assert seg["closed_at"].endswith("Z")
        # the original is gone, the archive is zstd, under archive/, with its digest listed
        assert not (root / seg["file"]).exists()
        arch = root / seg["archive"]["file"]
        assert arch.parent == root / "archive"
        assert arch.name.endswith(".jsonl.zst")
        blob = arch.read_bytes()
        assert blob[:4] == ZSTD_MAGIC
        assert seg["archive"]["sha256"] == hashlib.sha256(blob).hexdigest()
        assert seg["archive"]["compression"] == "zstd"
        lines = _archive_lines(arch)
        # bounded size: rotation happens as soon as a write crosses the limit (sync mode)
        assert sum(map(len, lines)) < SMALL_MB * 1024 * 1024 + 1024
        first = parse_entry(unframe_line(lines[0])[0])
        last_raw = unframe_line(lines[-1])[0]
        last = parse_entry(last_raw)
        assert first.seq == seg["first_seq"]
        assert last.seq == seg["end_seq"] - 1
        # each closed segment ends with a seal committing to everything before it
        assert last.fields["ledger"] == "seal"
        assert last.fields["size"] == last.seq
        # ... and gets a checkpoint at its end
        assert seg["end_seq"] in sizes
        # the chain runs on across segments
        if previous_last is not None:
            assert first.prev == leaf_hash(previous_last)
        previous_last = last_raw
    assert current["first_seq"] == next_first
    first_open = parse_entry(unframe_line(raw_lines(root / current["file"])[0])[0])
    assert previous_last is not None
    assert first_open.prev == leaf_hash(previous_last)

    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["seals_verified"] >= len(closed)
    assert report["checkpoints_verified"] >= len(closed)
    assert report["mac_epochs_unchecked"] == []


def test_records_read_back_from_archives_in_order(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync")
    _log_many(logger, 120)
    logger.flush()
    records = list(read_records(log_dir / "app"))
    assert [r.seq for r in records] == list(range(len(records)))
    assert any(r.segment.startswith("archive/") for r in records)
    messages = [r.fields["msg"] for r in records if r.kind == "record"]
    assert messages == [f"record {i}" for i in range(120)]
    assert all(r.status == "ok" for r in records)


def test_without_archiving_closed_segments_stay_with_their_digest(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, durability="sync", archive=False)
    _log_many(logger, 100)
    logger.flush()
    root = log_dir / "app"
    segs = manifest(root)["segments"]
    assert len(segs) >= 2
    for seg in segs[:-1]:
        path = root / seg["file"]
        assert seg["archive"] is None
        assert seg["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entries(path)[-1]["ledger"] == "seal"
    assert list((root / "archive").iterdir()) == []
    assert logger.verify_log_integrity()["verified"] is True


def test_batched_mode_rotates_too(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(max_log_size_mb=SMALL_MB, flush_interval=0.05)
    for _ in range(6):
        _log_many(logger, 40)
        logger.flush()
    assert len(manifest(log_dir / "app")["segments"]) >= 3
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["entries"] >= 240


def test_explicit_rotate_seal_and_checkpoint(make_logger: MakeLogger, log_dir: Path) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(verifier_file=verifier)
    logger.info("one")
    assert logger.seal() is not None
    logger.info("two")
    logger.rotate()
    logger.info("three")
    note = logger.checkpoint()
    root = log_dir / "app"
    material = VerifierFile.load(verifier).material()
    cp = open_checkpoint(note, material.note_verifiers)
    assert cp.origin == "logaudit/node-1/app"
    # one, seal, two, seal (rotation), three
    assert cp.size == 5
    assert checkpoint_sizes(root)[-1] == 5
    assert json.loads((root / "checkpoints.jsonl").read_bytes().splitlines()[-1])["note"] == note
    assert logger.stream.latest_checkpoint() == note
    assert logger.seal() is not None
    assert logger.seal() is None, "an idle epoch has nothing to seal"
    report = logger.verify_log_integrity()
    assert report["verified"] is True
    assert report["unsealed_tail"] is None


def test_seal_interval_advances_epochs(make_logger: MakeLogger, log_dir: Path) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(seal_interval=1, flush_interval=0.05, verifier_file=verifier)
    deadline = time.monotonic() + 3.2
    i = 0
    while time.monotonic() < deadline:
        logger.info("tick %d", i)
        i += 1
        time.sleep(0.02)
    logger.flush()
    lines = entries(log_dir / "app" / "segments" / "00000001.jsonl")
    seals = [e for e in lines if e.get("ledger") == "seal"]
    epochs = [e["epoch"] for e in lines]
    assert len(seals) >= 2
    assert max(epochs) >= 2
    assert epochs == sorted(epochs)
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["seals_verified"] == len(seals)
    assert report["mac_epochs_checked"] == [[0, max(epochs)]]
