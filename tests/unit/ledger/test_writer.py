"""The writer state machine: chain, MACs, seals that evolve and erase keys, checkpoints."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable

import pytest

from logging_audit.errors import ConfigError, FramingError, IntegrityError
from logging_audit.ledger import (
    EMPTY_ROOT,
    ZERO_HASH,
    Entry,
    LedgerWriter,
    NoteSigner,
    StreamStart,
    WriterState,
    epoch_key,
    evolve_key,
    leaf_hash,
    merkle_root,
    open_checkpoint,
    parse_entry,
    unframe_line,
    verify_mac,
)

ORIGIN = "example.com/writer-test"
K0 = bytes(range(32))
SIGNER = NoteSigner.from_seed(ORIGIN, bytes(range(64, 96)))


def _clock() -> Callable[[], str]:
    ticks = itertools.count()
    return lambda: f"2026-01-01T00:00:{next(ticks) % 60:02d}.000000Z"


def _writer() -> LedgerWriter:
    return LedgerWriter(ORIGIN, K0, clock=_clock())


def _open(line: bytes) -> tuple[Entry, bytes]:
    raw, mac = unframe_line(line)
    return parse_entry(raw), mac


def test_new_writer_state() -> None:
    w = _writer()
    assert (w.size, w.epoch, w.epoch_has_entries) == (0, 0, False)
    assert w.root() == EMPTY_ROOT
    assert w.epoch_key == K0
    assert w.state() == WriterState(0, ZERO_HASH, (), 0, False)


@pytest.mark.parametrize("origin", ["", "two\nlines"])
def test_origin_must_be_one_non_empty_line(origin: str) -> None:
    with pytest.raises(ConfigError, match="origin"):
        LedgerWriter(origin, K0)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_epoch_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        LedgerWriter(ORIGIN, bytes(size))


def test_appends_chain_mac_and_grow_the_tree() -> None:
    w = _writer()
    lines = [w.append({"msg": f"m{i}"}) for i in range(5)]
    prev = ZERO_HASH
    hashes = []
    for seq, line in enumerate(lines):
        entry, mac = _open(line)
        assert (entry.seq, entry.epoch, entry.prev) == (seq, 0, prev)
        assert entry.fields == {"msg": f"m{seq}"}
        assert entry.ts == f"2026-01-01T00:00:{seq:02d}.000000Z"
        assert verify_mac(K0, entry.raw, mac)
        prev = leaf_hash(entry.raw)
        hashes.append(prev)
    assert w.size == 5
    assert w.root() == merkle_root(hashes)
    assert w.state().prev == prev
    assert w.epoch_has_entries


def test_append_options() -> None:
    w = _writer()
    entry, _ = _open(w.append({"x": 1}, ts="2030-01-01T00:00:00.000000Z"))
    assert entry.ts == "2030-01-01T00:00:00.000000Z"
    entry, _ = _open(w.append({"x": {1, 2}}, default=sorted))
    assert entry.fields == {"x": [1, 2]}
    many = w.append_many([{"a": 1}, {"a": 2}])
    assert [_open(x)[0].seq for x in many] == [2, 3]


@pytest.mark.parametrize("name", ["seq", "ts", "epoch", "prev", "mac", "ledger"])
def test_callers_cannot_set_ledger_fields(name: str) -> None:
    w = _writer()
    with pytest.raises(FramingError, match=name):
        w.append({name: "forged"})
    assert w.size == 0  # nothing was committed


def test_seal_commits_to_size_and_root_before_it_and_evolves_the_key() -> None:
    w = _writer()
    lines = [w.append({"i": i}) for i in range(3)]
    root_before = w.root()
    old_key = w._key  # the writer's own bytearray: it must be wiped, not just dropped
    seal_line = w.seal()
    assert seal_line is not None
    seal, mac = _open(seal_line)
    assert seal.ledger_kind == "seal"
    assert seal.fields == {
        "ledger": "seal",
        "origin": ORIGIN,
        "size": 3,
        "root": base64.b64encode(root_before).decode(),
    }
    assert seal.seq == 3
    assert seal.epoch == 0
    assert seal.prev == leaf_hash(unframe_line(lines[-1])[0])
    assert verify_mac(K0, seal.raw, mac)  # the seal is MAC'd with its own epoch's key
    assert old_key == bytearray(32)  # K(0) is erased in place
    assert w.epoch == 1
    assert w.epoch_key == evolve_key(K0) == epoch_key(K0, 1)
    assert not w.epoch_has_entries
    assert w.size == 4
    entry, mac = _open(w.append({"after": True}))
    assert entry.epoch == 1
    assert verify_mac(epoch_key(K0, 1), entry.raw, mac)
    assert not verify_mac(K0, entry.raw, mac)


def test_seal_of_an_empty_epoch_writes_nothing_but_still_evolves() -> None:
    w = _writer()
    assert w.seal() is None
    assert w.seal() is None
    assert (w.size, w.epoch) == (0, 2)
    assert w.epoch_key == epoch_key(K0, 2)
    w.append({"x": 1})
    assert w.seal() is not None
    assert w.seal() is None
    assert w.epoch == 4


def test_checkpoint_opens_with_the_writers_size_and_root() -> None:
    w = _writer()
    for i in range(7):
        w.append({"i": i})
    note = w.checkpoint(SIGNER)
    cp = open_checkpoint(note, [SIGNER.verifier()], origin=ORIGIN)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 7, w.root())
    assert cp.extensions == ()
    note = w.checkpoint(SIGNER, extensions=["epoch 0"])
    assert open_checkpoint(note, [SIGNER.verifier()]).extensions == ("epoch 0",)


def test_checkpoint_of_the_empty_stream() -> None:
    cp = open_checkpoint(_writer().checkpoint(SIGNER), [SIGNER.verifier()])
    assert (cp.size, cp.root_hash) == (0, EMPTY_ROOT)


def _script(w: LedgerWriter, steps: str) -> list[bytes]:
    out: list[bytes] = []
    for step in steps:
        if step == "a":
            out.append(w.append({"n": w.size}))
        elif step == "s":
            line = w.seal()
            if line is not None:
                out.append(line)
    return out


@pytest.mark.parametrize("cut", range(12))
def test_restart_from_state_continues_identically(cut: int) -> None:
    steps = "aasaaasaasaa"
    straight = _writer()
    expected = _script(straight, steps)

    first = _writer()
    lines = _script(first, steps[:cut])
    state, key = first.state(), first.epoch_key
    ticks = itertools.count(len(lines))
    resumed = LedgerWriter(
        ORIGIN, key, state=state, clock=lambda: f"2026-01-01T00:00:{next(ticks) % 60:02d}.000000Z"
    )
    lines += _script(resumed, steps[cut:])
    assert lines == expected
    assert resumed.state() == straight.state()
    assert resumed.epoch_key == straight.epoch_key


def test_prune_records_the_stream_start() -> None:
    w = _writer()
    lines = [w.append({"i": i}) for i in range(5)]
    hashes = [leaf_hash(unframe_line(x)[0]) for x in lines]
    start = StreamStart(3, hashes[2], (merkle_root(hashes[:2]), hashes[2]), reason="gdpr")
    entry, mac = _open(w.prune(start))
    assert entry.ledger_kind == "prune"
    assert entry.fields["origin"] == ORIGIN
    assert StreamStart.from_fields(entry.fields) == start
    assert verify_mac(K0, entry.raw, mac)
    with pytest.raises(ConfigError, match="cannot prune 7 entries of a stream of 6"):
        w.prune(StreamStart(7, hashes[0], tuple(bytes(32) for _ in range(3))))


# -- several writers of one stream (shared files) ------------------------------------------


def _entry_bytes(line: bytes) -> bytes:
    return unframe_line(line)[0]


def _stale(w: LedgerWriter) -> bool:
    return w.key_stale


def _pair() -> tuple[LedgerWriter, LedgerWriter]:
    """Two writers of one stream, with a clock that does not depend on who calls it."""
    return (
        LedgerWriter(ORIGIN, K0, clock=lambda: "2026-01-01T00:00:00.000000Z"),
        LedgerWriter(ORIGIN, K0, clock=lambda: "2026-01-01T00:00:00.000000Z"),
    )


def test_adopt_follows_another_writers_entries() -> None:
    a, b = _pair()
    for i in range(3):
        parsed = b.adopt(_entry_bytes(a.append({"i": i})))
        assert parsed.seq == i
    assert (b.size, b.root(), b.state()) == (a.size, a.root(), a.state())
    assert not b.key_stale
    # b continues exactly where a would have.
    assert b.append({"i": 3}) == a.append({"i": 3})


def test_adopt_refuses_a_fork() -> None:
    a, b = _writer(), _writer()
    a.append({"i": 0})
    b.append({"i": 0, "other": True})
    with pytest.raises(IntegrityError, match="forked"):
        b.adopt(_entry_bytes(a.append({"i": 1})))
    with pytest.raises(IntegrityError, match="forked"):
        b.adopt(_entry_bytes(a.append({"i": 2})))


def test_adopting_a_seal_makes_the_key_stale_until_rekey() -> None:
    a, b = _pair()
    b.adopt(_entry_bytes(a.append({"i": 0})))
    seal = a.seal()
    assert seal is not None
    b.adopt(_entry_bytes(seal))
    assert b.key_stale
    assert (b.epoch, b.epoch_has_entries) == (1, False)
    old = b._key  # the writer's own bytearray: rekey must wipe it
    b.rekey(1, a.epoch_key)
    assert old == bytearray(32)
    assert _stale(b) is False
    assert b.epoch_key == epoch_key(K0, 1)
    assert b.append({"i": 1}) == a.append({"i": 1})


def test_adopting_an_entry_of_a_later_epoch() -> None:
    a, b = _pair()
    a.seal()  # empty epoch: no line, key evolves
    b.adopt(_entry_bytes(a.append({"i": 0})))
    assert b.key_stale
    assert (b.epoch, b.epoch_has_entries) == (1, True)
    b.rekey(1, epoch_key(K0, 1))
    assert b.epoch_has_entries  # rekeying to the same epoch keeps its pending entries
    assert b.append({"i": 1}) == a.append({"i": 1})


def test_rekey_refusals() -> None:
    w = _writer()
    w.seal()
    with pytest.raises(ConfigError, match="behind the stream's 1"):
        w.rekey(0, K0)
    with pytest.raises(ConfigError, match="32 bytes"):
        w.rekey(2, bytes(16))
    w.rekey(3, epoch_key(K0, 3))
    assert (w.epoch, w.epoch_has_entries) == (3, False)


def test_owned_fields_give_the_same_bytes() -> None:
    a, b = _writer(), _writer()
    for i in range(3):
        assert a.append({"i": i, "msg": "m"}, owned=True) == b.append({"i": i, "msg": "m"})
