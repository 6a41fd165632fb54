"""The stream verifier on intact streams: what the report counts, and how it is fed.

Tampering is in test_attacks.py; arbitrary input is in test_fuzz_parsers.py.
"""

from __future__ import annotations

import pytest

from logging_audit.errors import IntegrityError
from logging_audit.ledger import (
    EMPTY_ROOT,
    Failure,
    FailureKind,
    LedgerWriter,
    NoteSigner,
    PrunedRange,
    StreamVerifier,
    VerificationReport,
    VerifierMaterial,
    build_entry,
    epoch_key,
    frame_line,
    leaf_hash,
    mac_entry,
    unframe_line,
    verify_stream,
)

Stream = tuple[LedgerWriter, list[bytes], list[str]]


def test_happy_path_with_k0(stream: Stream, full_material: VerifierMaterial) -> None:
    writer, lines, checkpoints = stream
    report = verify_stream(lines, full_material, checkpoints=checkpoints)
    assert report.verified, report.failures
    assert report.failures == []
    assert (report.entries, report.first_seq, report.last_seq) == (22, 0, 21)
    assert (report.tree_size, report.root_hash) == (22, writer.root())
    assert (report.seals_verified, report.checkpoints_verified) == (3, 3)
    assert report.covered_size == 18
    assert report.trusted_size is None
    assert report.unsealed_tail == (18, 21)
    assert report.pruned == []
    assert (report.mac_epochs_checked, report.mac_epochs_unchecked) == ([0, 1, 2, 3], [])
    report.raise_for_failures()  # no exception


def test_public_material_checks_no_mac_and_says_so(
    stream: Stream, public_material: VerifierMaterial
) -> None:
    _, lines, checkpoints = stream
    report = verify_stream(lines, public_material, checkpoints=checkpoints)
    assert report.verified
    assert (report.seals_verified, report.checkpoints_verified) == (3, 3)
    assert (report.mac_epochs_checked, report.mac_epochs_unchecked) == ([], [0, 1, 2, 3])
    assert report.to_dict()["mac_epochs_unchecked"] == [[0, 3]]


def test_host_material_checks_the_current_epoch_only(
    stream: Stream, current_material: VerifierMaterial
) -> None:
    _, lines, checkpoints = stream
    report = verify_stream(lines, current_material, checkpoints=checkpoints)
    assert report.verified
    assert (report.mac_epochs_checked, report.mac_epochs_unchecked) == ([3], [0, 1, 2])
    assert report.to_dict()["mac_epochs_checked"] == [[3, 3]]


def test_material_of_an_epoch_between_checks_that_epoch_and_later(
    stream: Stream, signer: NoteSigner, full_material: VerifierMaterial
) -> None:
    _, lines, checkpoints = stream
    assert full_material.epoch0_key is not None
    k2 = epoch_key(full_material.epoch0_key, 2)
    material = VerifierMaterial(full_material.origin, (signer.verifier(),), current_epoch=(2, k2))
    report = verify_stream(lines, material, checkpoints=checkpoints)
    assert report.verified
    assert (report.mac_epochs_checked, report.mac_epochs_unchecked) == ([2, 3], [0, 1])


def test_trusted_checkpoint(stream: Stream, full_material: VerifierMaterial) -> None:
    _, lines, checkpoints = stream
    report = verify_stream(lines, full_material, checkpoints[1])
    assert report.verified
    assert (report.trusted_size, report.checkpoints_verified, report.covered_size) == (12, 1, 12)


def test_no_checkpoints_vouch_for_nothing(stream: Stream, full_material: VerifierMaterial) -> None:
    _, lines, _ = stream
    report = verify_stream(lines, full_material)
    assert report.verified
    assert (report.checkpoints_verified, report.covered_size) == (0, 0)
    assert report.seals_verified == 3


def test_sealed_stream_has_no_unsealed_tail(
    stream: Stream, full_material: VerifierMaterial
) -> None:
    _, lines, checkpoints = stream
    report = verify_stream(lines[:18], full_material, checkpoints=checkpoints)
    assert report.verified
    assert report.unsealed_tail is None
    assert report.to_dict()["unsealed_tail"] is None


def test_empty_stream(full_material: VerifierMaterial) -> None:
    report = verify_stream([], full_material)
    assert report.verified
    assert (report.entries, report.first_seq, report.last_seq) == (0, None, None)
    assert (report.tree_size, report.root_hash) == (0, EMPTY_ROOT)


def test_idle_epochs_are_not_gaps(signer: NoteSigner, full_material: VerifierMaterial) -> None:
    """Epochs without entries have no seal; a writer idle for a while skips them."""
    assert full_material.epoch0_key is not None
    writer = LedgerWriter(full_material.origin, full_material.epoch0_key)
    lines = [writer.append({"i": 0})]
    lines.append(writer.seal() or b"")
    for _ in range(5):
        assert writer.seal() is None
    lines.append(writer.append({"i": 1}))
    report = verify_stream(lines, full_material, checkpoints=[writer.checkpoint(signer)])
    assert report.verified, report.failures
    assert report.mac_epochs_checked == [0, 6]
    assert report.unsealed_tail == (2, 2)


