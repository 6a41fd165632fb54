"""SecureLogger as an application uses it: the seed example, levels, records, threads, bad input."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.errors import ConfigError, StorageError
from logging_audit.reader import Record, read_records
from logging_audit.secure_logger import SecureLogger

NODE = "node-1"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def loggers() -> Iterator[list[SecureLogger]]:
    """Loggers a test opened; all closed at teardown."""
    opened: list[SecureLogger] = []
    yield opened
    for logger in opened:
        logger.close()


def _open(loggers: list[SecureLogger], log_dir: Path, **kw: Any) -> SecureLogger:
    kw.setdefault("name", "app")
    kw.setdefault("node_id", NODE)
    logger = SecureLogger(log_dir=log_dir, **kw)
    loggers.append(logger)
    return logger


def _records(log_dir: Path, name: str = "app") -> list[Record]:
    return [r for r in read_records(log_dir / name) if r.kind == "record"]


# -- the seed example ------------------------------------------------------------------


def test_seed_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    logger = SecureLogger(
        name="app_server", log_level="INFO", log_dir="logs", encryption_enabled=True
    )
    try:
        logger.info("Server started", extra={"version": "1.2.3"})
        logger.warning("High memory usage detected", extra={"memory_usage": "85%"})
        logger.error("Database connection failed", extra={"error_code": "DB_CONN_01"})
        results = logger.verify_log_integrity()
        print(results["verified"])
    finally:
        logger.close()
    assert capsys.readouterr().out == "True\n"
    assert results["verified"] is True
    assert results["entries"] == 3
    assert results["errors"] == []
    recs = _records(tmp_path / "logs", "app_server")
    assert [(r.level, r.fields["msg"], r.fields["extra"]) for r in recs] == [
        ("INFO", "Server started", {"version": "1.2.3"}),
        ("WARNING", "High memory usage detected", {"memory_usage": "85%"}),
        ("ERROR", "Database connection failed", {"error_code": "DB_CONN_01"}),
    ]
    raw = b"".join(p.read_bytes() for p in (tmp_path / "logs").rglob("*.jsonl"))
    assert b"DB_CONN_01" not in raw, "encryption_enabled=True encrypts extra"


def test_report_has_the_documented_shape(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)
    logger.info("x")
    report = logger.verify_log_integrity()
    assert set(report) >= {
        "verified",
        "origin",
        "entries",
        "first_seq",
        "last_seq",
        "tree_size",
        "root_hash",
        "seals_verified",
        "checkpoints_verified",
        "covered_size",
        "trusted_size",
        "mac_epochs_checked",
        "mac_epochs_unchecked",
        "pruned",
        "unsealed_tail",
        "errors",
    }
    assert report["origin"] == f"logaudit/{NODE}/app"
    assert report["unsealed_tail"] == {"first_seq": 0, "last_seq": 0}
    json.dumps(report)  # JSON-ready


# -- levels and methods ----------------------------------------------------------------


def test_levels_filter_like_stdlib(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir, log_level="WARNING")
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    logger.critical("c")
    logger.log(logging.INFO, "log info")
    logger.log("error", "log error")
    logger.log(35, "custom level")
    logger.flush()
    assert [(r.level, r.fields["msg"]) for r in _records(log_dir)] == [
        ("WARNING", "w"),
        ("ERROR", "e"),
        ("CRITICAL", "c"),
        ("ERROR", "log error"),
        ("Level 35", "custom level"),
    ]


@pytest.mark.parametrize(("level", "kept"), [("DEBUG", 5), (logging.INFO, 4), ("notset", 5)])
def test_log_level_names_and_numbers(
    loggers: list[SecureLogger], log_dir: Path, level: str | int, kept: int
) -> None:
    logger = _open(loggers, log_dir, log_level=level)
    for method in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
        method("m")
    logger.flush()
    assert len(_records(log_dir)) == kept


@pytest.mark.parametrize("level", ["LOUD", "", True, None])
def test_invalid_level_is_a_config_error(log_dir: Path, level: object) -> None:
    with pytest.raises(ConfigError, match="level"):
        SecureLogger(name="app", log_dir=log_dir, log_level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_log_size_mb": 0}, "max_log_size_mb"),
        ({"durability": "fast"}, "durability"),
        ({"name": "a/b"}, "stream name"),
        ({"node_id": "my host"}, "node_id"),
        ({"seal_interval": 0}, "epoch_seconds"),
        ({"retention_days": -1}, "retention_days"),
    ],
)
def test_invalid_options_are_config_errors(
    log_dir: Path, options: dict[str, Any], match: str
) -> None:
    options.setdefault("name", "app")
    with pytest.raises(ConfigError, match=match):
        SecureLogger(log_dir=log_dir, **options)
    assert not (log_dir / "app").exists()


def test_percent_args_and_extra(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)
    logger.info("user %s logged in from %s (%d tries)", "bob", "10.0.0.1", 3, extra={"uid": 7})
    logger.info("100% literal")  # no args: no formatting
    logger.info({"a": 1})  # non-str message
    logger.flush()
    recs = _records(log_dir)
    assert recs[0].fields["msg"] == "user bob logged in from 10.0.0.1 (3 tries)"
    assert recs[0].fields["extra"] == {"uid": 7}
    assert recs[1].fields["msg"] == "100% literal"
    assert "extra" not in recs[1].fields
    assert recs[2].fields["msg"] == "{'a': 1}"


def test_bad_format_args_or_message_never_crash_the_caller(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    class NoStr:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    logger = _open(loggers, log_dir)
    logger.info("%d items", "many")
    logger.info("%s and %s", "only one")
    logger.info(NoStr())
    logger.info("%d and %s", NoStr(), _BrokenRepr())
    logger.flush()
    msgs = [r.fields["msg"] for r in _records(log_dir)]
    assert len(msgs) == 4
    assert msgs[3].startswith("%d and %s [message arguments could not be formatted")
    assert msgs[0].startswith("%d items")
    assert "'many'" in msgs[0]
    assert msgs[1].startswith("%s and %s")
    assert "NoStr" in msgs[2]
    assert logger.verify_log_integrity()["verified"] is True


def test_exception_captures_the_traceback(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)

    def fail() -> None:
        raise ZeroDivisionError("division by zero in fail()")

    try:
        fail()
    except ZeroDivisionError:
        logger.exception("computation failed", extra={"job": 9})
    try:
        fail()
    except ZeroDivisionError as exc:
        logger.error("with exc_info instance", exc_info=exc)
        logger.warning("with exc_info True", exc_info=True)
    logger.info("no exception here", exc_info=True)  # outside except: nothing to add
    logger.info("with stack", stack_info=True)
    logger.flush()
    recs = _records(log_dir)
    first = recs[0].fields
    assert recs[0].level == "ERROR"
    assert first["msg"] == "computation failed"
    assert first["extra"] == {"job": 9}
    assert first["exc_info"].startswith("Traceback (most recent call last):")
    assert "in fail" in first["exc_info"]
    assert first["exc_info"].endswith("ZeroDivisionError: division by zero in fail()")
    assert "ZeroDivisionError" in recs[1].fields["exc_info"]
    assert recs[2].level == "WARNING"
    assert "ZeroDivisionError" in recs[2].fields["exc_info"]
    assert "exc_info" not in recs[3].fields
    assert "test_exception_captures_the_traceback" in recs[4].fields["stack_info"]


def test_exception_text_is_encrypted_with_the_message(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    logger = _open(loggers, log_dir, encryption_enabled=True)
    try:
        raise KeyError("credit card 4111")
    except KeyError:
        logger.exception("lookup failed")
    logger.flush()
    raw = (log_dir / "app" / "segments" / "00000001.jsonl").read_bytes()
    assert b"4111" not in raw
    assert b"Traceback" not in raw
    assert "4111" in _records(log_dir)[0].fields["exc_info"]


def test_context_manager_and_idempotent_close(log_dir: Path) -> None:
    with SecureLogger(name="app", log_dir=log_dir, node_id=NODE) as logger:
        logger.info("inside")
    last = json.loads(
        (log_dir / "app" / "segments" / "00000001.jsonl").read_bytes().splitlines()[-1]
    )
    assert last["ledger"] == "seal"
    logger.close()
    logger.close()
    with pytest.raises(StorageError, match="closed"):
        logger.info("after close")
    logger.flush()  # nothing to do, no error
    assert logger.verify_log_integrity()["verified"] is True
    # a closed log can be opened again at once
    with SecureLogger(name="app", log_dir=log_dir, node_id=NODE) as again:
        again.info("reopened")
        assert again.verify_log_integrity()["verified"] is True


_EXIT_WITHOUT_CLOSE = """
import sys
from logging_audit.secure_logger import SecureLogger
logger = SecureLogger(name="app", log_dir=sys.argv[1], node_id="node-1", flush_interval=60)
for i in range(10):
    logger.info("record %d", i)
