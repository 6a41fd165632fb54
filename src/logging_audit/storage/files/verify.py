"""Verify a file stream directory: every segment and archive, checkpoints, manifest digests.

Each segment is read once: its lines go to the verifier in batches while the
file's bytes are hashed for the manifest digest. With ``jobs`` > 1, segments
are walked in worker processes and stitched on in order (ADR 0035); the
report is the one a single walk makes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from logging_audit.errors import Error, StorageError
from logging_audit.ledger.report import Failure, FailureKind, VerificationReport
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.ledger.verify import StreamVerifier
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest, SegmentInfo
from logging_audit.storage.files.parallel_verify import SegmentPool, SegmentResult, plan_workers
from logging_audit.storage.files.reading import (
    iter_segment_lines,
    read_checkpoints,
    read_segment_once,
)

__all__ = ["find_streams", "verify_stream_dir"]

Progress = Callable[[int], None]
KeyFor = Callable[[str], bytes]


def find_streams(path: Path) -> list[Path]:
    """The stream directories at ``path``: itself if it is one, else its children that are."""
    if StreamLayout(path).is_stream():
        return [path]
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and StreamLayout(p).is_stream())
    except OSError as exc:
        raise StorageError(f"cannot list {path}: {exc}") from exc


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_stream_dir(
    path: Path,
    material: VerifierMaterial,
    *,
    trusted_checkpoint: str | None = None,
    key_for: KeyFor | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> VerificationReport:
    """Verify the stream in ``path`` and return the report (never raises for tampering).

    Storage-level findings (a listed segment or archive missing, a closed one
    whose digest changed, one that cannot be read) are failures in the same
    report, next to what the ledger's walk finds. ``jobs`` is how many worker
    processes may walk segments in parallel: ``None`` uses every CPU when that
    pays (enough segments and records, and this process runs no other thread
    so workers can be forked), 1 walks in this process. The report does not
    depend on it.
    """
    layout = StreamLayout(path)
    manifest = Manifest.load(layout.manifest)
    storage: list[Failure] = []
    if manifest.origin != material.origin:
        storage.append(
            Failure(
                FailureKind.FOREIGN_STREAM,
                f"{layout.manifest} describes stream {manifest.origin!r}, "
                f"but the verifier is for {material.origin!r}",
            )
        )
    verifier = StreamVerifier(
        material,
        checkpoints=read_checkpoints(layout),
        trusted_checkpoint=trusted_checkpoint,
        start=manifest.start(),
    )
    pruned = set(manifest.pruned.get("segments", [])) if manifest.pruned else set()
    segments = [seg for seg in manifest.segments if seg.id not in pruned]
    plan = plan_workers(jobs, segments)
    pool = None
    if plan is not None:
        workers, context = plan
        sizes = verifier.checkpoint_sizes
        pool = SegmentPool(layout, material, key_for, sizes, workers, context)
    try:
        results = pool.results(segments) if pool is not None else None
        for seg in segments:
            if results is not None:
                res = next(results)
                if res.summary is not None and verifier.adopt_segment(res.summary):
                    _compare_digest(layout, seg, res, storage)
                    if progress is not None:
                        progress(res.summary.lines)
                    continue
            _walk_segment(verifier, layout, seg, key_for, storage, progress)
    finally:
        if pool is not None:
            pool.close()
    report = verifier.finish()
    report.failures[:0] = storage
    return report


def _walk_segment(
    verifier: StreamVerifier,
    layout: StreamLayout,
    seg: SegmentInfo,
    key_for: KeyFor | None,
    storage: list[Failure],
    progress: Progress | None,
) -> None:
    """Feed one segment's lines to the verifier, reading the file once when possible."""
    name = seg.archive.file if seg.archive is not None else seg.file
    one = read_segment_once(layout, seg, key_for)
    if one is not None:
        line = 1
        for lines, terminated in one.batches:
            verifier.feed_many(lines, segment=name, first_line=line, terminated=terminated)
            line += len(lines)
            if progress is not None:
                progress(len(lines))
        _compare_digest(layout, seg, SegmentResult(seg.id, one.path, one.sha256, None), storage)
        return
    # The single pass could not read it: read it line by line, which names what is wrong.
    _check_digest(layout, seg, storage)
    fed = 0
    try:
        for number, line_bytes in enumerate(iter_segment_lines(layout, seg, key_for), 1):
            verifier.feed(line_bytes, segment=name, line=number)
            fed += 1
    except StorageError as exc:
        kind = (
            FailureKind.MISSING_SEGMENT if "missing" in str(exc) else FailureKind.UNREADABLE_SEGMENT
        )
        storage.append(Failure(kind, str(exc), seq=seg.first_seq, segment=name))
    except Error as exc:
        storage.append(
            Failure(FailureKind.UNREADABLE_SEGMENT, str(exc), seq=seg.first_seq, segment=name)
        )
    if progress is not None:
        progress(fed)


def _recorded(seg: SegmentInfo) -> tuple[str, str] | None:
    """The file whose digest the manifest recorded for ``seg``, and that digest."""
    if seg.archive is not None:
        return seg.archive.file, seg.archive.sha256
    if seg.sha256 is not None:
        return seg.file, seg.sha256
    return None


def _compare_digest(
    layout: StreamLayout, seg: SegmentInfo, res: SegmentResult, out: list[Failure]
) -> None:
    """The digest check of a segment read in one pass (``res`` names the file and its digest)."""
    recorded = _recorded(seg)
    if recorded is None or res.path != layout.root / recorded[0]:
        return
    name, want = recorded
    if res.sha256 != want:
        out.append(_replaced(seg, name))


def _check_digest(layout: StreamLayout, seg: SegmentInfo, out: list[Failure]) -> None:
    recorded = _recorded(seg)
    if recorded is None:
        return
    name, want = recorded
    file = layout.root / name
    try:
        got = _digest(file)
    except FileNotFoundError:
        return  # reported when reading it
    except OSError as exc:
        out.append(
            Failure(
                FailureKind.UNREADABLE_SEGMENT,
                f"cannot read {file}: {exc}",
                seq=seg.first_seq,
                segment=name,
            )
        )
        return
    if got != want:
        out.append(_replaced(seg, name))


def _replaced(seg: SegmentInfo, name: str) -> Failure:
    """The failure of a closed segment whose bytes differ from its recorded digest."""
    return Failure(
        FailureKind.SEGMENT_REPLACED,
        f"{name} differs from the digest recorded when it was closed",
        seq=seg.first_seq,
        segment=name,
    )
