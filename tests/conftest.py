"""Fixtures shared by every test: test data lives under ``tests/assets/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parent / "assets"
"""Root of the test data; every file there records where it comes from (see its README)."""


def asset_path(*parts: str) -> Path:
    """Return the path of ``tests/assets/<parts...>``, failing loudly when it is missing."""
    path = ASSETS.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test asset {path.relative_to(ASSETS)} is missing")
    return path


@pytest.fixture
def asset() -> Callable[..., Path]:
    """``asset("vectors", "rfc6962", "tree-hashes.json")`` -> path under ``tests/assets/``."""
    return asset_path
