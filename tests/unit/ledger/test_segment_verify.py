"""Segments walked on their own and stitched on: the report is the single walk's, always.

A :class:`SegmentVerifier` walks a run of lines assuming the stream is intact up
to its first line; :meth:`StreamVerifier.adopt_segment` takes its summary only
when that is exactly what feeding the lines would have done. These tests cut
streams (intact and tampered in many ways, with every kind of verifier
material) at arbitrary points and compare the stitched report with the single
walk's, field by field and failure by failure. Ranges of the tree
(:class:`Frontier` with a ``start``) are tested here too, since stitching
folds them.
"""

from __future__ import annotations

import base64
import itertools
import pickle
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logging_audit.errors import FormatError, FramingError
from logging_audit.ledger import (
    Frontier,
    LedgerWriter,
    NoteSigner,
    StreamStart,
    VerificationReport,
    VerifierMaterial,
    WriterState,
    epoch_key,
    frame_line,
    leaf_hash,
    mac_entry,
    unframe_line,
)
from logging_audit.ledger.verify import SegmentVerifier, StreamVerifier

ORIGIN = "example.com/segments"
K0 = bytes(range(7, 39))
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(50, 82)))
MATERIAL = {
    "full": VerifierMaterial(ORIGIN, (SIGNER.verifier(),), epoch0_key=K0),
    "public": VerifierMaterial(ORIGIN, (SIGNER.verifier(),)),
    "current": VerifierMaterial(ORIGIN, (SIGNER.verifier(),), current_epoch=(4, epoch_key(K0, 4))),
}


def _clock() -> Any:
    n = iter(range(10**6))
    return lambda: f"2026-02-01T00:00:{next(n) % 60:02d}.000000Z"


def _build() -> tuple[list[bytes], list[str]]:
    """Epochs 0, 1, 4 (two idle epochs skipped), 5 sealed; epoch 6 an unsealed tail."""
    writer = LedgerWriter(ORIGIN, K0, clock=_clock())
    lines: list[bytes] = []
    notes: list[str] = []
    for epoch, count in ((0, 6), (1, 3), (4, 7), (5, 1), (6, 5)):
        while writer.epoch < epoch:
            seal = writer.seal()
            if seal is not None:
                lines.append(seal)
                notes.append(writer.checkpoint(SIGNER))
        for i in range(count):
            lines.append(writer.append({"level": "INFO", "msg": f"e{epoch} #{i}"}))
        if epoch == 4:
            notes.append(writer.checkpoint(SIGNER))  # a checkpoint inside an epoch
    return lines, notes


LINES, NOTES = _build()


# -- the two ways of walking ---------------------------------------------------------------


def _chunks(lines: Sequence[bytes], cuts: Sequence[int]) -> list[tuple[int, list[bytes]]]:
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(lines)), len(lines)]
    return [(a, list(lines[a:b])) for a, b in itertools.pairwise(bounds) if b > a]


def _verifier(material: VerifierMaterial, kw: dict[str, Any]) -> StreamVerifier:
    return StreamVerifier(material, **kw)


def single_walk(
    lines: Sequence[bytes], cuts: Sequence[int], material: VerifierMaterial, **kw: Any
) -> VerificationReport:
    """Every line through ``feed`` as a file holds it (with its newline), segment by segment."""
    v = _verifier(material, kw)
    for at, chunk in _chunks(lines, cuts):
        for number, data in enumerate(chunk, 1):
            v.feed(data + b"\n", segment=f"s{at}", line=number)
    return v.finish()


def stitched_walk(
    lines: Sequence[bytes], cuts: Sequence[int], material: VerifierMaterial, **kw: Any
) -> tuple[VerificationReport, int]:
    """Each segment walked apart (summary pickled), adopted or else fed; and how many adopted."""
    v = _verifier(material, kw)
    adopted = 0
    for at, chunk in _chunks(lines, cuts):
        name = f"s{at}"
        walker = SegmentVerifier(material, segment=name, checkpoint_sizes=v.checkpoint_sizes)
        walker.feed_many(chunk, segment=name)
        summary = walker.summary()
        if summary is not None:
            summary = pickle.loads(pickle.dumps(summary))  # noqa: S301 - our own bytes
        if summary is not None and v.adopt_segment(summary):
            adopted += 1
        else:
            v.feed_many(chunk, segment=name)
    return v.finish(), adopted