SecureLogger(name="other", log_dir=sys.argv[1], node_id="node-1").info("dropped at once")
"""


def test_what_was_logged_survives_an_exit_without_close(log_dir: Path) -> None:
    """As logging.shutdown flushes handlers: the last records are not lost at exit."""
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_WITHOUT_CLOSE, str(log_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [r.fields["msg"] for r in _records(log_dir)] == [f"record {i}" for i in range(10)]
    assert [r.fields["msg"] for r in _records(log_dir, "other")] == ["dropped at once"]
    with SecureLogger(name="app", log_dir=log_dir, node_id=NODE) as logger:
        report = logger.verify_log_integrity()
        assert report["verified"] is True
        assert report["seals_verified"] == 1, "exiting closed (sealed) the log"


def test_a_second_writer_without_multiprocess_is_refused(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    _open(loggers, log_dir).info("first")
    with pytest.raises(StorageError, match="open in another process"):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE)


# -- threads and nodes ------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["batched", "sync"])
def test_thread_safety(loggers: list[SecureLogger], log_dir: Path, durability: str) -> None:
    logger = _open(loggers, log_dir, durability=durability, max_log_size_mb=0.05)
    per_thread = 250 if durability == "batched" else 60
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            logger.info("thread %d record %d", t, i, extra={"t": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    logger.flush()
    everything = list(read_records(log_dir / "app"))
    assert [r.seq for r in everything] == list(range(len(everything)))
    got = [
        (r.fields["extra"]["t"], r.fields["extra"]["i"]) for r in everything if r.kind == "record"
    ]
    assert len(got) == 8 * per_thread
    assert set(got) == {(t, i) for t in range(8) for i in range(per_thread)}
    for t in range(8):  # each thread's records in its own order
        assert [i for tt, i in got if tt == t] == list(range(per_thread))
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]


def test_every_record_carries_the_host_name_by_default(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    logger = _open(loggers, log_dir, node_id=None)
    logger.info("x")
    logger.error("y")
    logger.flush()
    host = socket.gethostname()
    assert logger.node_id == host
    assert {r.fields["node"] for r in _records(log_dir)} == {host}
    assert logger.verify_log_integrity()["origin"] == f"logaudit/{host}/app"


def test_custom_node_id_tells_logs_of_many_nodes_apart(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    for node in ("web-1", "web-2"):
        logger = _open(loggers, log_dir / node, node_id=node)
        logger.info("hello from %s", node)
        logger.flush()
        recs = _records(log_dir / node)
        assert [r.fields["node"] for r in recs] == [node]
        assert logger.verify_log_integrity()["origin"] == f"logaudit/{node}/app"


# -- values JSON cannot hold ----------------------------------------------------------


class _Obj:
    def __repr__(self) -> str:
        return "<Obj 1>"


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("broken __repr__")


def _cyclic() -> list[object]:
    items: list[object] = [1]
    items.append(items)
    return items


UNSERIALISABLE: list[tuple[str, object, object]] = [
    ("bytes", b"\x00\xff", {"$bytes": "AP8="}),
    ("bytearray", bytearray(b"q"), {"$bytes": "cQ=="}),
    (
        "datetime",
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "2026-01-02T03:04:05+00:00",
    ),
    ("date", dt.date(2026, 1, 2), "2026-01-02"),
    ("set", {3, 1, 2}, [1, 2, 3]),
    ("frozenset", frozenset({"b", "a"}), ["a", "b"]),
    ("tuple", (1, b"x"), [1, {"$bytes": "eA=="}]),
    ("object", _Obj(), "<Obj 1>"),
    ("broken repr", _BrokenRepr(), "<unrepresentable _BrokenRepr>"),
    ("decimal", decimal.Decimal("1.5"), "Decimal('1.5')"),
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("exception", ValueError("v"), "ValueError('v')"),
    (
        "nested",
        {"deep": [b"a", {1, 2}, (1, 2), _Obj(), {"x": _BrokenRepr()}]},
        {
            "deep": [
                {"$bytes": "YQ=="},
                [1, 2],
                [1, 2],
                "<Obj 1>",
                {"x": "<unrepresentable _BrokenRepr>"},
            ]
        },
    ),
    ("int keys", {1: "one", 2.5: "x", None: "n"}, {"1": "one", "2.5": "x", "None": "n"}),
    ("object keys", {(1, 2): "tuple key"}, {"(1, 2)": "tuple key"}),
    ("huge int", 2**80, str(2**80)),
    ("lone surrogate", "a\ud800b", "a\\ud800b"),
    ("cyclic", _cyclic(), [1, "[1, [...]]"]),
    ("nan", float("nan"), None),
]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize(
    ("what", "value", "expected"), UNSERIALISABLE, ids=[u[0] for u in UNSERIALISABLE]
)
def test_unserialisable_extra_values_are_logged_safely(
    loggers: list[SecureLogger],
    log_dir: Path,
    encrypted: bool,
    what: str,
    value: object,
    expected: object,
) -> None:
    logger = _open(loggers, log_dir, encryption_enabled=encrypted)
    logger.info("before")
    logger.info("odd value: %s", what, extra={"v": value, "ok": "fine"})
    logger.info("after")
    logger.flush()
    recs = _records(log_dir)
    assert [r.status for r in recs] == ["ok"] * 3
    assert [r.fields["msg"] for r in recs] == ["before", f"odd value: {what}", "after"]
    assert recs[1].fields["extra"] == {"v": expected, "ok": "fine"}
    assert logger.verify_log_integrity()["verified"] is True


def test_a_mixed_set_is_logged_as_reprs(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)
    logger.info("mixed", extra={"s": {1, "a"}})
    logger.flush()
    assert sorted(_records(log_dir)[0].fields["extra"]["s"]) == ["'a'", "1"]


def test_one_bad_record_does_not_cost_the_others(
    loggers: list[SecureLogger], log_dir: Path
) -> None:
    """A whole batch goes to disk together: a value orjson rejects must not sink it."""
    logger = _open(loggers, log_dir, flush_interval=60)
    for i in range(50):
        logger.info("r%d", i, extra={1: "int key"} if i == 25 else {"i": i})
    logger.flush()
    assert [r.fields["msg"] for r in _records(log_dir)] == [f"r{i}" for i in range(50)]


def test_extra_may_use_ledger_field_names(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)
    logger.info("x", extra={"seq": 99, "mac": "m", "prev": "p", "ledger": "seal", "epoch": 7})
    logger.flush()
    rec = _records(log_dir)[0]
    assert rec.seq == 0
    assert rec.kind == "record"
    assert rec.fields["extra"] == {"seq": 99, "mac": "m", "prev": "p", "ledger": "seal", "epoch": 7}
    assert logger.verify_log_integrity()["verified"] is True


def test_timestamps_are_utc_and_ordered(loggers: list[SecureLogger], log_dir: Path) -> None:
    logger = _open(loggers, log_dir)
    before = dt.datetime.now(dt.timezone.utc)
    for i in range(20):
        logger.info("t%d", i)
    logger.flush()
    after = dt.datetime.now(dt.timezone.utc)
    stamps = [r.ts for r in _records(log_dir)]
    assert all(s is not None and s.endswith("Z") and len(s) == 27 for s in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    parsed = [dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps if s]
    assert before <= parsed[0] <= parsed[-1] <= after