def test_lines_with_newlines_and_segments(stream: Stream, full_material: VerifierMaterial) -> None:
    _, lines, checkpoints = stream
    fed = [("seg-0001.jsonl" if i < 12 else "seg-0002.jsonl", i % 12 + 1, line + b"\n")
           for i, line in enumerate(lines)]  # fmt: skip
    report = verify_stream(fed, full_material, checkpoints=checkpoints)
    assert report.verified
    broken = list(fed)
    broken[14] = ("seg-0002.jsonl", 3, b"not a line\n")
    report = verify_stream(broken, full_material, checkpoints=checkpoints)
    first = report.failures[0]
    assert (first.kind, first.segment, first.line, first.seq) == (
        FailureKind.MALFORMED_LINE,
        "seg-0002.jsonl",
        3,
        None,
    )
    assert str(first).startswith("[seg-0002.jsonl, line 3] malformed_line: ")


def test_incremental_feeding_equals_one_call(
    stream: Stream, full_material: VerifierMaterial
) -> None:
    _, lines, checkpoints = stream
    v = StreamVerifier(full_material, checkpoints=checkpoints)
    for line in lines:
        v.feed(line)
    assert v.finish() == verify_stream(lines, full_material, checkpoints=checkpoints)


def test_report_to_dict_and_raise(stream: Stream, full_material: VerifierMaterial) -> None:
    _, lines, checkpoints = stream
    ok = verify_stream(lines, full_material, checkpoints=checkpoints).to_dict()
    assert ok["verified"] is True
    assert ok["errors"] == []
    assert ok["entries"] == 22
    assert ok["mac_epochs_checked"] == [[0, 3]]
    assert ok["unsealed_tail"] == {"first_seq": 18, "last_seq": 21}
    assert isinstance(ok["root_hash"], str)
    bad = verify_stream([*lines[:3], *lines[4:]], full_material, checkpoints=checkpoints)
    d = bad.to_dict()
    assert d["verified"] is False
    assert d["errors"][0] == {
        "kind": "deleted_entries",
        "reason": "seq 3 missing before this entry",
        "seq": 4,
        "line": 4,
        "segment": None,
    }
    with pytest.raises(IntegrityError, match=r"verification failed: .*deleted_entries") as info:
        bad.raise_for_failures()
    assert info.value.report is bad


def test_report_helpers() -> None:
    r = VerificationReport(origin="o", mac_epochs_checked=[0, 1, 2, 5, 7, 8])
    assert r.to_dict()["mac_epochs_checked"] == [[0, 2], [5, 5], [7, 8]]
    r.failures.append(Failure(FailureKind.CHAIN_BREAK, "x", 3))
    r.failures.append(Failure(FailureKind.CHAIN_BREAK, "y"))
    assert r.kinds() == {FailureKind.CHAIN_BREAK}
    assert str(r.failures[0]) == "[seq 3] chain_break: x"
    assert str(r.failures[1]) == "chain_break: y"
    with pytest.raises(IntegrityError, match=r"\(and 1 more\)"):
        r.raise_for_failures()
    assert PrunedRange(0, 9, "retention", True).to_dict() == {
        "first": 0,
        "last": 9,
        "reason": "retention",
        "confirmed": True,
    }
    assert {k.value for k in FailureKind} >= {"malformed_line", "truncated_tail"}


@pytest.mark.timeout(5)
@pytest.mark.parametrize("material_name", ["full_material", "current_material"])
def test_a_huge_epoch_number_does_not_stall_verification(
    stream: Stream, material_name: str, request: pytest.FixtureRequest
) -> None:
    """One forged line claiming epoch 2**40 must not make the verifier derive 2**40 keys.

    Anyone who can append a line to the log could otherwise stop verification for good.
    """
    material: VerifierMaterial = request.getfixturevalue(material_name)
    _, lines, checkpoints = stream
    last = unframe_line(lines[-1])[0]
    raw = build_entry(22, "2026-01-01T01:00:00.000000Z", 2**40, leaf_hash(last), {"msg": "x"})
    forged = frame_line(raw, mac_entry(bytes(32), raw))
    report = verify_stream([*lines, forged], material, checkpoints=checkpoints)
    assert not report.verified
    assert report.failures[0].seq == 22


@pytest.mark.timeout(5)
@pytest.mark.parametrize("material_name", ["full_material", "current_material"])
def test_forged_lines_cannot_each_buy_a_long_key_derivation(
    stream: Stream, material_name: str, request: pytest.FixtureRequest
) -> None:
    """Epoch jumps that stay under any per-entry bound must not add up: a handful of
    forged lines, each claiming an epoch about a million past the last, must not cost
    seconds of key evolution apiece (verification time must not be the attacker's to set).
    """
    material: VerifierMaterial = request.getfixturevalue(material_name)
    _, lines, checkpoints = stream
    forged = []
    prev = leaf_hash(unframe_line(lines[-1])[0])
    for i in range(3):
        epoch = 3 + (i + 1) * ((1 << 20) - 1)
        raw = build_entry(22 + i, "2026-01-01T01:00:00.000000Z", epoch, prev, {"msg": i})
        forged.append(frame_line(raw, mac_entry(bytes(32), raw)))
        prev = leaf_hash(raw)
    report = verify_stream([*lines, *forged], material, checkpoints=checkpoints)
    assert not report.verified
    assert report.failures[0].seq == 22
