"""``logaudit keys``: init, export-verifier, show — exit codes, files, and no secret printed."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from logging_audit._cli import main
from logging_audit.crypto import EncryptionKeyStore, SigningKeyStore, VerifierFile

ORIGIN = "logaudit/node-1/app"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``logaudit`` in-process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _secrets(key_file: Path) -> list[str]:
    """Every secret in a signing key file, in the forms it could be printed."""
    obj = json.loads(key_file.read_bytes())
    epoch_key = base64.b64decode(obj["epoch_key"])
    seed_b64 = obj["signer"].split("+", 4)[4]  # PRIVATE+KEY+<name>+<id>+<base64>
    return [
        obj["signer"],
        obj["epoch_key"],
        seed_b64,
        epoch_key.hex(),
        base64.b64decode(seed_b64)[1:].hex(),
        "PRIVATE",
    ]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "signing.json"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["init"], ["export-verifier"], ["show"]):
        code, out, _ = run(capsys, "keys", *command, "--help")
        assert code == 0
        assert "Usage:" in out


@posix_only
def test_init_creates_a_0600_key_file(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    code, out, err = run(capsys, "keys", "init", "--key-file", key_file, "--origin", ORIGIN)
    assert code == 0, err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    store = SigningKeyStore.load(key_file)
    assert store.origin == ORIGIN
    assert store.epoch_seconds == 900
    assert store.verifier_key in out
    assert "export-verifier" in err
    for secret in _secrets(key_file):
        assert secret not in out + err


def test_init_with_everything(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key_file, verifier, enc = tmp_path / "k.json", tmp_path / "v.json", tmp_path / "e.json"
    code, out, err = run(
        capsys,
        "keys",
        "init",
        "--key-file",
        key_file,
        "--origin",
        ORIGIN,
        "--key-name",
        "ops",
        "--epoch-seconds",
        "60",
        "--verifier-out",
        verifier,
        "--encryption-key-file",
        enc,
    )
    assert code == 0, err
    store = SigningKeyStore.load(key_file)
    assert store.epoch_seconds == 60
    assert store.key_name == "ops"
    loaded = VerifierFile.load(verifier)
    assert loaded.epoch0_key == store.epoch_key
    assert loaded.verifier_keys == (store.verifier_key,)
    enc_store = EncryptionKeyStore.load(enc)
    assert enc_store.current_kid is not None
    assert enc_store.current_kid in out
    assert "forward security" in err
    if os.name == "posix":
        for path in (key_file, verifier, enc):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    assert run(capsys, "keys", "init", "--key-file", key_file, "--origin", ORIGIN)[0] == 0
    before = key_file.read_bytes()
    code, _, err = run(capsys, "keys", "init", "--key-file", key_file, "--origin", ORIGIN)
    assert code == 2
    assert "already exists" in err
    assert str(key_file) in err
    assert key_file.read_bytes() == before


def test_init_checks_every_path_before_creating_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key_file, enc = tmp_path / "k.json", tmp_path / "e.json"
    enc.write_text("existing")
    code, _, err = run(
        capsys, "keys", "init", "--key-file", key_file, "--origin", ORIGIN,
        "--encryption-key-file", enc,
    )  # fmt: skip
    assert code == 2
    assert str(enc) in err
    assert not key_file.exists()


def test_init_rejects_same_path_twice(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    code, _, err = run(
        capsys, "keys", "init", "--key-file", key_file, "--origin", ORIGIN,
        "--verifier-out", key_file,
    )  # fmt: skip
    assert code == 2
    assert "must differ" in err
    assert not key_file.exists()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--origin", "has space"], 2),
        (["--origin", ORIGIN, "--key-name", "a+b"], 2),
        (["--origin", ORIGIN, "--epoch-seconds", "0"], 2),  # click usage error
    ],
)
def test_init_bad_arguments(
    capsys: pytest.CaptureFixture[str], key_file: Path, args: list[str], code: int
) -> None:
    assert run(capsys, "keys", "init", "--key-file", key_file, *args)[0] == code
    assert not key_file.exists()


def test_export_verifier_to_stdout(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    code, out, err = run(capsys, "keys", "export-verifier", "--key-file", key_file)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["kind"] == "logaudit-verifier"
    assert base64.b64decode(obj["epoch0_key"]) == store.epoch_key
    assert obj["verifier_keys"] == [store.verifier_key]
    assert "off this host" in err


def test_export_verifier_to_file(
    capsys: pytest.CaptureFixture[str], key_file: Path, tmp_path: Path
) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN)
    out_file = tmp_path / "verifier.json"
    code, out, _ = run(capsys, "keys", "export-verifier", "--key-file", key_file, "-o", out_file)
    assert code == 0
    assert str(out_file) in out
    assert VerifierFile.load(out_file).epoch0_key == store.epoch_key
    code, _, err = run(capsys, "keys", "export-verifier", "--key-file", key_file, "-o", out_file)
    assert code == 2
    assert "already exists" in err


def test_export_verifier_after_epoch_zero_fails(
    capsys: pytest.CaptureFixture[str], key_file: Path, tmp_path: Path
) -> None:
    SigningKeyStore.create(key_file, ORIGIN).advance_epoch()
    out_file = tmp_path / "verifier.json"
    code, out, err = run(capsys, "keys", "export-verifier", "--key-file", key_file, "-o", out_file)
    assert code == 2
    assert "K(0) was erased when epoch 1 began" in err
    assert "exported at" in err
    assert str(key_file) in err
    assert out == ""
    assert not out_file.exists()


@pytest.mark.parametrize("advance", [0, 3])
def test_show_prints_public_facts_only(
    capsys: pytest.CaptureFixture[str], key_file: Path, advance: int
) -> None:
    store = SigningKeyStore.create(key_file, ORIGIN, epoch_seconds=120)
    for _ in range(advance):
        store.advance_epoch()
    code, text, err = run(capsys, "keys", "show", "--key-file", key_file)
    assert code == 0, err
    code, js, err = run(capsys, "keys", "show", "--key-file", key_file, "--json")
    assert code == 0, err
    facts = json.loads(js)
    assert facts["origin"] == ORIGIN
    assert facts["verifier_key"] == store.verifier_key
    assert facts["key_id"] == store.key_id
    assert facts["key_name"] == ORIGIN
    assert facts["epoch"] == advance
    assert facts["epoch_seconds"] == 120
    assert facts["verifier_exportable"] is (advance == 0)
    for value in (ORIGIN, store.verifier_key, store.key_id, "120"):
        assert value in text
    for secret in _secrets(key_file):
        assert secret not in text + js + err


def test_show_missing_file(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    code, _, err = run(capsys, "keys", "show", "--key-file", key_file)
    assert code == 2
    assert "does not exist" in err
    assert str(key_file) in err
    assert not key_file.exists()


@posix_only
def test_show_refuses_group_readable_file(
    capsys: pytest.CaptureFixture[str], key_file: Path
) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    key_file.chmod(0o640)
    code, _, err = run(capsys, "keys", "show", "--key-file", key_file)
    assert code == 2
    assert "0640" in err
    assert str(key_file) in err


def test_show_corrupt_file(capsys: pytest.CaptureFixture[str], key_file: Path) -> None:
    SigningKeyStore.create(key_file, ORIGIN)
    key_file.write_bytes(key_file.read_bytes()[:40])
    code, _, err = run(capsys, "keys", "show", "--key-file", key_file)
    assert code == 2
    assert str(key_file) in err
    assert "Traceback" not in err


def _logaudit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logging_audit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_subprocess_round_trip(tmp_path: Path) -> None:
    key_file, verifier = tmp_path / "k.json", tmp_path / "v.json"
    done = _logaudit(
        "keys", "init", "--key-file", key_file, "--origin", ORIGIN, "--verifier-out", verifier
    )
    assert done.returncode == 0, done.stderr
    shown = _logaudit("keys", "show", "--key-file", key_file, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["verifier_key"] in VerifierFile.load(verifier).verifier_keys
    for secret in _secrets(key_file):
        assert secret not in shown.stdout + shown.stderr
    again = _logaudit("keys", "init", "--key-file", key_file, "--origin", ORIGIN)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