def assert_same(a: VerificationReport, b: VerificationReport) -> None:
    assert b.to_dict() == a.to_dict()
    assert b.failures == a.failures


# -- intact streams --------------------------------------------------------------------------


@pytest.mark.parametrize("material", sorted(MATERIAL))
def test_intact_stream_cut_anywhere_is_adopted_whole(material: str) -> None:
    for k in (1, 2, 3, 7, len(LINES)):
        cuts = list(range(k, len(LINES), k))
        single = single_walk(LINES, cuts, MATERIAL[material], checkpoints=NOTES)
        stitched, adopted = stitched_walk(LINES, cuts, MATERIAL[material], checkpoints=NOTES)
        assert single.verified, single.failures
        assert_same(single, stitched)
        assert adopted == len(_chunks(LINES, cuts))
        assert stitched.checkpoints_verified == len(NOTES)


def test_a_trusted_checkpoint_inside_a_segment_is_compared_by_the_stitching_walk() -> None:
    trusted = NOTES[2]
    single = single_walk(LINES, [3, 20], MATERIAL["full"], trusted_checkpoint=trusted)
    stitched, adopted = stitched_walk(LINES, [3, 20], MATERIAL["full"], trusted_checkpoint=trusted)
    assert single.verified
    assert single.trusted_size is not None
    assert_same(single, stitched)
    assert adopted == 3


def test_a_stream_resuming_after_a_prune_is_stitched() -> None:
    size = 10
    frontier = Frontier()
    hashes = [leaf_hash(unframe_line(x)[0]) for x in LINES[:size]]
    frontier.extend(hashes)
    start = StreamStart(size, hashes[-1], frontier.hashes, "retention")
    rest = LINES[size:]
    single = single_walk(rest, [4, 9], MATERIAL["full"], start=start)
    stitched, _ = stitched_walk(rest, [4, 9], MATERIAL["full"], start=start)
    assert_same(single, stitched)


# -- tampered streams ------------------------------------------------------------------------


def _reframe(line: bytes, change: Any, key_epoch_shift: int = 0) -> bytes:
    """Change the entry's JSON and MAC it again with its epoch's key: an attacker with the key."""
    raw, _ = unframe_line(line)
    obj = orjson.loads(raw)
    change(obj)
    raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    return frame_line(raw, mac_entry(epoch_key(K0, obj["epoch"] + key_epoch_shift), raw))


def _set(field: str, value: Any) -> Any:
    def change(obj: dict[str, Any]) -> None:
        obj[field] = value

    return change


MUTATIONS = (
    "flip",
    "flip_mac",
    "delete",
    "duplicate",
    "swap",
    "edit_remac",
    "seal_root_remac",
    "epoch_up_remac",
    "epoch_down_remac",
    "newer_key",
    "truncate",
    "crlf",
)


