"""Encryption at rest: fields encrypted under a key per segment, shredding, KEK rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storage_helpers import MakeLogger, entries, manifest

from logging_audit.errors import ConfigError
from logging_audit.ledger import FailureKind
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger
from logging_audit.storage.files.verify import verify_stream_dir

SECRET_MSG = "patient Jane Roe admitted"
SECRET_EXTRA = "4111-1111-1111-1111"


def _all_bytes_outside_keys(root: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in root.rglob("*") if p.is_file() and "keys" not in p.parts
    )


def _write_three_segments(logger: SecureLogger) -> None:
    for seg in range(3):
        for i in range(4):
            logger.info(f"{SECRET_MSG} seg {seg} #{i}", extra={"card": SECRET_EXTRA, "seg": seg})
        if seg < 2:
            logger.rotate()
    logger.flush()


def test_message_and_extra_are_encrypted_in_every_file(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(encryption_enabled=True)
    _write_three_segments(logger)
    root = log_dir / "app"
    blob = _all_bytes_outside_keys(root)
    assert SECRET_MSG.encode() not in blob
    assert SECRET_EXTRA.encode() not in blob
    lines = entries(root / manifest(root)["segments"][-1]["file"])
    rec = lines[0]
    # level, time, logger, node and seq stay readable
    assert rec["level"] == "INFO"
    assert rec["logger"] == "app"
    assert rec["node"] == "node-1"
    assert rec["ts"].endswith("Z")
    assert isinstance(rec["seq"], int)
    assert "msg" not in rec
    assert "extra" not in rec
    assert set(rec["enc"]) == {"kid", "nonce", "ct"}
    assert rec["enc"]["kid"] == manifest(root)["segments"][-1]["kid"]
    records = [r for r in read_records(root) if r.kind == "record"]
    assert all(r.status == "ok" for r in records)
    assert records[0].fields["msg"] == f"{SECRET_MSG} seg 0 #0"
    assert records[0].fields["extra"] == {"card": SECRET_EXTRA, "seg": 0}
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]


def test_each_segment_has_its_own_data_key(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True)
    _write_three_segments(logger)
    kids = [s["kid"] for s in manifest(log_dir / "app")["segments"]]
    assert len(kids) == 3
    assert len(set(kids)) == 3
    assert all(k is not None for k in kids)


def test_chosen_fields_only(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True, encrypted_fields=("extra",))
    logger.info("plain message", extra={"card": SECRET_EXTRA})
    logger.flush()
    (rec,) = entries(log_dir / "app" / "segments" / "00000001.jsonl")
    assert rec["msg"] == "plain message"
    assert SECRET_EXTRA not in json.dumps(rec)
    assert "extra" not in rec


def test_reading_without_the_key_marks_records_encrypted(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(encryption_enabled=True)
    logger.info(SECRET_MSG)
    logger.flush()
    records = list(read_records(log_dir / "app", encryption_key_file=log_dir / "no-such.json"))
    assert [r.status for r in records] == ["encrypted"]
    assert "enc" in records[0].fields
    assert records[0].level == "INFO"


def test_crypto_shredding_a_segment_key(make_logger: MakeLogger, log_dir: Path) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(encryption_enabled=True, verifier_file=verifier)
    _write_three_segments(logger)
    root = log_dir / "app"
    first = manifest(root)["segments"][0]
    assert logger.stream.enc is not None
    logger.stream.enc.shred(first["kid"])
    records = [r for r in read_records(root) if r.kind == "record"]
    shredded = [r for r in records if r.status == "shredded"]
    assert [r.seq for r in shredded] == list(range(first["first_seq"], first["first_seq"] + 4))
    assert all("msg" not in r.fields for r in shredded)
    assert all(r.status == "ok" for r in records if r not in shredded)
    assert records[-1].fields["msg"] == f"{SECRET_MSG} seg 2 #3"
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    assert report["mac_epochs_unchecked"] == []


def test_shred_segment_method(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True)
    _write_three_segments(logger)
    segs = manifest(log_dir / "app")["segments"]
    assert logger.shred_segment(2) == segs[1]["kid"]
    by_seq = {r.seq: r.status for r in read_records(log_dir / "app")}
    for seq in range(segs[1]["first_seq"], segs[1]["end_seq"] - 1):
        assert by_seq[seq] == "shredded"
    assert by_seq[segs[1]["end_seq"] - 1] == "ok", "the seal has nothing encrypted"
    assert by_seq[0] == "ok"
    with pytest.raises(ConfigError, match="still open"):
        logger.shred_segment(segs[-1]["id"])
    assert logger.verify_log_integrity()["verified"] is True


def test_kek_rotation_keeps_old_entries_readable(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True)
    logger.info("before rotation")
    assert logger.stream.enc is not None
    old_kek = json.loads((log_dir / "app" / "keys" / "encryption.json").read_bytes())["kek"]
    logger.rotate_encryption_key()
    new_kek = json.loads((log_dir / "app" / "keys" / "encryption.json").read_bytes())["kek"]
    assert new_kek != old_kek
    logger.info("after rotation")
    logger.stream.enc.rotate_kek()
    logger.info("after a second rotation")
    logger.close()
    logger = make_logger(encryption_enabled=True)
    logger.info("after reopening")
    logger.flush()
    msgs = [
        (r.fields.get("msg"), r.status) for r in read_records(log_dir / "app") if r.kind == "record"
    ]
    assert msgs == [
        ("before rotation", "ok"),
        ("after rotation", "ok"),
        ("after a second rotation", "ok"),
        ("after reopening", "ok"),
    ]
    assert logger.verify_log_integrity()["verified"] is True


def test_encrypted_archives(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True, encrypt_archives=True)
    _write_three_segments(logger)
    root = log_dir / "app"
    segs = manifest(root)["segments"]
    for seg in segs[:-1]:
        arch = root / seg["archive"]["file"]
        assert arch.name.endswith(".jsonl.zst.aes")
        assert seg["archive"]["kid"] is not None
        assert seg["archive"]["kid"] != seg["kid"]
        assert not arch.read_bytes().startswith(b"\x28\xb5\x2f\xfd")
    blob = _all_bytes_outside_keys(root)
    assert SECRET_MSG.encode() not in blob
    assert b'"level":"INFO"' not in b"".join(
        (root / s["archive"]["file"]).read_bytes() for s in segs[:-1]
    )
    records = [r for r in read_records(root) if r.kind == "record"]
    assert len(records) == 12
    assert all(r.status == "ok" for r in records)
    # shredding a field key leaves the archive itself readable
    assert logger.stream.enc is not None
    logger.stream.enc.shred(segs[0]["kid"])
    statuses = [r.status for r in read_records(root) if r.kind == "record"]
    assert statuses == ["shredded"] * 4 + ["ok"] * 8
    assert logger.verify_log_integrity()["verified"] is True
    # verifying an encrypted archive needs the encryption key: without it, it is unreadable
    material = logger.stream.keys.verifier_material()
    report = verify_stream_dir(root, material)
    assert not report.verified
    assert report.failures[0].kind is FailureKind.UNREADABLE_SEGMENT
    assert report.failures[0].segment == segs[0]["archive"]["file"]
