"""``bench/bench_audit.py --quick`` runs to the end and prints its table (no timing asserts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_audit.py"


@pytest.mark.slow
def test_bench_audit_quick_runs_and_prints_the_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "== logging_audit bench: audit store (issue 4) ==" in lines
    header = next(line for line in lines if line.startswith("measurement"))
    assert header.split() == ["measurement", "events", "figure", "ratio", "/", "p95", "goal", "met"]
    for label in (
        "SQLite plain executemany INSERT (no integrity)",
        "SQLite plain + the required indexes and FTS5",
        "SQLite batched recording, full ledger",
        "SQLite single durable append (sync=FULL)",
        "SQLite search: actor + time range",
        "SQLite search: type + time range",
        "SQLite search: full-text",
        "bundle export (inclusion proof per event)",
        "verify_bundle (offline, trusted key)",
    ):
        assert label in proc.stdout
    # PostgreSQL: measured, or skipped with the reason printed
    assert "PostgreSQL search: full-text" in proc.stdout or "PostgreSQL skipped:" in proc.stdout
    if "PostgreSQL skipped:" not in proc.stdout:
        assert "PostgreSQL plain COPY + the required indexes" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the bench removed its temporary directory
