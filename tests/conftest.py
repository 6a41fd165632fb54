"""Fixtures shared by every test: test data lives under ``tests/assets/``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from logging_audit.audit.testing import FakeClock, pg_test_url, pg_unavailable_reason

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


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL; skips (outside CI) or fails (in CI) when it is down."""
    url = pg_test_url()
    reason = pg_unavailable_reason(url)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand (directories with their own epoch override it)."""
    return FakeClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return str(request.param)
