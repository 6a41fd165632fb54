"""Reading logs back: order, decryption status, filters, unreadable lines, following a live log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logging_audit.errors import ConfigError
from logging_audit.reader import Record, RecordFilter, follow_records, read_records
from logging_audit.secure_logger import SecureLogger

NODE = "node-1"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def logger(log_dir: Path) -> Iterator[SecureLogger]:
    lg = SecureLogger(name="app", log_dir=log_dir, node_id=NODE, log_level="DEBUG")
    yield lg
    lg.close()


def _fill(logger: SecureLogger) -> None:
    logger.debug("debug detail")
    logger.info("user alice logged in", extra={"user": "alice"})
    logger.warning("disk almost full", extra={"pct": 91})
    logger.seal()
    logger.error("payment failed for ORDER-17")
    logger.critical("database down")
    logger.flush()


def test_records_in_order_with_their_place(logger: SecureLogger, log_dir: Path) -> None:
    _fill(logger)
    everything = list(read_records(log_dir / "app"))
    assert [r.seq for r in everything] == list(range(6))
    assert [r.kind for r in everything] == ["record"] * 3 + ["seal"] + ["record"] * 2
    assert [r.line for r in everything] == list(range(1, 7))
    assert {r.segment for r in everything} == {"segments/00000001.jsonl"}
    assert [r.epoch for r in everything] == [0, 0, 0, 0, 1, 1]
    first = everything[1]
    assert first.level == "INFO"
    d = first.to_dict()
    assert d["seq"] == 1
    assert d["msg"] == "user alice logged in"
    assert d["extra"] == {"user": "alice"}
    assert d["_status"] == "ok"
    assert d["_at"] == "segments/00000001.jsonl:2"
    assert list(d)[:3] == ["seq", "ts", "epoch"]


def test_filters(logger: SecureLogger, log_dir: Path) -> None:
    _fill(logger)

    def msgs(f: RecordFilter) -> list[str]:
        return [r.fields.get("msg", r.kind) for r in read_records(log_dir / "app", where=f)]

    assert msgs(RecordFilter.build(level="warning")) == [
        "disk almost full",
        "payment failed for ORDER-17",
        "database down",
    ]
    assert msgs(RecordFilter.build(text="ALICE")) == ["user alice logged in"]
    assert msgs(RecordFilter.build(regex=r"ORDER-\d+")) == ["payment failed for ORDER-17"]
    assert msgs(RecordFilter.build(text="91")) == ["disk almost full"]  # extra is searched too
    assert len(msgs(RecordFilter.build())) == 5
    assert "seal" in msgs(RecordFilter.build(include_ledger=True))
    now = datetime.now(timezone.utc)
    assert len(msgs(RecordFilter.build(since=now - timedelta(minutes=5)))) == 5
    assert msgs(RecordFilter.build(since=now + timedelta(minutes=5))) == []
    assert msgs(RecordFilter.build(until="2000-01-01T00:00:00Z")) == []
    assert len(msgs(RecordFilter.build(until=(now + timedelta(minutes=5)).isoformat()))) == 5


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"level": "LOUD"}, "unknown level"),
        ({"regex": "(unclosed"}, "invalid regular expression"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_filters_are_config_errors(kw: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RecordFilter.build(**kw)  # type: ignore[arg-type]


def test_not_a_stream_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a logaudit stream"):
        list(read_records(tmp_path))


def test_an_unreadable_line_is_shown_not_skipped(logger: SecureLogger, log_dir: Path) -> None:
    _fill(logger)
    logger.close()
    seg = log_dir / "app" / "segments" / "00000001.jsonl"
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[2] = b"garbage that is not a framed entry\n"
    seg.write_bytes(b"".join(lines))
    recs = list(read_records(log_dir / "app"))
    assert len(recs) == 7  # 6 lines + the seal of close()
    bad = recs[2]
    assert bad.status == "unreadable"
    assert bad.seq is None
    assert bad.fields["raw"] == "garbage that is not a framed entry"
    assert bad.line == 3
    assert [r.seq for r in recs[3:]] == [3, 4, 5, 6]


def test_encrypted_fields_are_decrypted_with_the_key(log_dir: Path) -> None:
    with SecureLogger(name="app", log_dir=log_dir, node_id=NODE, encryption_enabled=True) as lg:
        lg.info("secret", extra={"ssn": "123-45-6789"})
    (rec,) = [r for r in read_records(log_dir / "app") if r.kind == "record"]
    assert rec.status == "ok"
    assert rec.fields["msg"] == "secret"
    assert rec.fields["extra"] == {"ssn": "123-45-6789"}
    assert "enc" not in rec.fields
    hidden = [
        r
        for r in read_records(log_dir / "app", encryption_key_file=log_dir / "absent.json")
        if r.kind == "record"
    ]
    assert [r.status for r in hidden] == ["encrypted"]
    assert "msg" not in hidden[0].fields
    assert RecordFilter.build(text="123-45")(hidden[0]) is False


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_follow_yields_the_last_records_then_new_ones(log_dir: Path, encrypted: bool) -> None:
    logger = SecureLogger(name="app", log_dir=log_dir, node_id=NODE, encryption_enabled=encrypted)
    try:
        _follow(logger, log_dir)
    finally:
        logger.close()


def _follow(logger: SecureLogger, log_dir: Path) -> None:
    for i in range(5):
        logger.info("old %d", i)
    logger.flush()
    got: list[Record] = []
    done = threading.Event()

    def follow() -> None:
        for rec in follow_records(log_dir / "app", last=2, poll=0.02, stop=done.is_set):
            got.append(rec)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        time.sleep(0.1)
        for i in range(3):
            logger.info("new %d", i)
        logger.rotate()  # following goes on across a rotation (and its archive)
        logger.info("after rotation")
        logger.flush()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 6:
            time.sleep(0.02)
    finally:
        done.set()
        reader.join(5)
    assert all(r.status == "ok" for r in got), "new data keys must be picked up"
    assert [r.fields.get("msg") for r in got if r.kind == "record"] == [
        "old 3",
        "old 4",
        "new 0",
        "new 1",
        "new 2",
        "after rotation",
    ]
