"""``bench/profile_audit_append.py --quick`` runs to the end and prints its tables (no timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "profile_audit_append.py"


@pytest.mark.slow
def test_profile_audit_append_quick_runs_and_prints_the_tables(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-postgres", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in (
        "plain executemany (no index, no integrity)",
        "indexed executemany, store schema, no ledger",
        "AuditStore.append (prebuilt events)",
        "AuditService.record_events",
        "AuditTrailService.log_events",
        "AuditService.record_event (fsync)",
        "bare SQLite commit, WAL, synchronous=FULL",
        "PostgreSQL: skipped (--no-postgres)",
    ):
        assert label in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the bench removed its temporary directory
