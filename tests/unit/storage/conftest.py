"""Fixtures of the file-storage tests: loggers that are always closed at teardown.

Every logger made through ``make_logger`` is closed at teardown (a test that
closes it itself is fine: ``close()`` is idempotent), so a failing test never
leaves a flusher thread or a lock behind for the next one. Helpers that look
inside a stream directory are in ``storage_helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from storage_helpers import NODE, MakeLogger

from logging_audit.secure_logger import SecureLogger


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """An empty ``log_dir`` for one test."""
    return tmp_path / "logs"


@pytest.fixture
def make_logger(log_dir: Path) -> Iterator[MakeLogger]:
    """``make_logger(name="app", **options)`` -> an open SecureLogger in ``log_dir``."""
    opened: list[SecureLogger] = []

    def make(name: str = "app", **options: Any) -> SecureLogger:
        options.setdefault("log_dir", log_dir)
        options.setdefault("node_id", NODE)
        logger = SecureLogger(name=name, **options)
        opened.append(logger)
        return logger

    yield make
    for logger in opened:
        logger.close()
