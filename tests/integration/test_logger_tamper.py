"""Tampering with a real SecureLogger log on disk, and what verification names for each attack.

Every test builds the same log (fixed node id, verifier file K(0) kept beside it so every
epoch's MACs are checked), changes the files the way an attacker would, and asserts the
exact kind and position of the first failure ``verify_log_integrity()`` reports.

The log (``archive=False``, so closed segments stay plain files)::

    segments/00000001.jsonl  seqs  0-11  epochs 0, 1   (5 records + seal, twice)
    segments/00000002.jsonl  seqs 12-23  epochs 3, 4
    segments/00000003.jsonl  seqs 24-38  epochs 6, 7, 8 (open: ... + 3 unsealed records)

Checkpoints sign sizes 6, 12, 18, 24, 30, 36 (at every seal). Epochs 2 and 5 are the
idle epochs that rotation seals without entries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from logging_audit.ledger import (
    ZERO_HASH,
    Checkpoint,
    Frontier,
    NoteSigner,
    frame_line,
    leaf_hash,
    mac_entry,
    parse_entry,
    sign_checkpoint,
    unframe_line,
)
from logging_audit.ledger.framing import b64
from logging_audit.secure_logger import SecureLogger

NODE = "node-1"
ORIGIN = f"logaudit/{NODE}/app"
SEG1, SEG2, SEG3 = (f"segments/0000000{n}.jsonl" for n in (1, 2, 3))


def build_log(log_dir: Path, verifier: Path | None, **options: Any) -> SecureLogger:
    """Three segments of two sealed epochs of five records each, then three unsealed records."""
    logger = SecureLogger(
        name="app", log_dir=log_dir, node_id=NODE, verifier_file=verifier, **options
    )
    for seg in range(3):
        for epoch in range(2):
            for i in range(5):
                logger.info("segment %d epoch %d record %d", seg, epoch, i, extra={"i": i})
            logger.seal()
        if seg < 2:
            logger.rotate()
    for i in range(3):
        logger.info("tail %d", i)
    logger.flush()
    return logger


@dataclass
class Log:
    """The log under attack: the open logger and its files."""

    logger: SecureLogger
    root: Path
    verifier: Path

    def path(self, rel: str) -> Path:
        return self.root / rel

    def lines(self, rel: str) -> list[bytes]:
        return self.path(rel).read_bytes().splitlines(keepends=True)

    def write_lines(self, rel: str, lines: list[bytes]) -> None:
        self.path(rel).write_bytes(b"".join(lines))

    def edit_line(self, rel: str, number: int, old: bytes, new: bytes) -> None:
        lines = self.lines(rel)
        assert old in lines[number - 1], f"{old!r} not in line {number} of {rel}"
        lines[number - 1] = lines[number - 1].replace(old, new, 1)
        self.write_lines(rel, lines)

    def report(self, **kw: Any) -> dict[str, Any]:
        return self.logger.verify_log_integrity(**kw)

    def errors(self, **kw: Any) -> list[dict[str, Any]]:
        report = self.report(**kw)
        assert report["verified"] is False
        assert report["errors"], "a failed verification must say why"
        errors: list[dict[str, Any]] = report["errors"]
        return errors


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    verifier = tmp_path / "verifier.json"
    logger = build_log(tmp_path / "logs", verifier, archive=False)
    yield Log(logger, tmp_path / "logs" / "app", verifier)
    logger.close()


def _first(
    errors: list[dict[str, Any]], kind: str, segment: str, line: int | None, seq: int
) -> None:
    first = errors[0]
    assert (first["kind"], first["segment"], first["line"], first["seq"]) == (
        kind,
        segment,
        line,
        seq,
    ), errors[:3]


def _replaced_then(
    errors: list[dict[str, Any]], segment: str, first_seq: int
) -> list[dict[str, Any]]:
    """A closed segment changed: its digest no longer matches; return the failures after that."""
    _first(errors, "segment_replaced", segment, None, first_seq)
    return errors[1:]


def test_the_untouched_log_verifies(log: Log) -> None:
    report = log.report()
    assert report["verified"] is True, report["errors"]
    assert report["entries"] == 39
    assert report["mac_epochs_unchecked"] == []
    assert report["seals_verified"] == 6
    assert report["checkpoints_verified"] == 6
    assert report["covered_size"] == 36
    assert report["unsealed_tail"] == {"first_seq": 36, "last_seq": 38}
    names = [json.loads(line).get("msg") for line in log.lines(SEG3)]
    assert names[2] == "segment 2 epoch 0 record 2"


# -- one byte --------------------------------------------------------------------------------


def test_one_byte_of_an_entry(log: Log) -> None:
    log.edit_line(SEG3, 3, b"record 2", b"record 3")
    _first(log.errors(), "modified_entry", SEG3, 3, 26)


def test_one_byte_of_an_entry_in_a_closed_segment(log: Log) -> None:
    log.edit_line(SEG2, 3, b"record 2", b"record 3")
    rest = _replaced_then(log.errors(), SEG2, 12)
    _first(rest, "modified_entry", SEG2, 3, 14)


def test_one_byte_of_the_last_entry(log: Log) -> None:
    log.edit_line(SEG3, 15, b"tail 2", b"tail 3")
    _first(log.errors(), "modified_entry", SEG3, 15, 38)


def _flip_mac_char(line: bytes) -> bytes:
    at = line.rindex(b'"mac":"') + len(b'"mac":"') + 5
    return line[:at] + (b"B" if line[at : at + 1] == b"A" else b"A") + line[at + 1 :]


def test_one_byte_of_a_mac(log: Log) -> None:
    lines = log.lines(SEG3)
    lines[2] = _flip_mac_char(lines[2])
    log.write_lines(SEG3, lines)
    _first(log.errors(), "modified_mac", SEG3, 3, 26)


def test_one_byte_of_a_mac_in_a_closed_segment(log: Log) -> None:
    lines = log.lines(SEG1)
    lines[7] = _flip_mac_char(lines[7])
    log.write_lines(SEG1, lines)
    rest = _replaced_then(log.errors(), SEG1, 0)
    _first(rest, "modified_mac", SEG1, 8, 7)


def _b64_char_changed(line: bytes, field: bytes) -> bytes:
    at = line.index(field) + len(field) + 3
    return line[:at] + (b"B" if line[at : at + 1] == b"A" else b"A") + line[at + 1 :]


def test_one_byte_of_a_seal_root(log: Log) -> None:
    lines = log.lines(SEG3)
    assert b'"ledger":"seal"' in lines[5]
    lines[5] = _b64_char_changed(lines[5], b'"root":"')
    log.write_lines(SEG3, lines)
    errors = log.errors()
    _first(errors, "seal_mismatch", SEG3, 6, 29)
    assert ("modified_entry", 29) in {(e["kind"], e["seq"]) for e in errors}


def test_one_byte_of_a_seal_size(log: Log) -> None:
    log.edit_line(SEG3, 6, b'"size":29', b'"size":28')
    _first(log.errors(), "seal_mismatch", SEG3, 6, 29)


def test_one_byte_of_a_seal_time(log: Log) -> None:
    lines = log.lines(SEG3)
    at = lines[5].index(b'"ts":"') + len(b'"ts":"') + 3  # a digit of the year
    lines[5] = (
        lines[5][:at] + (b"1" if lines[5][at : at + 1] != b"1" else b"2") + lines[5][at + 1 :]
    )
    log.write_lines(SEG3, lines)
    _first(log.errors(), "modified_entry", SEG3, 6, 29)


def _checkpoint_lines(log: Log) -> list[bytes]:
    return (log.root / "checkpoints.jsonl").read_bytes().splitlines(keepends=True)


def test_one_byte_of_a_checkpoint_root(log: Log) -> None:
    lines = _checkpoint_lines(log)
    obj = json.loads(lines[2])
    assert obj["size"] == 18
    origin, size, root, rest = obj["note"].split("\n", 3)
    root = root[:5] + ("B" if root[5] == "A" else "A") + root[6:]
    obj["note"] = "\n".join((origin, size, root, rest))
    lines[2] = orjson.dumps(obj) + b"\n"
    (log.root / "checkpoints.jsonl").write_bytes(b"".join(lines))
    first = log.errors()[0]
    assert first["kind"] == "forged_checkpoint"
    assert "checkpoint #3" in first["reason"]


def test_one_byte_of_a_checkpoint_signature(log: Log) -> None:
    lines = _checkpoint_lines(log)
    obj = json.loads(lines[4])
    note: str = obj["note"]
    at = note.rindex(" ") + 20
    obj["note"] = note[:at] + ("B" if note[at] == "A" else "A") + note[at + 1 :]
    lines[4] = orjson.dumps(obj) + b"\n"
    (log.root / "checkpoints.jsonl").write_bytes(b"".join(lines))
    first = log.errors()[0]
    assert first["kind"] == "forged_checkpoint"
    assert "checkpoint #5" in first["reason"]


def test_one_byte_of_a_checkpoint_size(log: Log) -> None:
    data = (log.root / "checkpoints.jsonl").read_bytes()
    lines = data.splitlines(keepends=True)
    assert b"\\n18\\n" in lines[2]
    lines[2] = lines[2].replace(b"\\n18\\n", b"\\n19\\n", 1)
    (log.root / "checkpoints.jsonl").write_bytes(b"".join(lines))
    first = log.errors()[0]
    assert first["kind"] == "forged_checkpoint"
    assert "checkpoint #3" in first["reason"]


# -- whole entries ---------------------------------------------------------------------------


def test_delete_an_entry(log: Log) -> None:
    lines = log.lines(SEG3)
    del lines[2]
    log.write_lines(SEG3, lines)
    errors = log.errors()
    _first(errors, "deleted_entries", SEG3, 3, 27)
    assert "seq 26 missing" in errors[0]["reason"]


def test_delete_an_entry_of_a_closed_segment(log: Log) -> None:
    lines = log.lines(SEG2)
    del lines[2]
    log.write_lines(SEG2, lines)
    _first(_replaced_then(log.errors(), SEG2, 12), "deleted_entries", SEG2, 3, 15)


def test_delete_a_seal(log: Log) -> None:
    lines = log.lines(SEG3)
    del lines[5]
    log.write_lines(SEG3, lines)
    _first(log.errors(), "deleted_entries", SEG3, 6, 30)


def test_insert_a_forged_entry(log: Log) -> None:
    """A well-formed entry that chains on correctly, but whose MAC no key of the log made."""
    lines = log.lines(SEG3)
    before, _ = unframe_line(lines[1])
    prev_entry = parse_entry(before)
    fields = {"level": "INFO", "logger": "app", "msg": "forged", "node": NODE}
    raw = orjson.dumps(
        {
            **fields,
            "seq": 26,
            "ts": prev_entry.ts,
            "epoch": prev_entry.epoch,
            "prev": b64(leaf_hash(before)),
        },
        option=orjson.OPT_SORT_KEYS,
    )
    lines.insert(2, frame_line(raw, mac_entry(bytes(32), raw)) + b"\n")
    log.write_lines(SEG3, lines)
    _first(log.errors(), "inserted_entry", SEG3, 3, 26)


def test_insert_a_copy_of_an_old_entry(log: Log) -> None:
    lines = log.lines(SEG3)
    lines.insert(2, log.lines(SEG1)[2])
    log.write_lines(SEG3, lines)
    _first(log.errors(), "replayed_seq", SEG3, 3, 2)


def test_duplicate_an_entry(log: Log) -> None:
    lines = log.lines(SEG3)
    lines.insert(3, lines[2])
    log.write_lines(SEG3, lines)
    _first(log.errors(), "replayed_seq", SEG3, 4, 26)


def test_swap_two_entries(log: Log) -> None:
    lines = log.lines(SEG3)
    lines[2], lines[3] = lines[3], lines[2]
    log.write_lines(SEG3, lines)
    errors = log.errors()
    _first(errors, "reordered_entries", SEG3, 3, 27)
    assert "seq 27 appears before seq 26" in errors[0]["reason"]


def test_swap_two_entries_of_a_closed_segment(log: Log) -> None:
    lines = log.lines(SEG1)
    lines[0], lines[1] = lines[1], lines[0]
    log.write_lines(SEG1, lines)
    _first(_replaced_then(log.errors(), SEG1, 0), "reordered_entries", SEG1, 1, 1)


# -- whole files -----------------------------------------------------------------------------


def test_delete_a_closed_segment(log: Log) -> None:
    log.path(SEG2).unlink()
    errors = log.errors()
    _first(errors, "missing_segment", SEG2, None, 12)
    _first(errors[1:], "deleted_entries", SEG3, 1, 24)
    assert "seqs 12..23 missing" in errors[1]["reason"]


def test_replace_a_segment_with_one_from_another_log(log: Log, tmp_path: Path) -> None:
    """Another log with the same name (so the same origin) and the very same shape."""
    other = build_log(tmp_path / "other", None, archive=False)
    other.close()
    shutil.copy(tmp_path / "other" / "app" / SEG2, log.path(SEG2))
    rest = _replaced_then(log.errors(), SEG2, 12)
    _first(rest, "chain_break", SEG2, 1, 12)
    assert "another log" in rest[0]["reason"]


def test_replace_the_open_segment_with_one_of_another_stream(log: Log, tmp_path: Path) -> None:
    other = build_log(tmp_path / "other", None, archive=False)
    other.close()
    # rename the other log's node: every seal in it now names a foreign stream
    foreign = [
        line.replace(b"logaudit/node-1/app", b"logaudit/node-2/app")
        for line in (tmp_path / "other" / "app" / SEG3).read_bytes().splitlines(keepends=True)
    ]
    log.write_lines(SEG3, foreign)
    errors = log.errors()
    _first(errors, "chain_break", SEG3, 1, 24)
    _first(errors[1:], "foreign_stream", SEG3, 6, 29)
    assert "logaudit/node-2/app" in errors[1]["reason"]


# -- the tail --------------------------------------------------------------------------------


def test_truncate_the_tail_behind_a_checkpoint(log: Log) -> None:
    log.logger.seal()  # checkpoint at 40 covers the tail
    lines = log.lines(SEG3)
    log.write_lines(SEG3, lines[:13])
    errors = log.errors()
    assert errors[0]["kind"] == "truncated_tail"
    assert errors[0]["seq"] == 37
    assert "signs size 40" in errors[0]["reason"]


def test_truncation_with_the_checkpoints_removed_too(log: Log) -> None:
    """A host attacker cuts the tail and the checkpoints file: only a witness can tell."""
    trusted = log.logger.seal()  # the note a witness kept: size 40
    assert trusted is not None
    log.write_lines(SEG3, log.lines(SEG3)[:13])
    cps = _checkpoint_lines(log)
    (log.root / "checkpoints.jsonl").write_bytes(b"".join(cps[:-1]))
    report = log.report()
    assert report["verified"] is True
    assert report["entries"] == 37
    assert report["covered_size"] == 36, "verified only up to checkpoint 36"
    errors = log.errors(trusted_checkpoint=trusted)
    assert errors[0]["kind"] == "truncated_tail"
    assert errors[0]["seq"] == 37
    assert "trusted checkpoint" in errors[0]["reason"]


# -- a forger who holds the current key file ---------------------------------------------------


def _rewrite(log: Log, edit_at: int, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite the log from seq ``edit_at`` on, as an attacker with the current key file can.

    The chain, seals, manifest digests and checkpoints are all recomputed and re-signed;
    the only thing the attacker cannot produce is a MAC with an epoch key that was erased,
    so every rewritten entry carries a MAC made with the current epoch key.
    """
    keys = json.loads((log.root / "keys" / "signing.json").read_bytes())
    current_key = base64.b64decode(keys["epoch_key"])
    signer = NoteSigner.from_private_key_string(keys["signer"])
    manifest = json.loads((log.root / "manifest.json").read_bytes())
    frontier = Frontier()
    prev = ZERO_HASH
    roots: dict[int, bytes] = {}
    for seg in manifest["segments"]:
        out = []
        for line in log.lines(seg["file"]):
            raw, _mac = unframe_line(line)
            entry = parse_entry(raw)
            if entry.seq >= edit_at:
                fields = dict(entry.fields)
                if entry.seq == edit_at:
                    fields = edit(fields)
                if fields.get("ledger") == "seal":
                    fields["size"] = frontier.size
                    fields["root"] = b64(frontier.root())
                obj = {**fields, "seq": entry.seq, "ts": entry.ts, "epoch": entry.epoch}
                new = orjson.dumps({**obj, "prev": b64(prev)}, option=orjson.OPT_SORT_KEYS)
                if new != raw or entry.seq == edit_at:  # unchanged lines keep their MAC
                    raw = new
                    line = frame_line(raw, mac_entry(current_key, raw)) + b"\n"
            prev = leaf_hash(raw)
            frontier.append(prev)
            roots[frontier.size] = frontier.root()
            out.append(line)
        log.write_lines(seg["file"], out)
        if seg["end_seq"] is not None:
            seg["sha256"] = hashlib.sha256(log.path(seg["file"]).read_bytes()).hexdigest()
            seg["end_state"]["last_hash"] = b64(prev)
            seg["end_state"]["frontier"] = [b64(h) for h in frontier.hashes]
    (log.root / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    notes = []
    for line in _checkpoint_lines(log):
        size = json.loads(line)["size"]
        note = sign_checkpoint(Checkpoint(ORIGIN, size, roots[size]), signer)
        notes.append(orjson.dumps({"size": size, "note": note}) + b"\n")
    (log.root / "checkpoints.jsonl").write_bytes(b"".join(notes))


def test_reseal_a_past_epoch_with_a_newer_key(log: Log) -> None:
    """The attacker re-MACs epoch 3's seal with the only key left: detected by K(0)."""
    _rewrite(log, 17, lambda fields: fields)
    errors = log.errors()
    _first(errors, "seal_too_new_key", SEG2, 6, 17)
    assert "MAC'd with the key of epoch 8" in errors[0]["reason"]
    assert len(errors) == 1


def test_rewrite_a_past_entry_with_a_newer_key(log: Log) -> None:
    _rewrite(log, 14, lambda fields: {**fields, "level": "DEBUG"})
    errors = log.errors()
    _first(errors, "entry_too_new_key", SEG2, 3, 14)
    kinds = [(e["kind"], e["seq"]) for e in errors]
    assert ("seal_too_new_key", 17) in kinds
    assert ("seal_too_new_key", 23) in kinds


def test_without_the_verifier_a_full_rewrite_needs_a_witness(log: Log) -> None:
    """Documented limit: the host's keys cannot check old epochs; a trusted checkpoint can."""
    witnessed = log.logger.stream.latest_checkpoint()
    _rewrite(log, 14, lambda fields: {**fields, "level": "DEBUG"})
    host_only = log.logger.stream.keys.verifier_material()
    report = log.logger.verify_log_integrity(verifier_file=log.root / "absent-verifier.json")
    assert host_only.epoch0_key is None
    assert report["mac_epochs_unchecked"] == [[0, 1], [3, 4], [6, 7]]
    assert report["verified"] is True  # the public layers were all re-made by the forger
    errors = log.errors(verifier_file=log.root / "absent", trusted_checkpoint=witnessed)
    assert errors[0]["kind"] == "checkpoint_mismatch"
    assert errors[0]["seq"] == 35


# -- archives --------------------------------------------------------------------------------


@pytest.fixture
def archived(tmp_path: Path) -> Iterator[Log]:
    verifier = tmp_path / "verifier.json"
    logger = build_log(tmp_path / "logs", verifier)
    yield Log(logger, tmp_path / "logs" / "app", verifier)
    logger.close()


ARCH1, ARCH2 = "archive/00000001.jsonl.zst", "archive/00000002.jsonl.zst"


def test_the_archived_log_verifies(archived: Log) -> None:
    assert not archived.path(SEG1).exists()
    assert archived.path(ARCH1).exists()
    report = archived.report()
    assert report["verified"] is True, report["errors"]
    assert report["entries"] == 39


def test_delete_an_archive(archived: Log) -> None:
    archived.path(ARCH2).unlink()
    errors = archived.errors()
    _first(errors, "missing_segment", ARCH2, None, 12)
    _first(errors[1:], "deleted_entries", SEG3, 1, 24)


def test_one_byte_of_an_archive(archived: Log) -> None:
    data = bytearray(archived.path(ARCH1).read_bytes())
    data[len(data) // 2] ^= 0x01
    archived.path(ARCH1).write_bytes(bytes(data))
    _first(archived.errors(), "segment_replaced", ARCH1, None, 0)


def test_an_archive_replaced_by_a_consistent_forgery(archived: Log) -> None:
    """Recompressing an edited segment and fixing the manifest digest still breaks the MACs."""
    import zstandard

    raw = zstandard.ZstdDecompressor().decompress(
        archived.path(ARCH2).read_bytes(), max_output_size=1 << 20
    )
    edited = raw.replace(b"record 2", b"record 3", 1)
    blob = zstandard.ZstdCompressor().compress(edited)
    archived.path(ARCH2).write_bytes(blob)
    manifest = json.loads((archived.root / "manifest.json").read_bytes())
    manifest["segments"][1]["archive"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (archived.root / "manifest.json").write_bytes(orjson.dumps(manifest))
    _first(archived.errors(), "modified_entry", ARCH2, 3, 14)
