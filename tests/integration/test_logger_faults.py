"""Real faults in real processes: kill -9, a full disk (RLIMIT_FSIZE), a read-only log directory.

Each fault happens in a child interpreter (``python -c``), so the test process keeps
its own limits and privileges; the test then reopens the log and checks what survived.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger

NODE = "node-1"
posix_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop to nobody"
)


def _run(code: str, *args: str | Path, timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _open(log_dir: Path, **kw: Any) -> SecureLogger:
    return SecureLogger(name="app", log_dir=log_dir, node_id=NODE, **kw)


def _msgs(log_dir: Path) -> list[str]:
    return [r.fields["msg"] for r in read_records(log_dir / "app") if r.kind == "record"]


# -- kill -9 ---------------------------------------------------------------------------------

_LOOP = """
import sys
from logging_audit.secure_logger import SecureLogger
log_dir, durability, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
logger = SecureLogger(name="app", log_dir=log_dir, node_id="node-1", durability=durability,
                      max_log_size_mb=0.01, seal_interval=1, flush_interval=0.01)
j = start
while True:
    logger.info("record %d", j, extra={"j": j, "pad": "x" * 80})
    print(j, flush=True)  # acknowledged: info() returned
    j += 1
"""


def _kill_after(log_dir: Path, durability: str, start: int, acks: int) -> list[int]:
    """Run the logging loop in a child and SIGKILL it after ``acks`` acknowledged records."""
    child = subprocess.Popen(
        [sys.executable, "-c", _LOOP, str(log_dir), durability, str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: list[int] = []
    try:
        for line in child.stdout:
            acked.append(int(line))
            if len(acked) >= acks:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
    acked.extend(int(x) for x in rest.split())
    assert child.returncode == -signal.SIGKILL, err
    assert len(acked) >= acks, err
    return acked


@pytest.mark.slow
def test_kill_9_in_sync_mode_loses_nothing_acknowledged(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    verifier = tmp_path / "verifier.json"
    _open(log_dir, verifier_file=verifier).close()
    acked: list[int] = []
    for round_ in range(4):  # four crashes in a row, at random points of rotation and sealing
        acked += _kill_after(log_dir, "sync", start=round_ * 100_000, acks=150 + 70 * round_)
        with _open(log_dir) as logger:
            report = logger.verify_log_integrity(verifier_file=verifier)
            assert report["verified"] is True, report["errors"][:5]
    records = [r for r in read_records(log_dir / "app") if r.kind == "record"]
    present = {
        r.fields["extra"]["j"] for r in records if "extra" in r.fields and "j" in r.fields["extra"]
    }
    missing = sorted(set(acked) - present)
    assert missing == [], f"acknowledged records lost: {missing[:10]}"
    assert all(r.status == "ok" for r in records)


def test_kill_9_in_batched_mode_then_a_torn_line_by_hand(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    verifier = tmp_path / "verifier.json"
    _open(log_dir, verifier_file=verifier).close()
    _kill_after(log_dir, "batched", start=0, acks=300)
    segment = sorted((log_dir / "app" / "segments").iterdir())[-1]
    before = segment.read_bytes()
    torn = b'{"enc":null,"epoch":3,"level":"INFO","logger":"app","msg":"rec'
    with segment.open("ab") as f:
        f.write(torn)
    with _open(log_dir) as logger:
        assert segment.read_bytes()[: len(before)] == before
        cut = [
            r
            for r in read_records(log_dir / "app")
            if r.fields.get("msg") == "cut a torn last line left by a crash"
        ]
        assert len(cut) == 1
        assert cut[0].level == "WARNING"
        assert cut[0].fields["extra"]["segment"] == segment.name
        assert cut[0].fields["extra"]["offset"] == len(before)
        assert cut[0].fields["extra"]["bytes"] == len(torn)
        report = logger.verify_log_integrity(verifier_file=verifier)
        assert report["verified"] is True, report["errors"][:5]


_CRASH_AT = """
import os, sys
from logging_audit.secure_logger import SecureLogger
from logging_audit.crypto.signing_keys import SigningKeyStore
from logging_audit.storage.files.stream import FileStream
log_dir, where = sys.argv[1], sys.argv[2]
logger = SecureLogger(name="app", log_dir=log_dir, node_id="node-1")
for i in range(5):
    logger.info("before the crash %d", i)
logger.flush()
def die(*args, **kw):
    os._exit(9)
if where == "key-advance":  # the seal is on disk, the evolved key is not
    SigningKeyStore.advance_epoch = die
    logger.seal()
elif where == "checkpoint":  # seal and key are on disk, the checkpoint is not
    FileStream._write_checkpoint = die
    logger.seal()
elif where == "rotation":  # the next segment exists, the manifest does not list it yet
    FileStream._new_segment_key = die
    logger.rotate()