def _mutate(lines: list[bytes], kind: str, i: int, j: int, byte: int) -> int:
    """Tamper with ``lines`` in place; returns the index tampered with (to cut near it)."""
    n = len(lines)
    i, j = i % n, j % n
    line = lines[i]
    try:
        if kind == "flip":
            p = byte % len(line)
            lines[i] = line[:p] + bytes([line[p] ^ (1 << (byte % 7))]) + line[p + 1 :]
        elif kind == "flip_mac":
            raw, mac = unframe_line(line)
            lines[i] = frame_line(raw, bytes([mac[0] ^ 1]) + mac[1:])
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, line)
            return j
        elif kind == "swap":
            lines[i], lines[j] = lines[j], line
        elif kind == "edit_remac":
            lines[i] = _reframe(line, _set("msg", f"forged {byte}"))
        elif kind == "seal_root_remac":
            seals = [k for k, x in enumerate(lines) if b'"ledger":"seal"' in x]
            if seals:
                i = seals[i % len(seals)]
                fake = base64.b64encode(leaf_hash(bytes([byte]))).decode()
                lines[i] = _reframe(lines[i], _set("root", fake))
        elif kind == "epoch_up_remac":
            lines[i] = _reframe(line, lambda o: o.update(epoch=o["epoch"] + 1 + byte % 3))
        elif kind == "epoch_down_remac":
            lines[i] = _reframe(line, lambda o: o.update(epoch=max(0, o["epoch"] - 1)))
        elif kind == "newer_key":
            lines[i] = _reframe(line, lambda o: None, key_epoch_shift=1 + byte % 2)
        elif kind == "truncate":
            del lines[max(1, i) :]
        elif kind == "crlf":
            lines[i] = line + b"\r"
    except (FramingError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        pass  # the line was already broken by an earlier mutation
    return i


mutation = st.tuples(
    st.sampled_from(MUTATIONS),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 255),
    st.lists(st.integers(-2, 2), max_size=2),  # cuts near the tampered line
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(mutation, min_size=1, max_size=3),
    cuts=st.lists(st.integers(1, len(LINES) - 1), max_size=6),
    material=st.sampled_from(sorted(MATERIAL)),
    notes=st.sampled_from(["all", "none", "odd"]),
    trusted=st.sampled_from([None, 0, 2, 3]),
)
def test_tampered_stream_cut_anywhere_reports_as_the_single_walk(
    mutations: list[tuple[str, int, int, int, list[int]]],
    cuts: list[int],
    material: str,
    notes: str,
    trusted: int | None,
) -> None:
    lines = list(LINES)
    cuts = list(cuts)
    for kind, i, j, byte, near in mutations:
        at = _mutate(lines, kind, i, j, byte)
        cuts += [at + d for d in near]
    if not lines:
        return
    kw: dict[str, Any] = {"checkpoints": {"all": NOTES, "none": [], "odd": NOTES[1::2]}[notes]}
    if trusted is not None:
        kw["trusted_checkpoint"] = NOTES[trusted]
    single = single_walk(lines, cuts, MATERIAL[material], **kw)
    stitched, _ = stitched_walk(lines, cuts, MATERIAL[material], **kw)
    assert_same(single, stitched)


def test_a_resealed_root_with_the_right_key_is_not_adopted() -> None:
    """The worker cannot see a seal's root is wrong (it has no tree before it): stitching does."""
    lines = list(LINES)
    seal_at = next(k for k, x in enumerate(lines) if b'"ledger":"seal"' in x and k > 8)
    fake = base64.b64encode(leaf_hash(b"forged")).decode()
    lines[seal_at] = _reframe(lines[seal_at], _set("root", fake))
    cuts = [seal_at - 2, seal_at + 1]
    walker = SegmentVerifier(MATERIAL["full"], segment="s")
    walker.feed_many(lines[cuts[0] : cuts[1]], segment="s")
    assert walker.summary() is not None  # nothing to see from inside the segment
    # No checkpoints: the seal is the only thing that tells (a checkpoint after it would too).
    single = single_walk(lines, cuts, MATERIAL["full"])
    stitched, adopted = stitched_walk(lines, cuts, MATERIAL["full"])
    assert "seal_mismatch" in {f.kind.value for f in single.failures}
    assert_same(single, stitched)
    assert adopted == 1  # only the segment before the forged seal


def test_a_signed_checkpoint_that_differs_inside_a_segment_is_not_adopted() -> None:
    other = LedgerWriter(ORIGIN, K0, clock=_clock())
    for i in range(12):
        other.append({"msg": f"fork {i}"})
    forked = other.checkpoint(SIGNER)  # same origin and key, another tree at size 12
    single = single_walk(LINES, [5, 20], MATERIAL["full"], checkpoints=[*NOTES, forked])
    stitched, adopted = stitched_walk(
        LINES, [5, 20], MATERIAL["full"], checkpoints=[*NOTES, forked]
    )
    assert "checkpoint_mismatch" in {f.kind.value for f in single.failures}
    assert_same(single, stitched)
    assert adopted == 1


