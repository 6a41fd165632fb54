"""Key files of a SecureLogger: where they live, reuse on reopen, the verifier file, bad keys."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from storage_helpers import NODE, MakeLogger, entries

from logging_audit.crypto import SigningKeyStore, VerifierFile
from logging_audit.errors import KeyStoreError
from logging_audit.ledger import open_checkpoint
from logging_audit.reader import read_records
from logging_audit.secure_logger import SecureLogger


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_keys_live_next_to_the_log_private(make_logger: MakeLogger, log_dir: Path) -> None:
    logger = make_logger(encryption_enabled=True)
    logger.info("x")
    keys = log_dir / "app" / "keys"
    assert _mode(keys / "signing.json") == 0o600
    assert _mode(keys / "encryption.json") == 0o600
    assert _mode(keys) & 0o077 == 0
    assert SigningKeyStore.load(keys / "signing.json").origin == f"logaudit/{NODE}/app"


def test_custom_key_file_holds_the_keys(make_logger: MakeLogger, log_dir: Path) -> None:
    key_file = log_dir.parent / "etc" / "secure_logger" / "keys.json"
    logger = make_logger(key_file=key_file, encryption_enabled=True)
    logger.info("secret message", extra={"k": "v"})
    logger.close()
    assert key_file.exists()
    enc_file = key_file.with_name("keys.encryption.json")
    assert enc_file.exists()
    assert _mode(key_file) == 0o600
    assert not (log_dir / "app" / "keys" / "signing.json").exists()
    assert not (log_dir / "app" / "keys" / "encryption.json").exists()
    # reopen with the same key file: the chain goes on, and everything verifies
    logger = make_logger(key_file=key_file, encryption_enabled=True)
    logger.info("second session")
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    records = list(read_records(log_dir / "app", encryption_key_file=enc_file))
    msgs = [r.fields.get("msg") for r in records if r.kind == "record"]
    assert msgs == ["secret message", "second session"]
    assert all(r.status == "ok" for r in records)


def test_keys_are_reused_and_the_chain_continues_on_reopen(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    for i in range(3):
        logger.info("first %d", i)
    vkey = logger.stream.keys.verifier_key
    logger.close()
    key_bytes = (log_dir / "app" / "keys" / "signing.json").read_bytes()
    logger = make_logger()
    assert logger.stream.keys.verifier_key == vkey
    for i in range(3):
        logger.info("second %d", i)
    note = logger.checkpoint()
    # 3 records, the seal written at close, 3 more
    assert open_checkpoint(note, (logger.stream.keys.verifier,)).size == 7
    seg = entries(log_dir / "app" / "segments" / "00000001.jsonl")
    assert [e["seq"] for e in seg] == list(range(len(seg)))
    assert [e.get("msg") for e in seg if "msg" in e] == [
        *(f"first {i}" for i in range(3)),
        *(f"second {i}" for i in range(3)),
    ]
    report = logger.verify_log_integrity()
    assert report["verified"] is True, report["errors"]
    # the key file evolved (epoch moved on) but was never replaced by a new identity
    assert (
        json.loads(key_bytes)["signer"]
        == json.loads((log_dir / "app" / "keys" / "signing.json").read_bytes())["signer"]
    )


def _three_epochs(logger: SecureLogger) -> None:
    for epoch in range(3):
        logger.info("epoch %d", epoch)
        logger.seal()
    logger.info("current epoch")


def test_verifier_file_lets_verification_check_every_epoch(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    verifier = log_dir.parent / "offhost" / "verifier.json"
    verifier.parent.mkdir()
    logger = make_logger(verifier_file=verifier)
    assert _mode(verifier) == 0o600
    assert VerifierFile.load(verifier).origin == f"logaudit/{NODE}/app"
    _three_epochs(logger)
    report = logger.verify_log_integrity()
    assert report["verified"] is True
    assert report["mac_epochs_checked"] == [[0, 3]]
    assert report["mac_epochs_unchecked"] == []


def test_without_verifier_file_only_the_current_epoch_is_mac_checked(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    _three_epochs(logger)
    report = logger.verify_log_integrity()
    assert report["verified"] is True
    assert report["mac_epochs_checked"] == [[3, 3]]
    assert report["mac_epochs_unchecked"] == [[0, 2]]
    # the public layers still cover the older epochs
    assert report["seals_verified"] == 3
    assert report["checkpoints_verified"] == 3


def test_verifier_file_given_later_checks_every_epoch(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    verifier = log_dir.parent / "verifier.json"
    logger = make_logger(verifier_file=verifier)
    _three_epochs(logger)
    logger.close()
    logger = make_logger()  # reopened without it: host keys only (close sealed epoch 3)
    assert logger.verify_log_integrity()["mac_epochs_unchecked"] == [[0, 3]]
    report = logger.verify_log_integrity(verifier_file=verifier)
    assert report["verified"] is True
    assert report["mac_epochs_unchecked"] == []


def test_existing_verifier_file_is_never_overwritten(log_dir: Path) -> None:
    verifier = log_dir.parent / "verifier.json"
    verifier.parent.mkdir(parents=True, exist_ok=True)
    verifier.write_text("precious\n")
    with pytest.raises(KeyStoreError, match=r"verifier file .*verifier\.json already exists"):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE, verifier_file=verifier)
    assert verifier.read_text() == "precious\n"


def test_corrupted_key_file_is_a_clear_error_naming_it(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    make_logger().close()
    key_file = log_dir / "app" / "keys" / "signing.json"
    key_file.write_bytes(os.urandom(200))
    with pytest.raises(KeyStoreError, match=re.escape(str(key_file))):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE)


def test_deleted_key_file_is_an_error_never_a_new_key(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger()
    logger.info("x")
    logger.close()
    key_file = log_dir / "app" / "keys" / "signing.json"
    key_file.unlink()
    with pytest.raises(KeyStoreError, match=re.escape(f"key file {key_file} ") + ".*missing"):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE)
    assert not key_file.exists(), "no new key may be made for an existing log"


def test_deleted_encryption_key_file_is_an_error_never_a_new_key(
    make_logger: MakeLogger, log_dir: Path
) -> None:
    logger = make_logger(encryption_enabled=True)
    logger.info("secret")
    logger.close()
    enc_file = log_dir / "app" / "keys" / "encryption.json"
    enc_file.unlink()
    with pytest.raises(KeyStoreError, match=re.escape(str(enc_file))):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE, encryption_enabled=True)
    assert not enc_file.exists(), "no new key may be made for an existing encrypted log"


def test_key_file_of_another_stream_is_refused(make_logger: MakeLogger, log_dir: Path) -> None:
    make_logger(name="billing").info("b")
    foreign = log_dir / "billing" / "keys" / "signing.json"
    with pytest.raises(KeyStoreError, match=re.escape(f"key file {foreign} belongs to stream")):
        SecureLogger(name="app", log_dir=log_dir / "elsewhere", node_id=NODE, key_file=foreign)


def test_key_file_of_a_same_named_log_elsewhere_is_refused(
    make_logger: MakeLogger, log_dir: Path, tmp_path: Path
) -> None:
    """Two logs called "app" on one node share an origin, not their keys."""
    mine = make_logger(log_dir=tmp_path / "a")
    mine.info("mine")
    mine.seal()
    mine.info("more")
    mine.close()
    theirs = make_logger(log_dir=tmp_path / "b")
    for _ in range(3):  # their key file is further along than our log
        theirs.info("theirs")
        theirs.seal()
    theirs.close()
    foreign = tmp_path / "b" / "app" / "keys" / "signing.json"
    with pytest.raises(KeyStoreError, match=re.escape(str(foreign))):
        SecureLogger(name="app", log_dir=tmp_path / "a", node_id=NODE, key_file=foreign)


def test_a_failed_open_releases_the_log(make_logger: MakeLogger, log_dir: Path) -> None:
    """After fixing what made opening fail, the same process can open the log."""
    logger = make_logger()
    logger.info("x")
    logger.close()
    key_file = log_dir / "app" / "keys" / "signing.json"
    good = key_file.read_bytes()
    key_file.write_bytes(b"garbage")
    with pytest.raises(KeyStoreError):
        SecureLogger(name="app", log_dir=log_dir, node_id=NODE)
    key_file.write_bytes(good)
    logger = make_logger()
    logger.info("after the fix")
    assert logger.verify_log_integrity()["verified"] is True
