"""``bench/eval_detection.py --quick`` runs to the end and prints its tables (no timing asserts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval_detection.py"


@pytest.mark.slow
def test_detection_evaluation_quick_runs_and_reports_every_detector() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-real-logs"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for detector in ("brute_force", "password_spraying", "off_hours", "volume_spike", "beaconing"):
        assert detector in out
    assert "false alerts per 10k" in out
