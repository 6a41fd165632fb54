"""Benchmark of the ledger core against pymerkle, in one run, on the same data.

Times, on one thread:

* appends: leaf hash + append, into our :class:`Frontier` (what the writer keeps),
  into our :class:`MerkleTree` (what proof serving keeps) and into pymerkle's
  ``InmemoryTree`` (which hashes and keeps the whole tree);
* inclusion and consistency proofs made (``MerkleTree`` vs ``InmemoryTree``) and
  verified (``verify_inclusion`` / ``verify_consistency`` of each library), for the
  same random leaves and sizes;
* ``verify_stream`` over the framed lines of a stream written by ``LedgerWriter``
  (seals every 1,000 entries, a checkpoint at each), with K(0) and with public
  material only; and ``LedgerWriter.append`` itself. pymerkle has no counterpart.

Every entry is the exact entry bytes the writer produced, so both libraries hash the
same inputs; the roots of both trees are compared before anything is reported.
Prints a table of operations per CPU-second (``time.process_time``) and ratios. Never used
as a timed assert.

    .venv/bin/python bench/bench_ledger.py            # full run, ~30 s
    .venv/bin/python bench/bench_ledger.py --quick    # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import itertools
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import pymerkle

from logging_audit.ledger import (
    Frontier,
    LedgerWriter,
    MerkleTree,
    NoteSigner,
    VerificationReport,
    VerifierMaterial,
    leaf_hash,
    unframe_line,
    verify_consistency,
    verify_inclusion,
    verify_stream,
)

ORIGIN = "bench.example/ledger"
K0 = bytes(range(32))
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(100, 132)))
SEAL_EVERY = 1000


@dataclass
class Row:
    """One line of the table: ops/s of ours and (maybe) pymerkle's, for ``count`` ops."""

    name: str
    count: int
    ours: float
    theirs: float | None = None
    goal: float | None = None  # the ratio we aim for, where one is set

    @property
    def ratio(self) -> float | None:
        return None if self.theirs is None else self.ours / self.theirs


ROUNDS = 3


def _once(count: int, fn: Callable[[], object]) -> float:
    # CPU time of this process: everything timed is single-threaded and CPU-bound, and
    # CPU time is what other jobs on a shared machine disturb least.
    gc.collect()
    start = time.process_time()
    fn()
    return count / (time.process_time() - start)


def rate(count: int, fn: Callable[[], object], rounds: int | None = None) -> float:
    """Best operations per second over ``rounds`` calls of ``fn``, each doing ``count``."""
    return max(_once(count, fn) for _ in range(rounds or ROUNDS))


def compare(
    count: int, ours: Callable[[], object], theirs: Callable[[], object], rounds: int | None = None
) -> tuple[float, float]:
    """Best rates of both, measured in interleaved rounds so that load hits both alike."""
    best_ours = best_theirs = 0.0
    for _ in range(rounds or ROUNDS):
        best_theirs = max(best_theirs, _once(count, theirs))
        best_ours = max(best_ours, _once(count, ours))
    return best_ours, best_theirs


def _record(i: int) -> dict[str, object]:
    """A typical structured log record, different for every ``i``."""
    return {
        "level": "INFO",
        "logger": "app.http",
        "msg": "request handled",
        "path": f"/items/{i}",
        "status": 200,
        "ms": i % 97,
    }


def write_stream(n: int) -> tuple[list[bytes], list[str], float]:
    """``n`` framed lines (seals included) and their checkpoints; also the writer's rate."""
    ticks = itertools.count()
    writer = LedgerWriter(ORIGIN, K0, clock=lambda: f"2026-01-01T00:00:00.{next(ticks):06d}Z")
    lines: list[bytes] = []
    checkpoints: list[str] = []
    start = time.process_time()
    appended = 0
    while len(lines) < n:
        lines.append(writer.append(_record(appended)))
        appended += 1
        if appended % SEAL_EVERY == 0:
            seal = writer.seal()
            if seal is not None:
                lines.append(seal)
            checkpoints.append(writer.checkpoint(SIGNER))
    elapsed = time.process_time() - start
    return lines[:n], checkpoints, appended / elapsed