raise SystemExit("did not crash")
"""


@pytest.mark.parametrize("where", ["key-advance", "checkpoint", "rotation"])
def test_a_crash_inside_seal_or_rotation_leaves_a_log_that_reopens(
    tmp_path: Path, where: str
) -> None:
    log_dir = tmp_path / "logs"
    verifier = tmp_path / "verifier.json"
    _open(log_dir, verifier_file=verifier).close()
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_AT, str(log_dir), where],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    with _open(log_dir) as logger:
        logger.info("after the crash")
        logger.rotate()
        logger.info("in a new segment")
        report = logger.verify_log_integrity(verifier_file=verifier)
        assert report["verified"] is True, report["errors"][:5]
    assert _msgs(log_dir) == [
        *(f"before the crash {i}" for i in range(5)),
        "after the crash",
        "in a new segment",
    ]


# -- a full disk -----------------------------------------------------------------------------

_FULL_DISK = """
import json, os, resource, signal, sys
from logging_audit.secure_logger import SecureLogger
from logging_audit.errors import StorageError
log_dir, durability, after = sys.argv[1], sys.argv[2], sys.argv[3]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
logger = SecureLogger(name="app", log_dir=log_dir, node_id="node-1", durability=durability,
                      flush_interval=60)
logger.info("before the limit")
logger.flush()
segment = logger.stream._seg.path
limit = segment.stat().st_size + 3000
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
acked, error, where = [], None, None
for i in range(200):
    try:
        logger.info("record %d", i, extra={"pad": "y" * 100})
    except StorageError as exc:
        error, where = str(exc), "call"
        break
    acked.append(i)
    if durability == "batched" and i % 5 == 4:
        try:
            logger.flush()
        except StorageError as exc:
            error, where = str(exc), "flush"
            break
data = segment.read_bytes()
result = {"acked": acked, "error": error, "where": where, "limit": limit, "size": len(data),
          "whole_lines": data.endswith(b"\\n"),
          "parsed": all(json.loads(line) for line in data.splitlines())}
if after == "lift":
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    logger.info("after the limit was lifted")
    logger.flush()
    result["report"] = logger.verify_log_integrity()
    logger.close()
print(json.dumps(result))
os._exit(0)  # "reopen": leave as a crash would, the disk still full
"""


@pytest.mark.parametrize("durability", ["sync", "batched"])
@pytest.mark.parametrize("after", ["lift", "reopen"])
def test_a_full_disk_raises_and_the_log_stays_verifiable(
    tmp_path: Path, durability: str, after: str
) -> None:
    log_dir = tmp_path / "logs"
    result = json.loads(_run(_FULL_DISK, log_dir, durability, after))
    segment = log_dir / "app" / "segments" / "00000001.jsonl"
    assert result["error"] is not None, "a full disk must raise, not drop records silently"
    assert "File too large" in result["error"]
    assert str(segment) in result["error"]
    assert result["where"] == ("call" if durability == "sync" else "flush")
    assert result["whole_lines"] is True, "no torn line"
    assert result["parsed"] is True
    assert result["size"] <= result["limit"]
    acked = result["acked"]
    assert len(acked) >= 5
    if after == "lift":
        report = result["report"]
        assert report["verified"] is True, report["errors"][:5]
        msgs = _msgs(log_dir)
        # everything acknowledged (in sync mode also the record whose call failed: it
        # stays queued; in batched mode it is among the acknowledged), then the new one
        queued = len(acked) + 1 if durability == "sync" else len(acked)
        expected = ["before the limit", *(f"record {i}" for i in range(queued))]
        assert msgs == [*expected, "after the limit was lifted"]
    else:
        with _open(log_dir) as logger:
            report = logger.verify_log_integrity()
            assert report["verified"] is True, report["errors"][:5]
        msgs = _msgs(log_dir)
        assert msgs[0] == "before the limit"
        if durability == "sync":
            assert msgs[1 : len(acked) + 1] == [f"record {i}" for i in acked]


# -- a read-only log directory ----------------------------------------------------------------

_AS_NOBODY = """
import os, sys
from logging_audit.secure_logger import SecureLogger
from logging_audit.errors import Error
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
try:
    SecureLogger(name="app", log_dir=sys.argv[1], node_id="node-1").close()
except Error as exc:
    print(type(exc).__name__ + ": " + str(exc))
else:
    print("opened")
"""


@pytest.fixture
def root_owned_dir() -> Iterator[Path]:
    """A directory that nobody may read but not write (``tmp_path`` is 0700, out of reach)."""
    path = Path(tempfile.mkdtemp(prefix="logaudit-ro-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@posix_root
def test_a_read_only_log_dir_is_a_clear_error(root_owned_dir: Path) -> None:
    out = _run(_AS_NOBODY, root_owned_dir / "logs").strip()
    assert out.startswith("StorageError: cannot create log directory"), out
    assert str(root_owned_dir / "logs") in out
    assert "Permission denied" in out


@posix_root
def test_an_existing_log_not_writable_by_the_user_is_a_clear_error(root_owned_dir: Path) -> None:
    log_dir = root_owned_dir / "logs"
    with _open(log_dir) as logger:
        logger.info("written by root")
    for p in [log_dir, *log_dir.rglob("*")]:
        if p.is_dir() and p.name != "keys":
            p.chmod(0o755)
    before = sorted((p, p.stat().st_size) for p in log_dir.rglob("*") if p.is_file())
    out = _run(_AS_NOBODY, log_dir).strip()
    assert out.startswith("StorageError: "), out
    assert str(log_dir / "app") in out
    assert "Permission denied" in out
    assert sorted((p, p.stat().st_size) for p in log_dir.rglob("*") if p.is_file()) == before
    with _open(log_dir) as logger:
        assert logger.verify_log_integrity()["verified"] is True
