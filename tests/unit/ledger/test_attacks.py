"""The attack suite: named tamperings of a real multi-epoch stream, as data.

The stream (written by :class:`LedgerWriter`) has three sealed epochs and an unsealed
tail, with a signed checkpoint after every seal::

    seq  0-4  entries, 5 seal   epoch 0   line  1-6    checkpoint size  6
    seq  6-10 entries, 11 seal  epoch 1   line  7-12   checkpoint size 12
    seq 12-16 entries, 17 seal  epoch 2   line 13-18   checkpoint size 18
    seq 18-21 entries           epoch 3   line 19-22   (unsealed tail)

Every :class:`AttackCase` changes the lines (and maybe the checkpoints) the way an
attacker would, names the verifier material it is checked with, and states what the
*first* failure must be. ``full`` is K(0) (the operator's verifier file), ``public`` is
the checkpoint key alone, ``current`` is what the host holds: K(3). The attacker of the
"re-made with a newer key" cases holds K(3) too.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.ledger import (
    FailureKind,
    Frontier,
    LedgerWriter,
    NoteSigner,
    StreamStart,
    VerificationReport,
    VerifierMaterial,
    WriterState,
    build_entry,
    epoch_key,
    frame_line,
    leaf_hash,
    mac_entry,
    unframe_line,
    verify_stream,
)

F = FailureKind
ORIGIN = "example.com/attacked"
K0 = bytes(range(32))
K = [epoch_key(K0, e) for e in range(4)]
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(100, 132)))
OTHER_ORIGIN = "example.org/elsewhere"
ATTACKER_K0 = bytes(range(1, 33))

Material = Literal["full", "public", "current"]
MATERIAL: dict[str, VerifierMaterial] = {
    "full": VerifierMaterial(ORIGIN, (SIGNER.verifier(),), epoch0_key=K0),
    "public": VerifierMaterial(ORIGIN, (SIGNER.verifier(),)),
    "current": VerifierMaterial(ORIGIN, (SIGNER.verifier(),), current_epoch=(3, K[3])),
}


def _clock(start: int = 0) -> Callable[[], str]:
    ticks = itertools.count(start)
    return lambda: (lambda n: f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000000Z")(next(ticks))


def build(
    origin: str = ORIGIN, k0: bytes = K0, signer: NoteSigner = SIGNER, salt: str = ""
) -> tuple[LedgerWriter, list[bytes], list[str]]:
    writer = LedgerWriter(origin, k0, clock=_clock())
    lines: list[bytes] = []
    checkpoints: list[str] = []
    for epoch in range(3):
        for i in range(5):
            lines.append(writer.append({"level": "INFO", "msg": f"{salt}e{epoch} #{i}"}))
        seal = writer.seal()
        assert seal is not None
        lines.append(seal)
        checkpoints.append(writer.checkpoint(signer))
    for i in range(4):
        lines.append(writer.append({"level": "WARNING", "msg": f"{salt}tail #{i}"}))
    return writer, lines, checkpoints


WRITER, LINES, CHECKPOINTS = build()


# -- what attackers do to lines ---------------------------------------------------------------

Mutation = Callable[[list[bytes]], list[bytes]]


def _hashes(lines: list[bytes]) -> list[bytes]:
    return [leaf_hash(unframe_line(x)[0]) for x in lines]


def _start(lines: list[bytes], size: int, reason: str = "retention") -> StreamStart:
    hashes = _hashes(lines[:size])
    frontier = Frontier()
    frontier.extend(hashes)
    return StreamStart(size, hashes[-1], frontier.hashes, reason)


def _writer_after(lines: list[bytes], n: int, epoch: int, *, dirty: bool = False) -> LedgerWriter:
    """A writer resumed after the first ``n`` lines, at ``epoch`` with K(epoch)."""
    s = _start(lines, n)
    state = WriterState(n, s.prev, s.frontier, epoch, dirty)
    return LedgerWriter(ORIGIN, K[epoch], state=state, clock=_clock(1000))


def edit(index: int, old: bytes, new: bytes) -> Mutation:
    """Change bytes of one line in place; its MAC is left alone."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        assert old in lines[index], (old, lines[index])
        lines[index] = lines[index].replace(old, new, 1)
        return lines

    return mutate