def run(entries_n: int, lines_n: int, proofs_n: int, seed: int) -> list[Row]:
    rows: list[Row] = []
    lines, checkpoints, writer_rate = write_stream(max(entries_n, lines_n))
    entries = [unframe_line(x)[0] for x in lines[:entries_n]]
    n = len(entries)

    # -- appends -----------------------------------------------------------------------
    frontier = Frontier()
    tree = MerkleTree()
    theirs = pymerkle.InmemoryTree()

    def ours_frontier() -> None:
        nonlocal frontier
        frontier = Frontier()
        append = frontier.append
        for e in entries:
            append(leaf_hash(e))

    def ours_tree() -> None:
        nonlocal tree
        tree = MerkleTree()
        append = tree.append
        for e in entries:
            append(leaf_hash(e))

    def pymerkle_tree() -> None:
        nonlocal theirs
        theirs = pymerkle.InmemoryTree()
        append = theirs.append_entry
        for e in entries:
            append(e)

    frontier_rate, pm_append = compare(n, ours_frontier, pymerkle_tree)
    rows.append(Row("append: leaf hash + Frontier", n, frontier_rate, pm_append, 2.0))
    rows.append(Row("append: leaf hash + MerkleTree", n, rate(n, ours_tree), pm_append, 2.0))
    root = tree.root()
    if not frontier.root() == root == theirs.get_root():
        sys.exit("roots differ between logging_audit and pymerkle: the benchmark is void")

    # -- inclusion proofs --------------------------------------------------------------
    rnd = random.Random(seed)
    indices = [rnd.randrange(n) for _ in range(proofs_n)]
    leaves = [tree.leaf(i) for i in indices]
    ours_proofs: list[list[bytes]] = []
    pm_proofs: list[pymerkle.InclusionProof] = []

    def make_ours() -> None:
        ours_proofs[:] = [tree.inclusion_proof(i) for i in indices]

    def make_theirs() -> None:
        pm_proofs[:] = [theirs.prove_inclusion(i + 1) for i in indices]

    ours_rate, pm_rate = compare(proofs_n, make_ours, make_theirs, 2 * ROUNDS)
    rows.append(Row("inclusion proofs made", proofs_n, ours_rate, pm_rate, 2.0))

    def verify_ours() -> None:
        for i, leaf, proof in zip(indices, leaves, ours_proofs, strict=True):
            verify_inclusion(i, n, leaf, proof, root)

    def verify_theirs() -> None:
        for leaf, proof in zip(leaves, pm_proofs, strict=True):
            pymerkle.verify_inclusion(leaf, root, proof)

    ours_rate, pm_rate = compare(proofs_n, verify_ours, verify_theirs, 2 * ROUNDS)
    rows.append(Row("inclusion proofs verified", proofs_n, ours_rate, pm_rate, 2.0))

    # -- consistency proofs -----------------------------------------------------------
    pairs = []
    for _ in range(proofs_n):
        size2 = rnd.randrange(2, n + 1)
        pairs.append((rnd.randrange(1, size2), size2))
    roots = {s: tree.root(s) for pair in pairs for s in pair}
    ours_cons: list[list[bytes]] = []
    pm_cons: list[pymerkle.ConsistencyProof] = []

    def cons_ours() -> None:
        ours_cons[:] = [tree.consistency_proof(a, b) for a, b in pairs]

    def cons_theirs() -> None:
        pm_cons[:] = [theirs.prove_consistency(a, b) for a, b in pairs]

    ours_rate, pm_rate = compare(proofs_n, cons_ours, cons_theirs, 2 * ROUNDS)
    rows.append(Row("consistency proofs made", proofs_n, ours_rate, pm_rate))

    def cons_verify_ours() -> None:
        for (a, b), proof in zip(pairs, ours_cons, strict=True):
            verify_consistency(a, b, roots[a], roots[b], proof)

    def cons_verify_theirs() -> None:
        for (a, b), proof in zip(pairs, pm_cons, strict=True):
            pymerkle.verify_consistency(roots[a], roots[b], proof)

    ours_rate, pm_rate = compare(proofs_n, cons_verify_ours, cons_verify_theirs, 2 * ROUNDS)
    rows.append(Row("consistency proofs verified", proofs_n, ours_rate, pm_rate))

    # -- the stream verifier and the writer ------------------------------------------------
    stream = lines[:lines_n]
    cps = [c for c in checkpoints if int(c.split("\n")[1]) <= len(stream)]
    for label, material in (
        ("K(0)", VerifierMaterial(ORIGIN, (SIGNER.verifier(),), epoch0_key=K0)),
        ("public", VerifierMaterial(ORIGIN, (SIGNER.verifier(),))),
    ):
        reports: list[VerificationReport] = []

        def verify(m: VerifierMaterial = material, out: list[VerificationReport] = reports) -> None:
            out.append(verify_stream(stream, m, checkpoints=cps))

        lines_rate = rate(len(stream), verify, max(1, ROUNDS - 1))
        report = reports[-1]
        if not report.verified:
            sys.exit(f"the benchmark stream does not verify: {report.failures[:3]}")
        rows.append(Row(f"verify_stream lines, {label} material", len(stream), lines_rate))
    rows.append(Row("LedgerWriter.append (framed, MAC'd)", max(entries_n, lines_n), writer_rate))
    return rows


def show(rows: list[Row]) -> None:
    name_w = max(len(r.name) for r in rows)
    head = f"{'operation':<{name_w}}  {'count':>8}  {'logging_audit':>14}  {'pymerkle':>12}  ratio"
    print(head)
    print("-" * (len(head) + 10))
    for r in rows:
        theirs = f"{r.theirs:>10,.0f}/s" if r.theirs is not None else f"{'-':>12}"
        ratio = ""
        if r.ratio is not None:
            ratio = f"{r.ratio:5.1f}x"
            if r.goal is not None:
                ratio += f"  (goal {r.goal:.0f}x: {'met' if r.ratio >= r.goal else 'NOT met'})"
        print(f"{r.name:<{name_w}}  {r.count:>8,}  {r.ours:>12,.0f}/s  {theirs}  {ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--entries", type=int, help="tree size for appends and proofs")
    parser.add_argument("--lines", type=int, help="framed lines for verify_stream")
    parser.add_argument("--proofs", type=int, help="proofs made and verified per kind")
    parser.add_argument("--rounds", type=int, help="best of this many runs of each (default 3)")
    parser.add_argument("--seed", type=int, default=6962)
    args = parser.parse_args(argv)
    global ROUNDS
    ROUNDS = args.rounds or (1 if args.quick else 3)
    entries = args.entries or (10_000 if args.quick else 100_000)
    lines = args.lines or (10_000 if args.quick else 100_000)
    proofs = args.proofs or (500 if args.quick else 5_000)
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"logging_audit {version('logging-audit')}, pymerkle {version('pymerkle')}; "
        f"{entries:,} leaves, {lines:,} lines, {proofs:,} proofs of each kind, "
        f"best of {ROUNDS}"
    )
    started = time.perf_counter()
    rows = run(entries, lines, proofs, args.seed)
    print()
    show(rows)
    print(f"\n{time.perf_counter() - started:.1f} s in all")


if __name__ == "__main__":
    main()
