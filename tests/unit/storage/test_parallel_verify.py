"""verify_stream_dir with segments walked in worker processes: the same report, always.

The main check runs the existing tamper and attack suites (ledger, file storage,
the logger tamper and fault tests) under ``verify_modes_plugin``, which makes
every verification there run in one process and again segment by segment
(stitched on), and fails on any difference. The rest checks the pieces: real
worker processes, the single-pass reader against the line reader, the choice
of when workers pay, and ``logaudit verify --jobs``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from storage_helpers import MakeLogger, manifest

import logging_audit.storage.files.parallel_verify as pv
from logging_audit._cli import cli
from logging_audit.crypto.verifier_file import VerifierFile
from logging_audit.ledger.report import VerificationReport
from logging_audit.ledger.verify import StreamVerifier
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest, SegmentInfo
from logging_audit.storage.files.reading import iter_segment_lines, read_segment_once
from logging_audit.storage.files.verify import verify_stream_dir

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SMALL_MB = 0.004  # 4194 bytes: a few dozen records per segment


def _same(a: VerificationReport, b: VerificationReport) -> None:
    assert b.to_dict() == a.to_dict()
    assert b.failures == a.failures


# -- the suites, in every mode ------------------------------------------------------------


@pytest.mark.slow
def test_tamper_suites_report_the_same_whether_segments_are_walked_apart_or_not(
    tmp_path: Path,
) -> None:
    stats = tmp_path / "stats.json"
    env = dict(os.environ, VERIFY_MODES_STATS=str(stats))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    suites = [
        "tests/unit/ledger",
        "tests/unit/storage",
        "tests/integration/test_logger_tamper.py",
        "tests/integration/test_logger_faults.py",
        "tests/unit/test_secure_logger.py",
    ]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "verify_modes_plugin",
            f"--ignore={Path(__file__).relative_to(ROOT)}",
            *suites,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    counts = json.loads(stats.read_text(encoding="utf-8"))
    # Stitching was exercised, not just skipped: many comparisons, many segments taken.
    assert counts["dir_compared"] >= 100, counts
    assert counts["dir_adopted"] >= 100, counts
    assert counts["stream_compared"] >= 500, counts
    assert counts["stream_adopted"] >= 1000, counts


# -- real worker processes ----------------------------------------------------------------


def _log(
    make_logger: MakeLogger, tmp_path: Path, records: int = 400, *, close: bool = True, **kw: Any
) -> Path:
    """A log of many small segments (epochs ending inside segments too); its verifier file."""
    verifier = tmp_path / "app.verifier.json"
    logger = make_logger(max_log_size_mb=SMALL_MB, verifier_file=verifier, **kw)
    for i in range(records):
        logger.info(f"record {i}", extra={"i": i})
        if i % 10 == 9:
            logger.flush()  # rotation happens as batches are written
        if i % 150 == 149:
            logger.seal()  # an epoch ending inside a segment, too
    if close:
        logger.close()
    else:
        logger.flush()  # left open: the open segment holds the last records
    return verifier


def _with_lines(stream: Path) -> int:
    """Segments that hold at least one line (the open one may be empty)."""
    return sum(
        1
        for s in manifest(stream)["segments"]
        if s["archive"] is not None or (stream / s["file"]).stat().st_size > 0
    )


@pytest.fixture
def workers_always(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers are used however small the log; returns the list of segments adopted."""
    monkeypatch.setattr(pv, "MIN_RECORDS_FORKED", 0)
    monkeypatch.setattr(pv, "MIN_RECORDS_SPAWNED", 0)
    adopted: list[int] = []
    original = StreamVerifier.adopt_segment

    def counting(self: StreamVerifier, summary: Any) -> bool:
        taken = original(self, summary)
        if taken:
            adopted.append(summary.first_seq)
        return taken

    monkeypatch.setattr(StreamVerifier, "adopt_segment", counting)
    return adopted


def test_worker_processes_give_the_single_walks_report(
    make_logger: MakeLogger, log_dir: Path, tmp_path: Path, workers_always: list[int]
) -> None:
    verifier = _log(make_logger, tmp_path)
    material = VerifierFile.load(verifier).material()
    stream = log_dir / "app"
    segments = _with_lines(stream)
    assert segments >= 4
    single = verify_stream_dir(stream, material, jobs=1)
    assert single.verified, single.failures
    assert not workers_always
    parallel = verify_stream_dir(stream, material, jobs=2)
    _same(single, parallel)
    assert len(workers_always) == segments


def test_worker_processes_read_encrypted_archives(
    make_logger: MakeLogger, log_dir: Path, tmp_path: Path, workers_always: list[int]
) -> None:
    verifier = _log(make_logger, tmp_path, encryption_enabled=True, encrypt_archives=True)
    material = VerifierFile.load(verifier).material()
    from logging_audit.crypto.data_keys import EncryptionKeyStore

    keys = next((log_dir / "app" / "keys").glob("*enc*"))
    key_for = EncryptionKeyStore.load(keys).data_key
    stream = log_dir / "app"
    single = verify_stream_dir(stream, material, key_for=key_for, jobs=1)
    assert single.verified, single.failures
    parallel = verify_stream_dir(stream, material, key_for=key_for, jobs=2)
    _same(single, parallel)
    assert len(workers_always) == _with_lines(stream)
    # Without the key the archives cannot be read, in either mode, and alike.
    _same(verify_stream_dir(stream, material, jobs=1), verify_stream_dir(stream, material, jobs=2))