def flip_mac(index: int) -> Mutation:
    def mutate(lines: list[bytes]) -> list[bytes]:
        raw, mac = unframe_line(lines[index])
        lines[index] = frame_line(raw, bytes([mac[0] ^ 0x80]) + mac[1:])
        return lines

    return mutate


def remac(index: int, key: bytes) -> Mutation:
    """Keep the entry bytes, MAC them with ``key``."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        raw, _ = unframe_line(lines[index])
        lines[index] = frame_line(raw, mac_entry(key, raw))
        return lines

    return mutate


def rewrite_from(index: int, change: Callable[[dict[str, Any]], None], key: bytes) -> Mutation:
    """Change entry ``index``, then re-chain every later entry, re-compute every later seal's
    root and re-MAC all of them with ``key``: the best an attacker holding ``key`` can do."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        frontier = Frontier()
        frontier.extend(_hashes(lines[:index]))
        prev = unframe_line(lines[index - 1])[0] if index else None
        prev_hash = leaf_hash(prev) if prev is not None else bytes(32)
        for i in range(index, len(lines)):
            obj = orjson.loads(unframe_line(lines[i])[0])
            if i == index:
                change(obj)
            obj["prev"] = base64.b64encode(prev_hash).decode()
            if obj.get("ledger") == "seal":
                obj["root"] = base64.b64encode(frontier.root()).decode()
            raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
            lines[i] = frame_line(raw, mac_entry(key, raw))
            prev_hash = leaf_hash(raw)
            frontier.append(prev_hash)
        return lines

    return mutate


def delete(first: int, last: int | None = None) -> Mutation:
    def mutate(lines: list[bytes]) -> list[bytes]:
        del lines[first : (last if last is not None else first) + 1]
        return lines

    return mutate


def keep(first: int, end: int | None = None) -> Mutation:
    return lambda lines: lines[first:end]


def insert_forged(at: int, *, prev: bytes | None = None, key: bytes = ATTACKER_K0) -> Mutation:
    """Insert an entry claiming seq ``at`` that chains onto ``at - 1`` (or onto ``prev``)."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        chained = leaf_hash(unframe_line(lines[at - 1])[0])
        raw = build_entry(at, "2026-01-01T00:00:04.500000Z", 0, prev or chained, {"msg": "x"})
        lines.insert(at, frame_line(raw, mac_entry(key, raw)))
        return lines

    return mutate


def duplicate(index: int, to: int) -> Mutation:
    def mutate(lines: list[bytes]) -> list[bytes]:
        lines.insert(to, lines[index])
        return lines

    return mutate


def swap(a: int, b: int) -> Mutation:
    def mutate(lines: list[bytes]) -> list[bytes]:
        lines[a], lines[b] = lines[b], lines[a]
        return lines

    return mutate


def splice_foreign(first: int, last: int) -> Mutation:
    """Replace lines first..last by the same seqs of another stream (other origin, other key)."""
    _, other, _ = build(OTHER_ORIGIN, ATTACKER_K0, salt="other ")

    def mutate(lines: list[bytes]) -> list[bytes]:
        lines[first : last + 1] = other[first : last + 1]
        return lines

    return mutate


def stale_writer_appends(n: int, epoch: int) -> Mutation:
    """Keep the first ``n`` lines, then a writer resumed at an old ``epoch`` appends one entry."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        return [*lines[:n], _writer_after(lines, n, epoch).append({"msg": "stale"})]

    return mutate


def crash_before_seal(lines: list[bytes]) -> list[bytes]:
    """Epoch 0's five entries, then the writer restarts in epoch 1 without sealing."""
    writer = _writer_after(lines, 5, 1)
    return [*lines[:5], *(writer.append({"msg": f"after crash {i}"}) for i in range(3))]


def with_prune_entry(size: int, *, record: StreamStart | None = None) -> Mutation:
    """Retention: drop seqs < ``size`` and append the MAC'd prune entry that records it."""

    def mutate(lines: list[bytes]) -> list[bytes]:
        writer = _writer_after(lines, len(lines), 3, dirty=True)
        return [*lines[size:], writer.prune(record or _start(lines, size))]

    return mutate


# -- what attackers do to checkpoints -------------------------------------------------------

CheckpointMutation = Callable[[list[str]], list[str]]


def same(cps: list[str]) -> list[str]:
    return cps


def no_checkpoints(cps: list[str]) -> list[str]:
    return []


