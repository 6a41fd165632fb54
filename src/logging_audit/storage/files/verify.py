"""Verify a file stream directory: every segment and archive, checkpoints, manifest digests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from logging_audit.errors import Error, StorageError
from logging_audit.ledger.report import Failure, FailureKind, VerificationReport
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.ledger.verify import StreamVerifier
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest, SegmentInfo
from logging_audit.storage.files.reading import iter_segment_lines, read_checkpoints

__all__ = ["find_streams", "verify_stream_dir"]

Progress = Callable[[int], None]


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
    key_for: Callable[[str], bytes] | None = None,
    progress: Progress | None = None,
) -> VerificationReport:
    """Verify the stream in ``path`` and return the report (never raises for tampering).

    Storage-level findings (a listed segment or archive missing, a closed one
    whose digest changed, one that cannot be read) are failures in the same
    report, next to what the ledger's walk finds.
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
    fed = 0
    for seg in manifest.segments:
        if seg.id in pruned:
            continue
        name = seg.archive.file if seg.archive is not None else seg.file
        _check_digest(layout, seg, storage)
        try:
            for number, line in enumerate(_lines(layout, seg, key_for), 1):
                verifier.feed(line, segment=name, line=number)
                fed += 1
                if progress is not None and fed % 65536 == 0:
                    progress(65536)
        except StorageError as exc:
            kind = (
                FailureKind.MISSING_SEGMENT
                if "missing" in str(exc)
                else FailureKind.UNREADABLE_SEGMENT
            )
            storage.append(Failure(kind, str(exc), seq=seg.first_seq, segment=name))
        except Error as exc:
            storage.append(
                Failure(FailureKind.UNREADABLE_SEGMENT, str(exc), seq=seg.first_seq, segment=name)
            )
    if progress is not None:
        progress(fed % 65536)
    report = verifier.finish()
    report.failures[:0] = storage
    return report


def _lines(
    layout: StreamLayout, seg: SegmentInfo, key_for: Callable[[str], bytes] | None
) -> Iterator[bytes]:
    return iter_segment_lines(layout, seg, key_for)


def _check_digest(layout: StreamLayout, seg: SegmentInfo, out: list[Failure]) -> None:
    if seg.archive is not None:
        name, want = seg.archive.file, seg.archive.sha256
    elif seg.sha256 is not None:
        name, want = seg.file, seg.sha256
    else:
        return
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
        out.append(
            Failure(
                FailureKind.SEGMENT_REPLACED,
                f"{name} differs from the digest recorded when it was closed",
                seq=seg.first_seq,
                segment=name,
            )
        )
