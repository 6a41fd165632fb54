"""``bench/bench_logger.py --quick`` runs to the end and prints its table (no timing asserts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_logger.py"


@pytest.mark.slow
def test_bench_quick_runs_and_prints_the_table(tmp_path: Path) -> None:
    pytest.importorskip("structlog")
    pytest.importorskip("loguru")
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "== logging_audit bench: SecureLogger vs peers (issue 3) ==" in lines
    header = next(line for line in lines if line.startswith("measurement"))
    assert header.split() == ["measurement", "records", "records/s", "ratio", "goal", "met"]
    for label in (
        "SecureLogger.info / FileHandler",
        "SecureHandler / FileHandler",
        "sync / stdlib fsync handler",
        "sync / fsync-per-record",
        "verify_stream_dir()",
        "peak RSS 4N / N",
    ):
        assert label in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the bench removed its temporary directories