def first_checkpoints(n: int) -> CheckpointMutation:
    return lambda cps: cps[:n]


def flip_signature(index: int) -> CheckpointMutation:
    def mutate(cps: list[str]) -> list[str]:
        note = cps[index]
        head, sig = note[:-1].rsplit(" ", 1)
        raw = bytearray(base64.b64decode(sig))
        raw[20] ^= 0x01  # inside the Ed25519 signature, after the 4-byte key ID
        cps[index] = f"{head} {base64.b64encode(bytes(raw)).decode()}\n"
        return cps

    return mutate


def add_signed(
    origin: str, signer: NoteSigner, *, size: int = 12, salt: str = ""
) -> CheckpointMutation:
    """Add a checkpoint at ``size`` of a stream ``origin`` (content set by ``salt``)."""
    writer = LedgerWriter(origin, K0, clock=_clock())
    for i in range(size):
        writer.append({"salt": salt, "i": i})
    note = writer.checkpoint(signer)
    return lambda cps: [*cps, note]


def _trusted_last(cps: list[str]) -> str | None:
    return cps[-1]


def _no_trusted(cps: list[str]) -> str | None:
    return None


# -- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackCase:
    """One tampering and the first failure it must cause.

    ``also`` kinds must appear too; ``allow`` kinds may appear; any other kind is an
    unrelated finding and fails the case (unless ``only`` is false). ``forbid`` kinds must
    not appear even when ``only`` is false. ``line`` is checked when given.
    """

    name: str
    mutate: Mutation
    expect_kind: FailureKind
    expect_seq: int | None
    material: Material = "full"
    line: int | None = None
    reason: str | None = None
    checkpoints: CheckpointMutation = same
    trusted: Callable[[list[str]], str | None] = _no_trusted
    start: Callable[[list[bytes]], StreamStart | None] = lambda lines: None
    also: frozenset[FailureKind] = frozenset()
    allow: frozenset[FailureKind] = frozenset()
    forbid: frozenset[FailureKind] = frozenset()
    only: bool = True
    limitation: str | None = None  # a known limit of the verifier: runs as a strict xfail


def _msg(index: int) -> bytes:
    epoch, i = divmod(index, 6)
    return f"e{epoch} #{i}".encode()


def _set_msg(obj: dict[str, Any]) -> None:
    obj["msg"] = "rewritten by the attacker"


FAKE_START = StreamStart(12, leaf_hash(b"fake"), (leaf_hash(b"fake 8"), leaf_hash(b"fake 4")))

