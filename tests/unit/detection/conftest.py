"""Fixtures for the detection tests: events by hand, a store on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from detection_helpers import T0, MakeObs, make_obs

from logging_audit.audit.factory import open_store
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock


@pytest.fixture
def obs() -> MakeObs:
    """``obs(ts, actor, **fields)`` -> :class:`Obs`."""
    return make_obs


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing an hour before T0 (tests move it forward)."""
    return FakeClock(datetime.fromtimestamp(T0 - 3600, timezone.utc))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[AuditStore]:
    """A SQLite audit store on the fake clock (fast durability)."""
    s = open_store(tmp_path / "audit.db", clock=clock, synchronous="NORMAL")
    yield s
    s.close()
