"""SecureHandler: a stdlib logging handler writing the signed log, dictConfig-ready."""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.reader import Record, read_records
from logging_audit.secure_logger import SecureHandler

NODE = "node-1"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def app_logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A stdlib logger of its own for the test, stripped of handlers afterwards."""
    logger = logging.getLogger(f"logaudit_test.{request.node.name}")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def _records(log_dir: Path, name: str = "app") -> list[Record]:
    return [r for r in read_records(log_dir / name) if r.kind == "record"]


def _dict_config(app_logger: logging.Logger, log_dir: Path, **handler: Any) -> SecureHandler:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "secure": {
                    "class": "logging_audit.secure_logger.SecureHandler",
                    "name": "app",
                    "log_dir": str(log_dir),
                    "level": "INFO",
                    "node_id": NODE,
                    **handler,
                }
            },
            "loggers": {app_logger.name: {"handlers": ["secure"], "level": "DEBUG"}},
        }
    )
    (h,) = app_logger.handlers
    assert isinstance(h, SecureHandler)
    return h


def test_dict_config_with_keyword_arguments(app_logger: logging.Logger, log_dir: Path) -> None:
    handler = _dict_config(app_logger, log_dir, encryption_enabled=True, durability="sync")
    assert handler.level == logging.INFO
    app_logger.debug("below the handler's level")
    app_logger.info("user %s logged in", "bob", extra={"user_id": 42, "ip": "10.0.0.1"})
    app_logger.warning("disk at %d%%", 91)
    recs = _records(log_dir)  # sync mode: on disk already
    assert [(r.level, r.fields["msg"]) for r in recs] == [
        ("INFO", "user bob logged in"),
        ("WARNING", "disk at 91%"),
    ]
    first = recs[0].fields
    assert first["extra"] == {"user_id": 42, "ip": "10.0.0.1"}
    assert first["logger"] == app_logger.name
    assert first["node"] == NODE
    assert first["src"] == {
        "module": "test_secure_handler",
        "line": first["src"]["line"],
        "func": "test_dict_config_with_keyword_arguments",
    }
    assert b"user_id" not in (log_dir / "app" / "segments" / "00000001.jsonl").read_bytes()
    assert handler.logger.verify_log_integrity()["verified"] is True


def test_exception_text_and_stack_info(app_logger: logging.Logger, log_dir: Path) -> None:
    handler = _dict_config(app_logger, log_dir)

    def broken() -> None:
        raise ValueError("bad value 17")

    try:
        broken()
    except ValueError:
        app_logger.exception("request failed", extra={"path": "/x"})
    app_logger.info("where am I", stack_info=True)
    handler.flush()
    recs = _records(log_dir)
    exc = recs[0].fields
    assert recs[0].level == "ERROR"
    assert exc["msg"] == "request failed"
    assert exc["extra"] == {"path": "/x"}
    assert exc["exc_info"].startswith("Traceback (most recent call last):")
    assert "in broken" in exc["exc_info"]
    assert exc["exc_info"].endswith("ValueError: bad value 17")
    stack = recs[1].fields["stack_info"]
    assert stack.startswith("Stack (most recent call last):")
    assert "test_exception_text_and_stack_info" in stack


def test_record_keeps_its_creation_time(app_logger: logging.Logger, log_dir: Path) -> None:
    handler = SecureHandler(name="app", log_dir=log_dir, node_id=NODE)
    app_logger.addHandler(handler)
    record = logging.makeLogRecord(
        {"name": "old", "levelno": logging.INFO, "levelname": "INFO", "msg": "from the past"}
    )
    record.created = 1700000000.25
    handler.handle(record)
    record.created = 1700000001.9999996  # rounds up into the next second
    handler.handle(record)
    handler.flush()
    assert [r.ts for r in _records(log_dir)] == [
        "2023-11-14T22:13:20.250000Z",
        "2023-11-14T22:13:22.000000Z",
    ]


def test_works_behind_a_queue_listener(app_logger: logging.Logger, log_dir: Path) -> None:
    handler = SecureHandler(name="app", log_dir=log_dir, node_id=NODE, level="INFO")
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(q, handler, respect_handler_level=True)
    app_logger.addHandler(logging.handlers.QueueHandler(q))
    app_logger.setLevel(logging.DEBUG)
    app_logger.propagate = False
    listener.start()
    try:
        app_logger.debug("dropped by the handler's level")
        app_logger.info("queued %s", "record", extra={"request_id": "r-1"})
        try:
            raise KeyError("missing-key")
        except KeyError:
            app_logger.exception("queued exception")
    finally:
        listener.stop()
    handler.flush()
    recs = _records(log_dir)
    assert [r.level for r in recs] == ["INFO", "ERROR"]
    assert recs[0].fields["msg"] == "queued record"
    assert recs[0].fields["extra"]["request_id"] == "r-1"
    # QueueHandler formats the traceback into the message before it crosses the queue
    text = recs[1].fields["msg"] + recs[1].fields.get("exc_info", "")
    assert "queued exception" in text
    assert "KeyError: 'missing-key'" in text
    assert recs[0].ts is not None
    assert recs[0].ts <= (recs[1].ts or "")
    handler.close()
    assert handler.logger.verify_log_integrity()["verified"] is True


def test_a_bad_record_goes_to_handle_error_not_to_the_caller(
    app_logger: logging.Logger, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = SecureHandler(name="app", log_dir=log_dir, node_id=NODE)
    app_logger.addHandler(handler)
    app_logger.setLevel(logging.INFO)
    app_logger.propagate = False
    app_logger.info("%d apples", "many")  # must not raise, as with any stdlib handler
    app_logger.info("odd extra", extra={"blob": b"\x01", "when": {1, 2}})
    handler.flush()
    assert "--- Logging error ---" in capsys.readouterr().err
    (rec,) = _records(log_dir)
    assert rec.fields["extra"] == {"blob": {"$bytes": "AQ=="}, "when": [1, 2]}


def test_close_seals_the_log_and_flush_after_close_is_harmless(log_dir: Path) -> None:
    handler = SecureHandler(name="app", log_dir=log_dir, node_id=NODE)
    handler.handle(logging.makeLogRecord({"msg": "one", "levelname": "INFO", "levelno": 20}))
    handler.close()
    handler.close()
    handler.flush()
    lines = (log_dir / "app" / "segments" / "00000001.jsonl").read_bytes().splitlines()
    assert b'"ledger":"seal"' in lines[-1]
    assert handler.logger.verify_log_integrity()["verified"] is True


def test_handler_accepts_every_secure_logger_option(log_dir: Path) -> None:
    verifier = log_dir.parent / "verifier.json"
    handler = SecureHandler(
        name="audit",
        log_dir=log_dir,
        level=logging.WARNING,
        node_id=NODE,
        max_log_size_mb=1,
        retention_days=30,
        encryption_enabled=True,
        durability="sync",
        seal_interval=60,
        verifier_file=verifier,
    )
    try:
        handler.handle(logging.makeLogRecord({"msg": "kept", "levelname": "ERROR", "levelno": 40}))
        assert [r.fields["msg"] for r in _records(log_dir, "audit")] == ["kept"]
        report = handler.logger.verify_log_integrity()
        assert report["verified"] is True
        assert report["mac_epochs_unchecked"] == []
    finally:
        handler.close()