def test_a_segment_that_does_not_continue_the_chain_is_walked_by_the_stitching_walk() -> None:
    lines = LINES[:5] + LINES[7:]  # seqs 5 and 6 deleted, at a cut
    single = single_walk(lines, [5], MATERIAL["full"], checkpoints=NOTES)
    stitched, adopted = stitched_walk(lines, [5], MATERIAL["full"], checkpoints=NOTES)
    assert "deleted_entries" in {f.kind.value for f in single.failures}
    assert_same(single, stitched)
    assert adopted == 1


def test_a_writer_resumed_in_an_old_epoch_at_a_cut_is_not_adopted() -> None:
    n = 10  # after epoch 1's first entries
    frontier = Frontier()
    hashes = [leaf_hash(unframe_line(x)[0]) for x in LINES[:n]]
    frontier.extend(hashes)
    state = WriterState(n, hashes[-1], frontier.hashes, 0, False)
    stale = LedgerWriter(ORIGIN, K0, state=state, clock=_clock())
    lines = [*LINES[:n], *(stale.append({"msg": f"stale {i}"}) for i in range(3))]
    single = single_walk(lines, [n], MATERIAL["full"])
    stitched, _ = stitched_walk(lines, [n], MATERIAL["full"])
    assert "epoch_backwards" in {f.kind.value for f in single.failures}
    assert_same(single, stitched)


# -- feed_many is feed -------------------------------------------------------------------------


@pytest.mark.parametrize("material", sorted(MATERIAL))
def test_feed_many_without_newlines_is_feeding_lines_with_them(material: str) -> None:
    lines = list(LINES)
    lines[4] = lines[4] + b"\r"  # a "\r\n" line: the newline strips both
    lines[9] = lines[9][:-3]  # broken
    a = StreamVerifier(MATERIAL[material], checkpoints=NOTES)
    for number, data in enumerate(lines, 1):
        a.feed(data + b"\n", segment="s", line=number)
    b = StreamVerifier(MATERIAL[material], checkpoints=NOTES)
    b.feed_many(lines, segment="s", first_line=1, terminated=True)
    assert_same(a.finish(), b.finish())


def test_an_unterminated_last_line_ending_in_cr_is_fed_as_it_is() -> None:
    lines = [*LINES[:-1], LINES[-1] + b"\r"]
    a = StreamVerifier(MATERIAL["full"])
    for number, data in enumerate(lines, 1):
        a.feed(data + b"\n" if number < len(lines) else data, segment="s", line=number)
    b = StreamVerifier(MATERIAL["full"])
    b.feed_many(lines, segment="s", terminated=False)
    ra, rb = a.finish(), b.finish()
    assert not ra.verified
    assert_same(ra, rb)


# -- ranges of the tree --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_ranges_hashed_apart_fold_into_the_whole_frontier(n: int, cuts: list[int]) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(n)]
    whole = Frontier()
    whole.extend(leaves)
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
    folded = Frontier()
    for a, b in itertools.pairwise(bounds):
        part = Frontier(start=a)
        part.extend(leaves[a:b])
        assert part.start == a
        assert part.size == b
        restored = Frontier(part.size, part.hashes, start=a)
        assert restored.subtrees() == part.subtrees()
        folded.extend_subtrees(restored.subtrees())
    assert folded.size == n
    assert folded.hashes == whole.hashes
    assert folded.root() == whole.root()


def test_range_subtrees_are_aligned_and_maximal() -> None:
    part = Frontier(start=3)
    part.extend(leaf_hash(bytes([i])) for i in range(3, 13))
    assert [h for h, _ in part.subtrees()] == [0, 2, 2, 0]  # [3] [4,8) [8,12) [12]
    assert repr(part) == "Frontier(start=3, size=13)"


def test_a_range_has_no_root_and_misaligned_subtrees_are_refused() -> None:
    part = Frontier(start=5)
    part.append(leaf_hash(b"x"))
    with pytest.raises(FormatError, match="no root"):
        part.root()
    whole = Frontier()
    whole.append(leaf_hash(b"a"))
    with pytest.raises(FormatError, match="cannot start at leaf 1"):
        whole.append_subtree(leaf_hash(b"b") * 1, 1)
    with pytest.raises(FormatError, match="needs 2 hashes"):
        Frontier(6, (leaf_hash(b"a"),), start=3)