ATTACKS = [
    # -- modified entries and MACs --------------------------------------------------------
    AttackCase("modified entry, checked with K(0)", edit(2, _msg(2), b"e0 #X"),
               F.MODIFIED_ENTRY, 2, "full", line=3),
    AttackCase("modified entry, public material only", edit(2, _msg(2), b"e0 #X"),
               F.MODIFIED_ENTRY, 2, "public", line=3),
    AttackCase("modified entry of the current epoch, host material",
               edit(20, b"tail #2", b"tail #X"),
               F.MODIFIED_ENTRY, 20, "current", line=21),
    AttackCase("modified entry of a past epoch, host material", edit(15, _msg(15), b"e2 #X"),
               F.MODIFIED_ENTRY, 15, "current", line=16),
    AttackCase("modified MAC", flip_mac(2), F.MODIFIED_MAC, 2, "full", line=3),
    AttackCase("modified MAC of the current epoch, host material", flip_mac(20),
               F.MODIFIED_MAC, 20, "current", line=21),
    AttackCase("modified seal: size", edit(5, b'"size":5', b'"size":4'),
               F.SEAL_MISMATCH, 5, "full", line=6, reason="claims size 4",
               also=frozenset({F.MODIFIED_ENTRY}), allow=frozenset({F.CHECKPOINT_MISMATCH})),
    AttackCase("modified seal: bytes other than size and root", edit(5, b"00:05.", b"00:55."),
               F.MODIFIED_ENTRY, 5, "full", line=6, allow=frozenset({F.CHECKPOINT_MISMATCH})),
    # -- deleted, inserted, replayed, reordered ------------------------------------------------
    AttackCase("deleted entry", delete(7), F.DELETED_ENTRIES, 8, line=8, reason="seq 7 missing"),
    AttackCase("deleted whole epoch in the middle", delete(6, 11),
               F.DELETED_ENTRIES, 12, line=7, reason="seqs 6..11 missing"),
    AttackCase("deleted head without any stream start", keep(12),
               F.DELETED_ENTRIES, 12, line=1, reason="seqs 0..11 missing"),
    AttackCase("inserted forged entry", insert_forged(4), F.INSERTED_ENTRY, 4, "full", line=5),
    AttackCase("inserted forged entry that chains, public material", insert_forged(4),
               F.INSERTED_ENTRY, 4, "public", line=5, allow=frozenset({F.MODIFIED_ENTRY}),
               limitation="without a MAC key the forged and the genuine seq 4 both chain onto "
               "seq 3; only the entry after both tells which is genuine (two lines of look-ahead)"),
    AttackCase("inserted forged entry that does not chain, public material",
               insert_forged(4, prev=bytes(32)), F.INSERTED_ENTRY, 4, "public", line=5),
    AttackCase("duplicated entry (replayed seq)", duplicate(3, 4), F.REPLAYED_SEQ, 3, line=5),
    AttackCase("old entry replayed at the end", duplicate(2, 22), F.REPLAYED_SEQ, 2, line=23),
    AttackCase("swapped adjacent entries", swap(7, 8), F.REORDERED_ENTRIES, 8, line=8),
    AttackCase("line replaced by garbage", lambda ls: [*ls[:3], b"garbage", *ls[4:]],
               F.MALFORMED_LINE, None, line=4),
    # -- truncation --------------------------------------------------------------------
    AttackCase("truncated tail, caught by the checkpoints file", keep(0, 12),
               F.TRUNCATED_TAIL, 12, reason="checkpoint #3 signs size 18"),
    AttackCase("truncated tail and checkpoints, caught by a trusted checkpoint", keep(0, 12),
               F.TRUNCATED_TAIL, 12, checkpoints=first_checkpoints(1), trusted=_trusted_last,
               reason="trusted checkpoint signs size 18"),
    # -- epochs and seals --------------------------------------------------------------
    AttackCase("missing seal (seal line removed)", delete(5), F.DELETED_ENTRIES, 6, line=6,
               also=frozenset({F.MISSING_SEAL})),
    AttackCase("epoch ended without a seal (writer crashed)", crash_before_seal,
               F.MISSING_SEAL, 5, line=6, checkpoints=no_checkpoints),
    AttackCase("seal re-made with the current key K(3)", remac(5, K[3]),
               F.SEAL_TOO_NEW_KEY, 5, "full", line=6),
    AttackCase("epoch 0 rewritten with the current key K(3), checked with K(0)",
               rewrite_from(2, _set_msg, K[3]), F.ENTRY_TOO_NEW_KEY, 2, "full", line=3,
               also=frozenset({F.SEAL_TOO_NEW_KEY}),
               allow=frozenset({F.CHECKPOINT_MISMATCH})),
    AttackCase("epoch 0 rewritten with the current key K(3), host material",
               rewrite_from(2, _set_msg, K[3]), F.CHECKPOINT_MISMATCH, 5, "current",
               reason="checkpoint #1"),
    AttackCase("epoch going backwards (stale writer)", stale_writer_appends(22, 2),
               F.EPOCH_BACKWARDS, 22, line=23),
    AttackCase("entry after its epoch's seal", stale_writer_appends(18, 2),
               F.ENTRY_AFTER_SEAL, 18, line=19),
    # -- checkpoints --------------------------------------------------------------------
    AttackCase("forged checkpoint (bit flipped in the signature)", lambda ls: ls,
               F.FORGED_CHECKPOINT, None, checkpoints=flip_signature(1), reason="checkpoint #2"),
    AttackCase("checkpoint from an unknown signer", lambda ls: ls, F.UNKNOWN_SIGNER, None,
               checkpoints=add_signed(ORIGIN, NoteSigner.from_seed("mallory.example", bytes(32)))),
    AttackCase("checkpoint from an unknown key that uses the log's key name", lambda ls: ls,
               F.UNKNOWN_SIGNER, None,
               checkpoints=add_signed(ORIGIN, NoteSigner.from_seed(ORIGIN, bytes(32)))),
    AttackCase("checkpoint of another origin", lambda ls: ls, F.FOREIGN_STREAM, None,
               checkpoints=add_signed(OTHER_ORIGIN, SIGNER),
               reason="checkpoint #4"),
    AttackCase("validly signed checkpoint of a fork", lambda ls: ls, F.CHECKPOINT_MISMATCH, 11,
               checkpoints=add_signed(ORIGIN, SIGNER, salt="fork")),
    # -- foreign segments ------------------------------------------------------------------
    AttackCase("foreign segment spliced in, checked with K(0)", splice_foreign(6, 11),
               F.CHAIN_BREAK, 6, "full", line=7, only=False,
               also=frozenset({F.FOREIGN_STREAM}), forbid=frozenset({F.MODIFIED_MAC})),
    AttackCase("foreign segment spliced in, public material", splice_foreign(6, 11),
               F.CHAIN_BREAK, 6, "public", line=7, only=False,
               also=frozenset({F.FOREIGN_STREAM})),
    # -- pruning -------------------------------------------------------------------------
    AttackCase("pruned head without a prune entry", keep(12), F.UNCONFIRMED_PRUNE, 12,
               start=lambda ls: _start(ls, 12), checkpoints=first_checkpoints(0)),
    AttackCase("pruned head with a fabricated stream start and prune entry",
               with_prune_entry(12, record=FAKE_START), F.CHECKPOINT_MISMATCH, 11,
               start=lambda ls: FAKE_START, checkpoints=first_checkpoints(2),
               reason="checkpoint #2", allow=frozenset({F.CHAIN_BREAK})),
    AttackCase("prune entry recording another tree state",
               with_prune_entry(12, record=StreamStart(12, bytes(32), _start(LINES, 12).frontier)),
               F.UNCONFIRMED_PRUNE, 22, line=11, start=lambda ls: _start(ls, 12),
               checkpoints=no_checkpoints, reason="different tree state"),
]  # fmt: skip


