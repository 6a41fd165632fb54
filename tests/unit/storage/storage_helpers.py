"""Helpers of the file-storage tests: look inside a stream directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logging_audit.secure_logger import SecureLogger

NODE = "node-1"
"""Fixed node id, so origins (``logaudit/node-1/<name>``) do not depend on the host."""

MakeLogger = Callable[..., SecureLogger]


def manifest(stream_dir: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a stream directory."""
    obj: dict[str, Any] = json.loads((stream_dir / "manifest.json").read_bytes())
    return obj


def raw_lines(path: Path) -> list[bytes]:
    """The lines of a segment file, newline included."""
    return path.read_bytes().splitlines(keepends=True)


def entries(path: Path) -> list[dict[str, Any]]:
    """The parsed JSON objects of a plain segment file."""
    return [json.loads(line) for line in raw_lines(path)]


def checkpoint_sizes(stream_dir: Path) -> list[int]:
    """Tree sizes of the checkpoints kept in ``checkpoints.jsonl``, oldest first."""
    path = stream_dir / "checkpoints.jsonl"
    return [json.loads(line)["size"] for line in path.read_bytes().splitlines() if line]
