"""Key-file plumbing: atomic 0600 writes, no overwrite, strict reading, stale-writer guard."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from logging_audit.crypto import _files
from logging_audit.errors import ConfigError, KeyStoreError

KIND = "logaudit-test"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _doc(**extra: object) -> bytes:
    return _files.dump({"version": 1, "kind": KIND, **extra})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_write_new_is_0600_even_with_open_umask(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    old = os.umask(0)
    try:
        _files.write_new(path, _doc(a=1))
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _files.read_object(path, KIND)[0]["a"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]  # no temp file left


def test_write_new_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(b"precious")
    with pytest.raises(KeyStoreError, match="already exists") as info:
        _files.write_new(path, _doc())
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]


def test_write_new_refuses_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(KeyStoreError, match="already exists"):
        _files.write_new(path, _doc())
    assert not (tmp_path / "elsewhere.json").exists()


def test_write_new_into_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "k.json"
    with pytest.raises(KeyStoreError, match="cannot write key file") as info:
        _files.write_new(path, _doc())
    assert str(path) in str(info.value)


@posix_only
def test_replace_keeps_0600_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first = _doc(n=1)
    _files.write_new(path, first)
    second = _doc(n=2)
    _files.replace(path, second, expected=_files.digest(first))
    assert path.read_bytes() == second
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]


def test_replace_refuses_when_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first = _doc(n=1)
    _files.write_new(path, first)
    _files.replace(path, _doc(n=2), expected=_files.digest(first))
    with pytest.raises(KeyStoreError, match="changed by someone else") as info:
        _files.replace(path, _doc(n=0), expected=_files.digest(first))
    assert str(path) in str(info.value)
    assert json.loads(path.read_bytes())["n"] == 2


def test_replace_of_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.json"
    with pytest.raises(KeyStoreError, match="disappeared"):
        _files.replace(path, _doc(), expected=b"")


@posix_only
def test_replace_overwrites_the_old_file_blocks(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first = _doc(secret="A" * 40)
    _files.write_new(path, first)
    fd = os.open(path, os.O_RDONLY)  # keeps the old inode readable after the rename
    try:
        _files.replace(path, _doc(secret="B" * 40), expected=_files.digest(first))
        old = os.pread(fd, len(first) + 10, 0)
    finally:
        os.close(fd)
    assert old == bytes(len(first))


@posix_only
def test_replace_does_not_wipe_a_file_still_linked_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first = _doc(n=1)
    _files.write_new(path, first)
    os.link(path, tmp_path / "other-link.json")
    _files.replace(path, _doc(n=2), expected=_files.digest(first))
    assert (tmp_path / "other-link.json").read_bytes() == first


# -- reading -----------------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


BAD_CONTENT = {
    "empty": b"",
    "whitespace": b"  \n",
    "truncated": _doc(a=1)[:-5],
    "not json": b"this is not json",
    "not utf-8": b'{"version": 1, "kind": "\xff"}',
    "array": b"[1, 2]",
    "string": b'"x"',
    "no version": b'{"kind": "logaudit-test"}',
    "version 2": b'{"version": 2, "kind": "logaudit-test"}',
    "version string": b'{"version": "1", "kind": "logaudit-test"}',
    "version true": b'{"version": true, "kind": "logaudit-test"}',
    "version float": b'{"version": 1.0, "kind": "logaudit-test"}',
    "wrong kind": b'{"version": 1, "kind": "logaudit-other"}',
    "no kind": b'{"version": 1}',
    "duplicate member": b'{"version": 1, "kind": "logaudit-test", "kind": "logaudit-test"}',
    "deep nesting": b'{"version": 1, "kind": "logaudit-test", "x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
}


@pytest.mark.parametrize("name", sorted(BAD_CONTENT))
def test_bad_content_names_the_file(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / "k.json", BAD_CONTENT[name])
    with pytest.raises(KeyStoreError) as info:
        _files.read_object(path, KIND)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    with pytest.raises(KeyStoreError, match="does not exist") as info:
        _files.read_object(path, KIND)
    assert str(path) in str(info.value)
    assert not path.exists()


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyStoreError) as info:
        _files.read_object(path, KIND)
    assert str(path) in str(info.value)


@posix_only
def test_fifo_is_not_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    os.mkfifo(path, 0o600)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer, so opening for read won't block
    try:
        with pytest.raises(KeyStoreError, match="not a regular file"):
            _files.read_object(path, KIND)
    finally:
        os.close(fd)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o660, 0o644, 0o666, 0o610])
def test_group_or_other_permissions_rejected(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "k.json", _doc(), mode)
    with pytest.raises(KeyStoreError, match=f"mode {mode:04o}") as info:
        _files.read_object(path, KIND)
    assert str(path) in str(info.value)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_permissions_accepted(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "k.json", _doc(), mode)
    assert _files.read_object(path, KIND)[0]["kind"] == KIND


def test_symlink_to_a_good_file_is_followed(tmp_path: Path) -> None:
    target = _write(tmp_path / "real.json", _doc())
    link = tmp_path / "k.json"
    link.symlink_to(target)
    assert _files.read_object(link, KIND)[0]["kind"] == KIND


def test_oversized_file_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "MAX_KEY_FILE_SIZE", 64)
    path = _write(tmp_path / "k.json", _doc(pad="x" * 100))
    with pytest.raises(KeyStoreError, match="larger than any key file"):
        _files.read_object(path, KIND)


# -- fields ------------------------------------------------------------------------------

P = Path("/keys/k.json")


@pytest.mark.parametrize("value", [None, 1, "", ["a"], "x" * 5000])
def test_field_str_rejects(value: object) -> None:
    with pytest.raises(KeyStoreError, match="'f'") as info:
        _files.field_str({"f": value}, "f", P)
    assert str(P) in str(info.value)


@pytest.mark.parametrize("value", [None, True, 1.0, "1", -1, 1 << 63])
def test_field_int_rejects(value: object) -> None:
    with pytest.raises(KeyStoreError, match="'f'"):
        _files.field_int({"f": value}, "f", P)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, "base64 string"),
        ("not base64!", "not valid base64"),
        ("AAAA====", "not valid base64"),
        ("AAA", "not valid base64"),
        ("é", "not valid base64"),
        ("AAAA", "holds 3 bytes, expected 32"),
    ],
)
def test_field_b64_rejects(value: object, match: str) -> None:
    with pytest.raises(KeyStoreError, match=match):
        _files.field_b64({"f": value}, "f", P, length=32)


@pytest.mark.parametrize(
    "value", [None, 5, "2026-01-31", "2026-01-31T12:00:00Z", "2026-13-31T12:00:00.000000Z"]
)
def test_field_time_rejects(value: object) -> None:
    with pytest.raises(KeyStoreError, match="UTC time"):
        _files.field_time({"f": value}, "f", P)


def test_missing_field_named() -> None:
    with pytest.raises(KeyStoreError, match="no 'f' field") as info:
        _files.field_int({}, "f", P)
    assert str(P) in str(info.value)


def test_time_round_trip() -> None:
    now = _files.utc_now()
    text = _files.format_time(now)
    assert text.endswith("Z")
    assert len(text) == 27
    assert _files.field_time({"t": text}, "t", P) == now


def test_naive_time_is_config_error() -> None:
    from datetime import datetime

    with pytest.raises(ConfigError, match="time zone"):
        _files.format_time(datetime(2026, 1, 1))  # deliberately naive