def _verify(
    lines: list[bytes],
    material: Material,
    checkpoints: list[str],
    trusted: str | None = None,
    start: StreamStart | None = None,
) -> VerificationReport:
    return verify_stream(lines, MATERIAL[material], trusted, checkpoints=checkpoints, start=start)


def _params(cases: list[AttackCase]) -> list[Any]:
    return [
        pytest.param(c, id=c.name, marks=pytest.mark.xfail(strict=True, reason=c.limitation))
        if c.limitation
        else pytest.param(c, id=c.name)
        for c in cases
    ]


@pytest.mark.parametrize("case", _params(ATTACKS))
def test_attack_is_caught(case: AttackCase) -> None:
    lines = case.mutate(list(LINES))
    assert lines != LINES or case.checkpoints is not same
    cps = case.checkpoints(list(CHECKPOINTS))
    trusted = case.trusted(list(CHECKPOINTS))
    report = _verify(lines, case.material, cps, trusted, case.start(list(LINES)))
    shown = "\n".join(str(f) for f in report.failures)
    assert not report.verified
    first = report.failures[0]
    assert (first.kind, first.seq) == (case.expect_kind, case.expect_seq), shown
    if case.line is not None:
        assert first.line == case.line, shown
    if case.reason is not None:
        assert case.reason in first.reason, shown
    kinds = report.kinds()
    assert case.also <= kinds, shown
    assert not (case.forbid & kinds), shown
    if case.only:
        assert kinds <= {case.expect_kind} | case.also | case.allow, shown
    with pytest.raises(Exception, match="verification failed"):
        report.raise_for_failures()


def test_attack_names_are_unique() -> None:
    assert len({c.name for c in ATTACKS}) == len(ATTACKS)


# -- what verifies, and what the report then says -------------------------------------------


@dataclass(frozen=True)
class AcceptedCase:
    """A change that is not an attack the material can see; the report must say how far it
    vouches."""

    name: str
    mutate: Mutation
    material: Material = "full"
    checkpoints: CheckpointMutation = same
    start: Callable[[list[bytes]], StreamStart | None] = lambda lines: None
    expect: dict[str, Any] = field(default_factory=dict)


