"""A short end-to-end demonstration: ``python -m logging_audit.demo [--dir DIR]``.

1. Write a signed, encrypted log with :class:`~logging_audit.secure_logger.SecureLogger`
   (the verifier file — K(0) and the public key — goes to a separate "offline" folder).
2. Verify it, as an auditor would, with ``logaudit verify``.
3. Copy the log, change one byte of one entry in the copy, delete another entry,
   and verify the copy: the report names both.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from logging_audit.secure_logger import SecureLogger

__all__ = ["main"]


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _logaudit(*args: str) -> int:
    cmd = [sys.executable, "-m", "logging_audit", *args]
    print("$ logaudit " + " ".join(args), flush=True)
    return subprocess.run(cmd, check=False).returncode


def run(base: Path) -> int:
    """Run the demonstration under ``base``; returns 0 when every step behaved as expected."""
    log_dir = base / "logs"
    offline = base / "offline"
    offline.mkdir(parents=True, exist_ok=True)
    verifier = offline / "app_server.verifier.json"

    _step("1. An application writes a signed, encrypted log")
    with SecureLogger(
        name="app_server",
        log_level="INFO",
        log_dir=log_dir,
        node_id="demo-node",
        encryption_enabled=True,
        verifier_file=verifier,
    ) as logger:
        logger.info("Server started", extra={"version": "1.2.3"})
        logger.warning("High memory usage detected", extra={"memory_usage": "85%"})
        logger.error("Database connection failed", extra={"error_code": "DB_CONN_01"})
        for i in range(200):
            logger.info("request served", extra={"path": f"/api/items/{i}", "status": 200})
        results = logger.verify_log_integrity(verifier_file=verifier)
        print(f"logger.verify_log_integrity()['verified'] = {results['verified']}")
    stream = log_dir / "app_server"
    print(f"log written to {stream}; verifier (K(0) + public key) kept apart in {verifier}")
    first = next((stream / "segments").glob("*.jsonl")).read_bytes().splitlines()[0]
    print("first line on disk (msg and extra are AES-256-GCM encrypted):")
    print("  " + first.decode()[:160] + "…")

    _step("2. An auditor verifies it")
    ok = _logaudit("verify", str(stream), "--verifier", str(verifier)) == 0
    _logaudit("tail", str(stream), "-n", "3")

    _step("3. Someone edits a copy: one byte of entry 2 changed, entry 100 deleted")
    tampered = base / "tampered" / "app_server"
    shutil.copytree(stream, tampered)
    seg = next((tampered / "segments").glob("*.jsonl"))
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"level":"ERROR"', b'"level":"DEBUG"')
    del lines[100]
    seg.write_bytes(b"".join(lines))
    failed = _logaudit("verify", str(tampered), "--verifier", str(verifier)) != 0
    print("verification of the tampered copy failed, as it must" if failed else "NOT DETECTED")
    return 0 if ok and failed else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry of the demonstration."""
    parser = argparse.ArgumentParser(prog="python -m logging_audit.demo", description=__doc__)
    parser.add_argument("--dir", type=Path, help="Work in this directory (kept afterwards).")
    args = parser.parse_args(argv)
    if args.dir is not None:
        if args.dir.exists() and any(args.dir.iterdir()):
            parser.error(f"{args.dir} is not empty")
        return run(args.dir)
    with tempfile.TemporaryDirectory(prefix="logaudit-demo-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
