"""Archives written whole read like those written streaming; segment digests kept while writing.

``write_archive`` compresses a segment in one zstd call (streaming only beyond
``archive._WHOLE``); archives written by the earlier streaming writer (kept
here verbatim as ``_legacy_write_archive``) must still read and verify, and the
readers must read the new ones unchanged. A closed segment's SHA-256 in the
manifest comes from the digest ``SegmentFile`` keeps while writing, or from the
file read again when that does not cover every byte: reopened after a crash, or
appended to by other processes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import multiprocessing
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from storage_helpers import NODE, MakeLogger, manifest

from logging_audit.crypto.aead import encrypt
from logging_audit.errors import StorageError
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger
from logging_audit.storage.files import archive, segment_file, stream
from logging_audit.storage.files.archive import iter_archive_lines, write_archive
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import ArchiveInfo, SegmentInfo
from logging_audit.storage.files.reading import read_segment_once
from logging_audit.storage.files.segment_file import SegmentFile

KEY = ("kid-test", bytes(range(32)))
SMALL_MB = 0.01


def _log(logger: SecureLogger, what: str, n: int) -> None:
    """Log ``n`` records, flushing every 10 (a batched log rotates when a flush finds it full)."""
    for i in range(n):
        logger.info("%s %d", what, i, extra={"i": i, "pad": "p" * 40})
        if i % 10 == 9:
            logger.flush()


def _legacy_write_archive(
    source: Path,
    target: Path,
    *,
    level: int = 10,
    key: tuple[str, bytes] | None = None,
    origin: str = "",
) -> str:
    """``write_archive`` as it was before whole-segment compression (1 MiB streaming)."""
    tmp = target.with_name(target.name + ".tmp")
    cctx = zstandard.ZstdCompressor(level=level)
    with source.open("rb") as src:
        compressed = io.BytesIO()
        with cctx.stream_writer(compressed, closefd=False) as zw:
            while chunk := src.read(archive._CHUNK):
                zw.write(chunk)
        blob = compressed.getvalue()
    if key is not None:
        kid, dk = key
        header = orjson.dumps(
            {"format": archive._FORMAT, "kid": kid, "origin": origin, "name": target.name}
        )
        out = bytearray(header + b"\n")
        chunks = [blob[i : i + archive._CHUNK] for i in range(0, len(blob), archive._CHUNK)] or [
            b""
        ]
        for i, part in enumerate(chunks):
            nonce, ct = encrypt(dk, part, archive._aad(header, i, i == len(chunks) - 1))
            out += len(ct).to_bytes(4, "big") + nonce + ct
        blob = bytes(out)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return hashlib.sha256(blob).hexdigest()


def _segment(path: Path, size: int) -> bytes:
    """A segment-like file of ``size``-odd bytes of lines, mostly random (compresses to ~0.6)."""
    lines = []
    total, i = 0, 0
    while total < size:
        noise = base64.b64encode(os.urandom(300)).decode() if i % 8 else "x" * 400
        line = b'{"seq":%d,"msg":"record %d","pad":"%s"}\n' % (i, i, noise.encode())
        lines.append(line)
        total += len(line)
        i += 1
    data = b"".join(lines)
    path.write_bytes(data)
    return data


def _chunks(path: Path) -> int:
    """How many AES-GCM chunks an encrypted archive holds."""
    raw = path.read_bytes()
    pos, n = raw.index(b"\n") + 1, 0
    while pos < len(raw):
        pos += 4 + 12 + int.from_bytes(raw[pos : pos + 4], "big")
        n += 1
    assert pos == len(raw)
    return n


def _read_both_ways(path: Path, seg_id: int = 1) -> bytes:
    """The archive's content through iter_archive_lines, checked against read_segment_once."""
    key_for = {KEY[0]: KEY[1]}.__getitem__
    streamed = b"".join(iter_archive_lines(path, key_for=key_for))
    layout = StreamLayout(path.parent)
    seg = SegmentInfo(seg_id, "unused", 0, archive=ArchiveInfo(path.name, "", None))
    one = read_segment_once(layout, seg, key_for)
    assert one is not None
    lines = [line for batch, _ in one.batches for line in batch]
    assert b"".join(line + b"\n" for line in lines) == streamed
    assert one.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    return streamed


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "encrypted"])
def test_a_two_chunk_segment_round_trips_whole_streamed_and_legacy(
    tmp_path: Path, key: tuple[str, bytes] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _segment(tmp_path / "seg.jsonl", 2 * archive._CHUNK + 4321)
    name = "00000001.jsonl.zst.aes" if key else "00000001.jsonl.zst"
    whole = tmp_path / "whole" / name
    legacy = tmp_path / "legacy" / name
    streamed = tmp_path / "streamed" / name
    for d in (whole, legacy, streamed):
        d.parent.mkdir()
    digest = write_archive(tmp_path / "seg.jsonl", whole, level=1, key=key, origin="o")
    _legacy_write_archive(tmp_path / "seg.jsonl", legacy, level=1, key=key, origin="o")
    monkeypatch.setattr(archive, "_WHOLE", 0)  # the streaming fallback for large segments
    write_archive(tmp_path / "seg.jsonl", streamed, level=1, key=key, origin="o")

    assert digest == hashlib.sha256(whole.read_bytes()).hexdigest()
    for path in (whole, legacy, streamed):
        assert _read_both_ways(path) == data
    if key is not None:
        # the compressed frame is over 1 MiB: several chunks, as before
        assert _chunks(whole) == _chunks(legacy) == _chunks(streamed) >= 2
    else:
        # one frame each; the whole-segment one states its content size
        assert zstandard.frame_content_size(whole.read_bytes()) == len(data)
        assert zstandard.frame_content_size(legacy.read_bytes()) == -1
        plain = zstandard.ZstdDecompressor()
        for path in (whole, legacy, streamed):
            assert plain.decompressobj().decompress(path.read_bytes()) == data


@pytest.mark.parametrize("level", [1, 3])
def test_empty_and_one_line_segments_round_trip(tmp_path: Path, level: int) -> None:
    for content in (b"", b'{"seq":0}\n'):
        src = tmp_path / "seg.jsonl"
        src.write_bytes(content)
        for key in (None, KEY):
            target = tmp_path / ("a.zst.aes" if key else "a.zst")
            write_archive(src, target, level=level, key=key)
            assert _read_both_ways(target) == content


def test_an_unreadable_segment_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot write archive"):
        write_archive(tmp_path / "missing.jsonl", tmp_path / "a.zst")


@pytest.mark.parametrize("encrypt_archives", [False, True])
def test_a_log_with_legacy_and_new_archives_reads_and_verifies(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch, encrypt_archives: bool
) -> None:
    opts: dict[str, Any] = {
        "max_log_size_mb": SMALL_MB,
        "encryption_enabled": True,
        "encrypt_archives": encrypt_archives,
    }
    with monkeypatch.context() as m:
        m.setattr(stream, "write_archive", _legacy_write_archive)
        logger = make_logger(**opts)
        _log(logger, "before", 150)
        logger.close()
    legacy = {s["id"] for s in manifest(log_dir / "app")["segments"] if s["archive"]}
    logger = make_logger(**opts)
    _log(logger, "after", 150)
    logger.rotate()
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"][:5]
    logger.close()
    segs = manifest(log_dir / "app")["segments"]
    assert len(legacy) >= 2
    assert len([s for s in segs if s["archive"] and s["id"] not in legacy]) >= 2
    for s in segs[:-1]:
        path = log_dir / "app" / s["archive"]["file"]
        assert s["archive"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    msgs = [r.fields.get("msg") for r in read_records(log_dir / "app") if r.kind == "record"]
    assert [m for m in msgs if isinstance(m, str) and m.startswith(("before", "after"))] == [
        f"before {i}" for i in range(150)
    ] + [f"after {i}" for i in range(150)]


# -- digests of closed segments ------------------------------------------------------


class ReReads:
    """Counts the segments whose digest was computed by reading the file again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = segment_file.file_sha256

        def counting(path: Path) -> str:
            self.paths.append(path.name)
            return real(path)

        monkeypatch.setattr(segment_file, "file_sha256", counting)
        monkeypatch.setattr(stream, "file_sha256", counting)


def _closed_digests_match(stream_dir: Path) -> int:
    """Assert every closed segment's manifest SHA-256 is that of its file; return how many."""
    segs = manifest(stream_dir)["segments"][:-1]
    for s in segs:
        assert s["archive"] is None
        data = (stream_dir / s["file"]).read_bytes()
        assert s["sha256"] == hashlib.sha256(data).hexdigest(), s["file"]
    return len(segs)


@pytest.mark.parametrize("durability", ["batched", "sync"])
def test_rotation_uses_the_digest_kept_while_writing(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch, durability: str
) -> None:
    rereads = ReReads(monkeypatch)
    logger = make_logger(
        max_log_size_mb=SMALL_MB, archive=False, durability=durability, encryption_enabled=True
    )
    _log(logger, "record", 300)
    logger.seal()
    logger.rotate()
    logger.close()
    assert _closed_digests_match(log_dir / "app") >= 3
    assert rereads.paths == []
    assert SecureLogger(name="app", log_dir=log_dir, node_id=NODE).verify_log_integrity()[
        "verified"
    ]


def test_a_segment_reopened_after_a_torn_tail_is_read_again(
    make_logger: MakeLogger, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = make_logger(archive=False)
    for i in range(20):
        logger.info("first run %d", i)
    logger.close()
    open_seg = log_dir / "app" / manifest(log_dir / "app")["segments"][-1]["file"]
    with open_seg.open("ab") as f:
        f.write(b'{"half a li')  # a crash mid-line
    rereads = ReReads(monkeypatch)
    logger = make_logger(archive=False)  # cuts the tail and logs the cut
    for i in range(20):
        logger.info("second run %d", i)
    logger.rotate()
    for i in range(20):
        logger.info("third segment %d", i)
    logger.rotate()
    assert rereads.paths == [open_seg.name]  # only the reopened one; the next was hashed
    assert _closed_digests_match(log_dir / "app") == 2
    assert b'{"half a li' not in open_seg.read_bytes()
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"][:5]


def test_a_failed_write_that_cannot_be_rolled_back_drops_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seg.jsonl"
    seg = SegmentFile(path, create=True)
    seg.write(b"one\n")
    assert seg.digest_known
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 3:
            return real_write(fd, bytes(data[:3]))
        raise OSError(28, "No space left on device")

    def no_truncate(fd: int, size: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(segment_file.os, "write", half_then_full)
    monkeypatch.setattr(segment_file.os, "ftruncate", no_truncate)
    with pytest.raises(StorageError, match="No space left"):
        seg.write(b"two\n")
    monkeypatch.undo()
    assert not seg.digest_known
    assert path.read_bytes() == b"one\ntwo"
    assert seg.sha256() == hashlib.sha256(b"one\ntwo").hexdigest()
    seg.close()


def test_segment_file_digest_follows_its_own_writes_only(tmp_path: Path) -> None:
    path = tmp_path / "seg.jsonl"
    seg = SegmentFile(path, create=True)
    seg.write(b"a\n")
    seg.write(b"bc\n")
    assert seg.digest_known
    assert seg.sha256() == hashlib.sha256(b"a\nbc\n").hexdigest()
    seg.size = seg.size  # unchanged: still covered
    assert seg.digest_known
    with path.open("ab") as f:
        f.write(b"other\n")  # another writer appends; the owner adopts it
    seg.size += 6
    assert not seg.digest_known
    seg.write(b"d\n")
    assert seg.sha256() == hashlib.sha256(b"a\nbc\nother\nd\n").hexdigest()
    seg.close()
    reopened = SegmentFile(path, create=False)  # not empty: unknown until read
    assert not reopened.digest_known
    reopened.close()
    empty = SegmentFile(tmp_path / "empty.jsonl", create=True)
    empty.forget_digest()
    assert empty.sha256() == hashlib.sha256(b"").hexdigest()
    empty.close()


# -- several processes ---------------------------------------------------------------


def _mp_options(**kw: Any) -> dict[str, Any]:
    return {
        "name": "shared",
        "node_id": NODE,
        "multiprocess": True,
        "max_log_size_mb": SMALL_MB,
        "archive": False,
        "encryption_enabled": True,
        **kw,
    }


def test_writers_of_one_process_sharing_a_segment_get_the_file_digest(log_dir: Path) -> None:
    """Two multiprocess writers take turns in every segment (flock works between them too)."""
    opts = _mp_options(flush_interval=60, encryption_enabled=False)  # messages readable
    a = SecureLogger(log_dir=log_dir, **opts)
    b = SecureLogger(log_dir=log_dir, **opts)
    try:
        for i in range(200):
            for who, lg in (("a", a), ("b", b)):
                lg.info("%s record %d", who, i, extra={"pad": "p" * 40})
                lg.flush()
        a.rotate()
        b.info("after the rotation")
        b.rotate()
        report = a.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    finally:
        a.close()
        b.close()
    stream_dir = log_dir / "shared"
    assert _closed_digests_match(stream_dir) >= 5
    shared = 0
    for s in manifest(stream_dir)["segments"][:-1]:
        text = (stream_dir / s["file"]).read_bytes()
        shared += b"a record" in text and b"b record" in text
    assert shared >= 3, "both writers appended to the same segments"


_ctx = multiprocessing.get_context("spawn")


def _worker(log_dir: str, worker: int, n: int, start: Any) -> None:
    logger = SecureLogger(log_dir=log_dir, **_mp_options(flush_interval=0.02))
    start.wait()
    for j in range(n):
        logger.info("worker %d record %d", worker, j, extra={"w": worker, "pad": "p" * 40})
        if j % 10 == 9:
            logger.flush()
    logger.close()


def test_processes_appending_to_one_segment_get_the_file_digest(log_dir: Path) -> None:
    parent = SecureLogger(log_dir=log_dir, **_mp_options(durability="sync"))
    try:
        parent.info("parent starts the workers")
        start = _ctx.Barrier(3)
        procs = [_ctx.Process(target=_worker, args=(str(log_dir), w, 300, start)) for w in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0]
        parent.info("parent saw the workers finish")
        parent.rotate()
        report = parent.verify_log_integrity()
        assert report["verified"] is True, report["errors"][:5]
    finally:
        parent.close()
    assert _closed_digests_match(log_dir / "shared") >= 5