@pytest.mark.parametrize("where", ["archive", "open segment", "replaced archive", "missing"])
def test_worker_processes_report_tampering_as_the_single_walk(
    make_logger: MakeLogger,
    log_dir: Path,
    tmp_path: Path,
    workers_always: list[int],
    where: str,
) -> None:
    import zstandard

    verifier = _log(make_logger, tmp_path, 405, close=where != "open segment")
    material = VerifierFile.load(verifier).material()
    stream = log_dir / "app"
    segs = manifest(stream)["segments"]
    if where == "archive":
        path = stream / segs[1]["archive"]["file"]
        text = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
        path.write_bytes(
            zstandard.ZstdCompressor().compress(text.replace(b"record 3", b"record X"))
        )
    elif where == "open segment":
        plain = [stream / s["file"] for s in segs if (stream / s["file"]).exists()]
        path = [p for p in plain if len(p.read_bytes().splitlines()) > 2][-1]
        lines = path.read_bytes().splitlines(keepends=True)
        del lines[1]
        path.write_bytes(b"".join(lines))
    elif where == "replaced archive":
        (stream / segs[2]["archive"]["file"]).write_bytes(b"not zstd at all")
    else:
        (stream / segs[1]["archive"]["file"]).unlink()
    single = verify_stream_dir(stream, material, jobs=1)
    assert not single.verified
    _same(single, verify_stream_dir(stream, material, jobs=2))
    assert workers_always  # the segments before the tampering were still taken from workers


# -- the single-pass reader -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"a\nb\n", b"a\nb", b"a\r\nb\r\n\n\nc", b"\n", b"x" * 3_000_000 + b"\ny\n"],
)
def test_the_single_pass_gives_the_lines_the_line_reader_gives(
    tmp_path: Path, content: bytes
) -> None:
    import zstandard

    layout = StreamLayout(tmp_path)
    (tmp_path / "segments").mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "segments" / "1.jsonl").write_bytes(content)
    (tmp_path / "archive" / "1.zst").write_bytes(zstandard.ZstdCompressor().compress(content))
    from logging_audit.storage.files.manifest import ArchiveInfo

    plain = SegmentInfo(1, "segments/1.jsonl", 0)
    archived = SegmentInfo(1, "segments/1.jsonl", 0, 1, archive=ArchiveInfo("archive/1.zst", ""))
    for seg in (plain, archived):
        want = list(iter_segment_lines(layout, seg))
        one = read_segment_once(layout, seg)
        assert one is not None
        got: list[bytes] = []
        for lines, terminated in one.batches:
            got += [x + b"\n" for x in lines[:-1]]
            got.append(lines[-1] + b"\n" if terminated else lines[-1])
        assert got == want
        import hashlib

        assert one.sha256 == hashlib.sha256(one.path.read_bytes()).hexdigest()


def test_the_single_pass_leaves_corrupt_and_missing_files_to_the_line_reader(
    tmp_path: Path,
) -> None:
    from logging_audit.storage.files.manifest import ArchiveInfo

    layout = StreamLayout(tmp_path)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "1.zst").write_bytes(b"\x28\xb5\x2f\xfd garbage")
    corrupt = SegmentInfo(1, "segments/1.jsonl", 0, 1, archive=ArchiveInfo("archive/1.zst", ""))
    missing = SegmentInfo(2, "segments/2.jsonl", 0)
    assert read_segment_once(layout, corrupt) is None
    assert read_segment_once(layout, missing) is None


# -- when workers pay ------------------------------------------------------------------------


def _segs(*sizes: int | None) -> list[SegmentInfo]:
    out, first = [], 0
    for i, size in enumerate(sizes, 1):
        end = None if size is None else first + size
        out.append(SegmentInfo(i, f"segments/{i}.jsonl", first, end))
        first = end or first
    return out


def test_workers_are_planned_only_when_they_pay() -> None:
    big = _segs(30_000, 30_000, None)
    assert pv.plan_workers(1, big) is None
    assert pv.plan_workers(2, _segs(None)) is None
    assert pv.plan_workers(2, _segs(100, 100, None)) is None
    if "fork" in pv.multiprocessing.get_all_start_methods() and pv.threading.active_count() == 1:
        plan = pv.plan_workers(4, big)
        assert plan is not None
        assert plan[0] == 3  # never more workers than segments
        assert plan[1].get_start_method() == "fork"


def test_with_other_threads_running_workers_are_used_only_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pv.threading, "active_count", lambda: 3)
    monkeypatch.setattr(pv, "MIN_RECORDS_SPAWNED", 0)
    big = _segs(30_000, 30_000, None)
    assert pv.plan_workers(None, big) is None
    plan = pv.plan_workers(2, big)
    assert plan is not None
    assert plan[1].get_start_method() in {"forkserver", "spawn"}


# -- logaudit verify --jobs ------------------------------------------------------------------------


def test_cli_verify_jobs_gives_the_same_json_report(
    make_logger: MakeLogger, log_dir: Path, tmp_path: Path, workers_always: list[int]
) -> None:
    verifier = _log(make_logger, tmp_path)
    stream = log_dir / "app"
    last_archive = [s for s in Manifest.load(StreamLayout(stream).manifest).segments if s.archive]
    assert last_archive[-1].archive is not None
    (stream / last_archive[-1].archive.file).write_bytes(b"replaced")
    out = {}
    for jobs in ("1", "2"):
        res = CliRunner().invoke(
            cli, ["verify", str(stream), "--verifier", str(verifier), "--json", "--jobs", jobs]
        )
        assert res.exit_code == 1, res.output
        out[jobs] = json.loads(res.output)
    assert out["1"] == out["2"]
    assert workers_always
    bad = CliRunner().invoke(cli, ["verify", str(stream), "--jobs", "0"])
    assert bad.exit_code == 2
