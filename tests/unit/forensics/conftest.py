"""Fixtures for the forensics tests: an AuditService on a pinned clock, node ids fixed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from forensics_helpers import T0

from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.errors import IntegrityError


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> Iterator[AuditService]:
    """An AuditService on node-a; epochs long enough that tests decide when to checkpoint."""
    svc = AuditService(tmp_path / "audit.db", clock=clock, node_id="node-a", epoch_seconds=10**8)
    yield svc
    with contextlib.suppress(IntegrityError):  # a store a test tampered with cannot seal
        svc.close()