ACCEPTED = [
    AcceptedCase("unchanged", lambda ls: ls,
                 expect={"covered_size": 18, "last_seq": 21, "unsealed_tail": (18, 21)}),
    AcceptedCase("truncated after the last checkpoint", keep(0, 20),
                 expect={"covered_size": 18, "last_seq": 19, "unsealed_tail": (18, 19)}),
    AcceptedCase("truncated with the checkpoints file", keep(0, 16),
                 checkpoints=first_checkpoints(2),
                 expect={"covered_size": 12, "last_seq": 15, "unsealed_tail": (12, 15)}),
    AcceptedCase("pruned head with stream start and prune entry", with_prune_entry(12),
                 start=lambda ls: _start(ls, 12), checkpoints=first_checkpoints(0),
                 expect={"first_seq": 12, "last_seq": 22, "covered_size": 0}),
    AcceptedCase("pruned head, checkpoints from after the prune", with_prune_entry(12),
                 start=lambda ls: _start(ls, 12), checkpoints=lambda cps: cps[2:],
                 expect={"first_seq": 12, "covered_size": 18, "checkpoints_verified": 1}),
    AcceptedCase("pruned head, the whole checkpoints file", with_prune_entry(12),
                 start=lambda ls: _start(ls, 12),
                 expect={"first_seq": 12, "covered_size": 18, "checkpoints_verified": 2}),
    AcceptedCase("MAC of epoch 0 altered, public material cannot tell", flip_mac(2), "public",
                 expect={"mac_epochs_checked": [], "mac_epochs_unchecked": [0, 1, 2, 3]}),
    AcceptedCase("seal re-made with K(3), host material cannot tell", remac(5, K[3]), "current",
                 expect={"mac_epochs_checked": [3], "mac_epochs_unchecked": [0, 1, 2]}),
]  # fmt: skip


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.name for c in ACCEPTED])
def test_accepted_and_reported(case: AcceptedCase) -> None:
    lines = case.mutate(list(LINES))
    report = _verify(lines, case.material, case.checkpoints(list(CHECKPOINTS)), None,
                     case.start(list(LINES)))  # fmt: skip
    assert report.verified, "\n".join(str(f) for f in report.failures)
    for name, value in case.expect.items():
        assert getattr(report, name) == value, name
    if case.start(list(LINES)) is not None:
        assert report.pruned[0].confirmed
        assert (report.pruned[0].first, report.pruned[0].last) == (0, 11)


# -- whole classes of tampering, at every position --------------------------------------------


@pytest.mark.parametrize("material", ["full", "public"])
@pytest.mark.parametrize("index", range(len(LINES) - 1))
def test_deleting_any_line_but_the_last_is_caught(index: int, material: Material) -> None:
    report = _verify(delete(index)(list(LINES)), material, list(CHECKPOINTS))
    first = report.failures[0]
    assert (first.kind, first.seq, first.line) == (F.DELETED_ENTRIES, index + 1, index + 1)
    seals = {5, 11, 17}
    assert report.kinds() == ({F.DELETED_ENTRIES, F.MISSING_SEAL} if index in seals
                              else {F.DELETED_ENTRIES})  # fmt: skip


def test_deleting_the_last_line_is_truncation_nothing_vouches_for() -> None:
    report = _verify(LINES[:-1], "full", list(CHECKPOINTS))
    assert report.verified
    assert (report.last_seq, report.covered_size) == (20, 18)


@pytest.mark.parametrize("material", ["full", "public"])
@pytest.mark.parametrize("index", range(len(LINES) - 1))
def test_swapping_any_adjacent_pair_is_caught(index: int, material: Material) -> None:
    report = _verify(swap(index, index + 1)(list(LINES)), material, list(CHECKPOINTS))
    assert [(f.kind, f.seq, f.line) for f in report.failures] == [
        (F.REORDERED_ENTRIES, index + 1, index + 1)
    ]


@pytest.mark.parametrize("material", ["full", "public"])
@pytest.mark.parametrize("index", range(len(LINES)))
def test_replaying_any_line_is_caught(index: int, material: Material) -> None:
    report = _verify(duplicate(index, index + 1)(list(LINES)), material, list(CHECKPOINTS))
    assert [(f.kind, f.seq, f.line) for f in report.failures] == [
        (F.REPLAYED_SEQ, index, index + 2)
    ]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_single_bit_flip_is_caught(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(LINES) - 1), label="line")
    line = LINES[index]
    bit = data.draw(st.integers(0, len(line) * 8 - 1), label="bit")
    flipped = bytearray(line)
    flipped[bit // 8] ^= 1 << (bit % 8)
    lines = [*LINES[:index], bytes(flipped), *LINES[index + 1 :]]
    report = _verify(lines, "full", list(CHECKPOINTS))
    assert not report.verified
