"""Walking the segments of a file stream in worker processes (ADR 0035).

Each worker reads one segment at a time in a single pass and walks it with a
:class:`~logging_audit.ledger.verify.SegmentVerifier`, which assumes that the
stream is intact up to the segment's first line and records what only the
whole walk can check. The result is a small :class:`SegmentResult`; the main
process takes the segments in order (:meth:`StreamVerifier.adopt_segment`) and
walks any segment it cannot take (anything found, anything unusual) itself,
line by line, so the report is the one a single walk makes.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from logging_audit.errors import Error
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.ledger.verify import SegmentSummary, SegmentVerifier
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import SegmentInfo
from logging_audit.storage.files.reading import read_segment_once

__all__ = ["SegmentPool", "SegmentResult", "default_jobs", "plan_workers", "walk_segment"]

MIN_RECORDS_FORKED = 20_000
"""Records below which forked workers do not pay for themselves (starting them costs ~10 ms)."""

MIN_RECORDS_SPAWNED = 400_000
"""The same for workers that start a fresh interpreter (~0.2 s before the first segment)."""

KeyFor = Callable[[str], bytes]


@dataclass(frozen=True)
class SegmentResult:
    """What a worker made of one segment: the file it read, its digest, and the summary.

    ``summary`` is ``None`` when the segment must be walked in the main process
    (the single pass could not read it, or the walk found anything at all).
    """

    seg_id: int
    path: Path | None
    sha256: str | None
    summary: SegmentSummary | None


def walk_segment(
    layout: StreamLayout,
    seg: SegmentInfo,
    material: VerifierMaterial,
    key_for: KeyFor | None,
    checkpoint_sizes: Collection[int],
) -> SegmentResult:
    """Read ``seg`` once and walk it on its own (what a worker process does per segment)."""
    none = SegmentResult(seg.id, None, None, None)
    name = seg.archive.file if seg.archive is not None else seg.file
    one = read_segment_once(layout, seg, key_for)
    if one is None:
        return none
    walker = SegmentVerifier(material, segment=name, checkpoint_sizes=checkpoint_sizes)
    line = 1
    try:
        for lines, terminated in one.batches:
            walker.feed_many(lines, segment=name, first_line=line, terminated=terminated)
            line += len(lines)
            if walker.report.failures:
                return none  # found something: the main walk reports it in place
    except (OSError, Error):
        return none
    summary = walker.summary()
    return SegmentResult(seg.id, one.path, one.sha256, summary)


# -- the worker side -------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(
    root: str, material: VerifierMaterial, key_for: KeyFor | None, sizes: tuple[int, ...]
) -> None:
    # A forked worker shares the parent's heap copy-on-write: keep the collector from
    # walking (and so copying) every object inherited from it.
    gc.freeze()
    _worker.update(layout=StreamLayout(Path(root)), material=material, key_for=key_for)
    _worker["sizes"] = frozenset(sizes)


def _walk_in_worker(seg: SegmentInfo) -> SegmentResult:
    w = _worker
    return walk_segment(w["layout"], seg, w["material"], w["key_for"], w["sizes"])


# -- the main side ---------------------------------------------------------------------


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _context(explicit: bool) -> BaseContext | None:
    """How to start workers: fork while this process has one thread, else a fresh interpreter.

    Forking a process that runs other threads can deadlock the child; a fresh
    interpreter (forkserver, spawn) re-imports the main module, so it is used
    only when the caller asked for workers explicitly (``jobs`` given). Before
    Python 3.11 the pool forks workers on demand, after its own manager thread
    has started, so it never forks there.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and sys.version_info >= (3, 11):
        return multiprocessing.get_context("fork")
    if not explicit:
        return None
    method = "forkserver" if "forkserver" in methods else "spawn"
    return multiprocessing.get_context(method)


def plan_workers(
    jobs: int | None, segments: Sequence[SegmentInfo]
) -> tuple[int, BaseContext] | None:
    """How many worker processes to walk ``segments`` with, and how to start them.

    ``None``: walk them in this process — ``jobs`` is 1, there are fewer than
    two segments, or too few records for workers to pay (see
    :data:`MIN_RECORDS_FORKED`, :data:`MIN_RECORDS_SPAWNED`).
    """
    want = default_jobs() if jobs is None else jobs
    if want <= 1 or len(segments) < 2:
        return None
    ctx = _context(explicit=jobs is not None)
    if ctx is None:
        return None
    records = sum(s.end_seq - s.first_seq for s in segments if s.end_seq is not None)
    floor = MIN_RECORDS_FORKED if ctx.get_start_method() == "fork" else MIN_RECORDS_SPAWNED
    if records < floor:
        return None
    return min(want, len(segments)), ctx


def _picklable(obj: object) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # anything a pickler may raise: then the workers go without it
        return False
    return True


class SegmentPool:
    """Worker processes walking the segments of one stream, results handed back in order."""

    def __init__(
        self,
        layout: StreamLayout,
        material: VerifierMaterial,
        key_for: KeyFor | None,
        checkpoint_sizes: Collection[int],
        workers: int,
        context: BaseContext,
    ) -> None:
        """Start ``workers`` processes with ``context``; they need no note verifiers."""
        slim = VerifierMaterial(material.origin, (), material.epoch0_key, material.current_epoch)
        if key_for is not None and context.get_start_method() != "fork" and not _picklable(key_for):
            key_for = None  # encrypted archives are then read by the main process
        self._workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(str(layout.root), slim, key_for, tuple(sorted(checkpoint_sizes))),
        )

    def results(self, segments: Sequence[SegmentInfo]) -> Iterator[SegmentResult]:
        """One result per segment, in the order given (each as soon as it is ready).

        A few segments per worker are in flight at a time, so that memory does not
        grow with the number of segments.
        """
        ahead = self._workers * 4
        pending: deque[tuple[SegmentInfo, Future[SegmentResult]]] = deque()
        todo = iter(segments)
        for seg in todo:
            pending.append((seg, self._executor.submit(_walk_in_worker, seg)))
            if len(pending) >= ahead:
                break
        while pending:
            seg, fut = pending.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, self._executor.submit(_walk_in_worker, nxt)))
            try:
                result = fut.result()
            except Exception:  # a worker died or could not run: the main process walks it
                result = SegmentResult(seg.id, None, None, None)
            del fut
            yield result

    def close(self) -> None:
        """Stop the workers (cancelling segments not started)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
