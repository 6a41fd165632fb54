"""A pytest plugin that runs every verification of a test suite in every mode and compares.

Loaded with ``-p verify_modes_plugin`` (this directory on ``PYTHONPATH``) by
``test_parallel_verify.py``, it replaces, before the suites are imported:

- ``verify_stream_dir`` (what ``SecureLogger.verify_log_integrity`` and
  ``logaudit verify`` run) by one that verifies walking in this process
  (``jobs=1``) and again with every segment walked on its own, as a worker
  does, its summary pickled and stitched on — and fails the calling test unless
  both reports are identical;
- ``verify_stream`` (the ledger's one-call form) by one that also feeds the
  same lines through ``feed_many`` and through segments cut every k lines,
  each walked by a ``SegmentVerifier`` and adopted or fed, and compares.

Counts of comparisons and of segments adopted go to ``$VERIFY_MODES_STATS``
(JSON) at the end, so the outer test can check that stitching was exercised.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import logging_audit.ledger as ledger_pkg
import logging_audit.ledger.verify as ledger_verify
import logging_audit.storage.files as files_pkg
import logging_audit.storage.files.verify as files_verify
from logging_audit.ledger.report import VerificationReport
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.ledger.verify import SegmentVerifier, StreamVerifier
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import SegmentInfo
from logging_audit.storage.files.parallel_verify import SegmentResult, walk_segment

STATS: dict[str, int] = {
    "dir_compared": 0,
    "dir_segments": 0,
    "dir_adopted": 0,
    "stream_compared": 0,
    "stream_adopted": 0,
}
CUTS = (1, 2, 3, 5, 8)

_orig_dir = files_verify.verify_stream_dir
_orig_stream = ledger_verify.verify_stream
_orig_adopt = StreamVerifier.adopt_segment


def _same(a: VerificationReport, b: VerificationReport, what: str) -> None:
    if a.to_dict() != b.to_dict() or a.failures != b.failures:
        raise AssertionError(
            f"{what}: report differs from the single walk's\n"
            f"single: {a.to_dict()}\nother:  {b.to_dict()}"
        )


# -- verify_stream_dir ------------------------------------------------------------------


class _InlinePool:
    """Stands in for SegmentPool: walks each segment here, summary pickled as to a worker."""

    def __init__(
        self,
        layout: StreamLayout,
        material: VerifierMaterial,
        key_for: Any,
        checkpoint_sizes: Collection[int],
        workers: int,
        context: Any,
    ) -> None:
        self._args = (layout, material, key_for, frozenset(checkpoint_sizes))

    def results(self, segments: Sequence[SegmentInfo]) -> Iterator[SegmentResult]:
        layout, material, key_for, sizes = self._args
        for seg in segments:
            res = walk_segment(layout, seg, material, key_for, sizes)
            STATS["dir_segments"] += 1
            yield pickle.loads(pickle.dumps(res))  # noqa: S301 - our own bytes

    def close(self) -> None:
        pass


def _counting_adopt(self: StreamVerifier, summary: Any) -> bool:
    taken = _orig_adopt(self, summary)
    if taken:
        STATS[_counting_adopt.key] += 1  # type: ignore[attr-defined]
    return taken


_counting_adopt.key = "dir_adopted"  # type: ignore[attr-defined]


def verify_stream_dir_both(path: Path, material: VerifierMaterial, **kw: Any) -> VerificationReport:
    """``verify_stream_dir`` walked in one process and segment by segment; reports must match."""
    kw.pop("jobs", None)
    single = _orig_dir(path, material, jobs=1, **kw)
    saved = (files_verify.plan_workers, files_verify.SegmentPool, StreamVerifier.adopt_segment)
    files_verify.plan_workers = lambda jobs, segments: (2, None)  # type: ignore[assignment,return-value]
    files_verify.SegmentPool = _InlinePool  # type: ignore[assignment,misc]
    _counting_adopt.key = "dir_adopted"  # type: ignore[attr-defined]
    StreamVerifier.adopt_segment = _counting_adopt  # type: ignore[method-assign]
    try:
        stitched = _orig_dir(path, material, jobs=2, **kw)
    finally:
        files_verify.plan_workers, files_verify.SegmentPool = saved[0], saved[1]  # type: ignore[assignment,misc]
        StreamVerifier.adopt_segment = saved[2]  # type: ignore[method-assign]
    STATS["dir_compared"] += 1
    _same(single, stitched, f"verify_stream_dir({path}) with segments walked apart")
    return single


# -- verify_stream ----------------------------------------------------------------------


def _items(lines: Iterable[Any]) -> list[tuple[str | None, int, bytes]]:
    out = []
    for i, item in enumerate(lines, 1):
        out.append(item if isinstance(item, tuple) else (None, i, item))
    return out


def _segmented(
    items: list[tuple[str | None, int, bytes]],
    k: int,
    material: VerifierMaterial,
    kw: dict[str, Any],
) -> VerificationReport:
    v = StreamVerifier(
        material,
        checkpoints=kw.get("checkpoints", ()),
        trusted_checkpoint=kw.get("trusted_checkpoint"),
        start=kw.get("start"),
    )
    for at in range(0, len(items), k):
        chunk = items[at : at + k]
        walker = SegmentVerifier(material, segment=chunk[0][0], checkpoint_sizes=v.checkpoint_sizes)
        for segment, number, data in chunk:
            walker.feed(data, segment=segment, line=number)
        summary = walker.summary()
        if summary is not None:
            summary = pickle.loads(pickle.dumps(summary))  # noqa: S301 - our own bytes
        if summary is not None and v.adopt_segment(summary):
            STATS["stream_adopted"] += 1
            continue
        for segment, number, data in chunk:
            v.feed(data, segment=segment, line=number)
    return v.finish()


def _batched(
    items: list[tuple[str | None, int, bytes]], kw: dict[str, Any], material: VerifierMaterial
) -> VerificationReport:
    v = StreamVerifier(
        material,
        checkpoints=kw.get("checkpoints", ()),
        trusted_checkpoint=kw.get("trusted_checkpoint"),
        start=kw.get("start"),
    )
    # Runs of one segment, numbered consecutively, go in one batch without their
    # newlines, as the file reader hands them over; a line that had no newline and
    # ends in "\r" must end its batch (terminated=False).
    batch: list[bytes] = []
    seg: str | None = None
    first = 0

    def flush(terminated: bool) -> None:
        if batch:
            v.feed_many(batch, segment=seg, first_line=first, terminated=terminated)
            batch.clear()

    for segment, number, data in items:
        if batch and (segment != seg or number != first + len(batch)):
            flush(True)
        if not batch:
            seg, first = segment, number
        if data.endswith(b"\n"):
            batch.append(data[:-1])
        else:
            batch.append(data)
            if data.endswith(b"\r"):
                flush(False)
    flush(True)
    return v.finish()


def verify_stream_both(
    lines: Iterable[Any],
    verifier_material: VerifierMaterial,
    trusted_checkpoint: str | None = None,
    **kw: Any,
) -> VerificationReport:
    """``verify_stream`` compared with batched feeding and with segments stitched on."""
    items = list(lines)
    single = _orig_stream(items, verifier_material, trusted_checkpoint, **kw)
    numbered = _items(items)
    kw2 = dict(kw, trusted_checkpoint=trusted_checkpoint)
    _same(single, _batched(numbered, kw2, verifier_material), "verify_stream via feed_many")
    for k in CUTS:
        _same(
            single,
            _segmented(numbered, k, verifier_material, kw2),
            f"verify_stream with segments of {k} lines walked apart",
        )
    STATS["stream_compared"] += 1
    return single


# -- installation -----------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """Install the comparing functions wherever the originals were imported."""
    import logging_audit._cli.logs
    import logging_audit.secure_logger

    for mod in list(sys.modules.values()):
        if mod is None or not getattr(mod, "__name__", "").startswith("logging_audit"):
            continue
        if getattr(mod, "verify_stream_dir", None) is _orig_dir:
            mod.verify_stream_dir = verify_stream_dir_both  # type: ignore[attr-defined]
        if getattr(mod, "verify_stream", None) is _orig_stream:
            mod.verify_stream = verify_stream_both  # type: ignore[attr-defined]
    assert files_pkg.verify_stream_dir is verify_stream_dir_both
    assert ledger_pkg.verify_stream is verify_stream_both
    assert logging_audit._cli.logs.verify_stream_dir is verify_stream_dir_both


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the counts for the outer test."""
    out = os.environ.get("VERIFY_MODES_STATS")
    if out:
        Path(out).write_text(json.dumps(STATS), encoding="utf-8")