# -- the seams: what only the stitching walk can tell -------------------------------------------


def _resumed(lines: Sequence[bytes], n: int, epoch: int, *, dirty: bool = False) -> LedgerWriter:
    """A writer that goes on after the first ``n`` lines, in ``epoch`` with K(epoch)."""
    frontier = Frontier()
    hashes = [leaf_hash(unframe_line(x)[0]) for x in lines[:n]]
    frontier.extend(hashes)
    state = WriterState(n, hashes[-1], frontier.hashes, epoch, dirty)
    return LedgerWriter(ORIGIN, epoch_key(K0, epoch), state=state, clock=_clock())


def _seal_indexes(lines: Sequence[bytes]) -> list[int]:
    return [k for k, x in enumerate(lines) if b'"ledger":"seal"' in x]


def _compare_at(lines: Sequence[bytes], cuts: Sequence[int], material: str = "full") -> set[str]:
    single = single_walk(lines, cuts, MATERIAL[material])
    stitched, _ = stitched_walk(lines, cuts, MATERIAL[material])
    assert_same(single, stitched)
    return {f.kind.value for f in single.failures}


def test_a_seal_deleted_at_a_cut_is_a_missing_seal() -> None:
    k = _seal_indexes(LINES)[0]
    lines = [*LINES[:k], *LINES[k + 1 :]]
    assert "missing_seal" in _compare_at(lines, [k])


def test_an_entry_after_its_epochs_seal_at_a_cut_is_reported() -> None:
    k = _seal_indexes(LINES)[0] + 1  # the first segment ends with epoch 0's seal
    stale = _resumed(LINES, k, 0)
    lines = [*LINES[:k], stale.append({"msg": "after the seal"}), stale.append({"msg": "more"})]
    assert "entry_after_seal" in _compare_at(lines, [k])


def test_a_forged_line_ending_a_segment_before_the_genuine_one_is_an_insertion() -> None:
    """The look-ahead across the cut decides: the next segment's first line is the genuine seq."""
    k = 3
    forged = LINES[k].replace(b"e0 #3", b"e0 #X")  # same seq and prev, MAC no longer fits
    lines = [*LINES[:k], forged, *LINES[k:]]
    kinds = _compare_at(lines, [k + 1])
    assert "inserted_entry" in kinds


def test_a_summary_without_a_checkpoint_it_should_have_recorded_is_refused() -> None:
    v = StreamVerifier(MATERIAL["full"], checkpoints=NOTES)
    walker = SegmentVerifier(MATERIAL["full"], segment="s", checkpoint_sizes=())
    walker.feed_many(LINES, segment="s")
    summary = walker.summary()
    assert summary is not None
    assert not v.adopt_segment(summary)


def test_the_key_evolution_budget_earned_by_adopted_lines_is_kept() -> None:
    """An epoch jump that only the lines before it make plausible (the budget they earned)."""
    first = LINES[:7]  # epoch 0 and its seal
    jump = 200_000 + 64 * (len(first) + 1) - 1  # just within the budget of 8 lines
    lines = [*first, _resumed(first, len(first), jump).append({"msg": "much later"})]
    single = single_walk(lines, [len(first)], MATERIAL["full"])
    stitched, adopted = stitched_walk(lines, [len(first)], MATERIAL["full"])
    assert single.verified, single.failures
    assert_same(single, stitched)
    assert adopted == 1  # the worker alone could not vouch for the jump; the stitching walk did


def test_a_forged_entry_with_a_valid_mac_ending_a_segment_is_an_insertion() -> None:
    """An attacker with the key writes a seq of its own (not chained) just before a cut."""
    k = 3
    raw = unframe_line(LINES[k])[0]
    obj = orjson.loads(raw)
    obj["prev"] = base64.b64encode(leaf_hash(b"elsewhere")).decode()
    forged = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    lines = [*LINES[:k], frame_line(forged, mac_entry(K0, forged)), *LINES[k:]]
    assert "inserted_entry" in _compare_at(lines, [k + 1])
