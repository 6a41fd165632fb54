"""Tests of logging_audit.ledger.checkpoint: C2SP tlog-checkpoint in a signed note.

Known-answer vectors live in tests/assets/vectors/c2sp/ (sources in its README.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import CheckpointError, NoteError
from logging_audit.ledger.checkpoint import (
    HASH_SIZE,
    MAX_TREE_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from logging_audit.ledger.notes import NoteSigner, NoteVerifier, sign_note, verify_note

VECTORS = Path(__file__).resolve().parents[2] / "assets" / "vectors" / "c2sp"
MANIFEST: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
KEYS: dict[str, dict[str, str]] = MANIFEST["keys"]
CHECKPOINTS: list[dict[str, Any]] = [n for n in MANIFEST["notes"] if "checkpoint" in n]

EM = "\u2014"
EMPTY_ROOT = hashlib.sha256(b"").digest()
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
SUMDB_ORIGIN = "go.sum database tree"


def note_bytes(entry: dict[str, Any]) -> bytes:
    return (VECTORS / str(entry["file"])).read_bytes()


def expected(entry: dict[str, Any]) -> Checkpoint:
    fields = entry["checkpoint"]
    return Checkpoint(
        origin=fields["origin"],
        size=fields["size"],
        root_hash=bytes.fromhex(fields["root_hash_hex"]),
        extensions=tuple(fields["extensions"]),
    )


def sumdb_verifier() -> NoteVerifier:
    return NoteVerifier.from_string(KEYS["sum.golang.org"]["vkey"])


# ---------------------------------------------------------------------------------------
# Known-answer vectors


@pytest.mark.parametrize("entry", CHECKPOINTS, ids=[n["file"] for n in CHECKPOINTS])
def test_vector_checkpoint_text_parses_byte_exact(entry: dict[str, Any]) -> None:
    cp = parse_checkpoint(entry["text"])
    assert cp == expected(entry)
    assert cp.to_text() == entry["text"]
    assert note_bytes(entry).decode("utf-8").startswith(cp.to_text() + "\n")


def test_real_sumdb_checkpoint_opens() -> None:
    entry = next(n for n in CHECKPOINTS if n["file"] == "sumdb-checkpoint-49189689.note")
    raw = note_bytes(entry)
    for note in (raw, raw.decode("utf-8")):
        assert open_checkpoint(note, [sumdb_verifier()]) == expected(entry)
        assert open_checkpoint(note, [sumdb_verifier()], origin=SUMDB_ORIGIN) == expected(entry)


def test_real_sumdb_checkpoint_with_wrong_origin() -> None:
    raw = note_bytes(next(n for n in CHECKPOINTS if n["signed_by"]))
    with pytest.raises(
        CheckpointError, match=r"origin 'go\.sum database tree' is not the expected"
    ):
        open_checkpoint(raw, [sumdb_verifier()], origin="sum.golang.org")


def test_spec_checkpoint_signed_by_unpublished_key_does_not_open() -> None:
    entry = next(n for n in CHECKPOINTS if n["file"] == "tlog-checkpoint-example.note")
    with pytest.raises(NoteError, match="no valid signature from a known key") as info:
        open_checkpoint(note_bytes(entry), [sumdb_verifier()])
    assert not isinstance(info.value, CheckpointError)


def test_sumdb_checkpoint_tampered_size_does_not_open() -> None:
    raw = note_bytes(next(n for n in CHECKPOINTS if n["signed_by"]))
    with pytest.raises(NoteError, match=r"invalid signature from known key sum\.golang\.org"):
        open_checkpoint(raw.replace(b"49189689", b"49189690"), [sumdb_verifier()])


# ---------------------------------------------------------------------------------------
# Construction and text form


def test_to_text_layout() -> None:
    cp = Checkpoint("example.com/log42", 0, EMPTY_ROOT)
    assert cp.to_text() == "example.com/log42\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    ext = Checkpoint("o", 1, ROOT, ("ext one", "— two"))
    assert ext.to_text() == f"o\n1\n{ROOT_B64}\next one\n— two\n"
    assert parse_checkpoint(ext.to_text()) == ext


def test_fields_are_normalised() -> None:
    cp = Checkpoint("o", 1, bytearray(ROOT), ["a", "b"])  # type: ignore[arg-type]
    assert cp.root_hash == ROOT
    assert type(cp.root_hash) is bytes
    assert cp.extensions == ("a", "b")
    assert hash(cp) == hash(Checkpoint("o", 1, ROOT, ("a", "b")))


def test_largest_size() -> None:
    cp = Checkpoint("o", MAX_TREE_SIZE, ROOT)
    assert parse_checkpoint(cp.to_text()) == cp
    assert "\n18446744073709551615\n" in cp.to_text()


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("empty-origin", {"origin": ""}, "origin must not be empty"),
    ("newline-origin", {"origin": "a\nb"}, "must not contain a newline"),
    ("control-origin", {"origin": "a\x07"}, "control character U\\+0007"),
    ("surrogate-origin", {"origin": "a\udc80"}, "not valid UTF-8"),
    ("negative-size", {"size": -1}, "tree size must be an integer"),
    ("huge-size", {"size": MAX_TREE_SIZE + 1}, "tree size must be an integer"),
    ("bool-size", {"size": True}, "tree size must be an integer"),
    ("float-size", {"size": 1.0}, "tree size must be an integer"),
    ("short-root", {"root_hash": bytes(31)}, "root hash must be 32 bytes, got 31"),
    ("long-root", {"root_hash": bytes(33)}, "root hash must be 32 bytes, got 33"),
    ("empty-extension", {"extensions": ("ok", "")}, "extension line 2 must not be empty"),
    ("newline-extension", {"extensions": ("a\nb",)}, "extension line 1 must not contain"),
    ("cr-extension", {"extensions": ("a\r",)}, "control character U\\+000D"),
]


@pytest.mark.parametrize(
    ("fields", "message"),
    [(f, m) for _, f, m in BAD_FIELDS],
    ids=[i for i, _, _ in BAD_FIELDS],
)
def test_bad_fields_are_rejected(fields: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"origin": "o", "size": 1, "root_hash": ROOT, "extensions": ()}
    args.update(fields)
    with pytest.raises(CheckpointError, match=message):
        Checkpoint(**args)


# ---------------------------------------------------------------------------------------
# Parsing: strict, each failure names what is wrong

GOOD = f"example.com/log\n7\n{ROOT_B64}\n"

MALFORMED: list[tuple[str, str, str]] = [
    ("empty", "", "must end with a newline"),
    ("no-final-newline", GOOD[:-1], "must end with a newline"),
    ("two-lines", "example.com/log\n7\n", "got 2 line"),
    ("one-line", "example.com/log\n", "got 1 line"),
    ("just-newline", "\n", "got 1 line"),
    ("empty-origin", f"\n7\n{ROOT_B64}\n", "origin must not be empty"),
    ("leading-zero", f"o\n07\n{ROOT_B64}\n", "without leading zeros"),
    ("double-zero", f"o\n00\n{ROOT_B64}\n", "without leading zeros"),
    ("plus-sign", f"o\n+7\n{ROOT_B64}\n", "without leading zeros"),
    ("minus-sign", f"o\n-7\n{ROOT_B64}\n", "without leading zeros"),
    ("minus-zero", f"o\n-0\n{ROOT_B64}\n", "without leading zeros"),
    ("space-before", f"o\n 7\n{ROOT_B64}\n", "without leading zeros"),
    ("space-after", f"o\n7 \n{ROOT_B64}\n", "without leading zeros"),
    ("underscore", f"o\n1_000\n{ROOT_B64}\n", "without leading zeros"),
    ("hex", f"o\n0x10\n{ROOT_B64}\n", "without leading zeros"),
    ("exponent", f"o\n1e3\n{ROOT_B64}\n", "without leading zeros"),
    ("arabic-indic-digits", f"o\n\u0661\u0662\n{ROOT_B64}\n", "without leading zeros"),
    ("fullwidth-digit", f"o\n\uff17\n{ROOT_B64}\n", "without leading zeros"),
    ("empty-size", f"o\n\n{ROOT_B64}\n", "without leading zeros"),
    ("size-2-64", f"o\n18446744073709551616\n{ROOT_B64}\n", "larger than 2\\*\\*64-1"),
    ("size-21-digits", f"o\n100000000000000000000\n{ROOT_B64}\n", "larger than 2\\*\\*64-1"),
    ("size-5000-digits", f"o\n{'9' * 5000}\n{ROOT_B64}\n", "larger than 2\\*\\*64-1"),
    ("root-not-base64", "o\n7\nThisIsn'tBase64\n", "root hash is not valid base64"),
    ("root-unpadded", f"o\n7\n{ROOT_B64.rstrip('=')}\n", "not valid base64"),
    ("root-url-safe", "o\n7\n" + base64.urlsafe_b64encode(b"\xfb" * 32).decode() + "\n", "base64"),
    ("root-non-canonical", f"o\n7\n{ROOT_B64[:-2]}9=\n", "not canonical base64"),
    ("root-short", f"o\n7\n{base64.b64encode(bytes(31)).decode()}\n", "got 31"),
    ("root-long", f"o\n7\n{base64.b64encode(bytes(33)).decode()}\n", "got 33"),
    ("root-empty", "o\n7\n\n", "got 0"),
    ("go-bananas-hash", "Log\n123\nYmFuYW5hcw==\n", "got 7"),
    ("empty-extension", f"o\n7\n{ROOT_B64}\n\n", "extension line 1 must not be empty"),
    ("empty-extension-later", f"o\n7\n{ROOT_B64}\na\n\nb\n", "extension line 2 must not be empty"),
    ("crlf", GOOD.replace("\n", "\r\n"), "control character U\\+000D|without leading zeros"),
    ("control-in-origin", f"o\x00\n7\n{ROOT_B64}\n", "control character U\\+0000"),
    ("control-in-extension", f"o\n7\n{ROOT_B64}\n\x1b[0m\n", "control character U\\+001B"),
    ("surrogate", f"o\ud800\n7\n{ROOT_B64}\n", "not valid UTF-8"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [(t, m) for _, t, m in MALFORMED],
    ids=[i for i, _, _ in MALFORMED],
)
def test_malformed_checkpoints_are_rejected(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        parse_checkpoint(text)


def test_size_zero_and_origin_with_spaces_are_fine() -> None:
    cp = parse_checkpoint(f"{SUMDB_ORIGIN}\n0\n{ROOT_B64}\n")
    assert (cp.origin, cp.size) == (SUMDB_ORIGIN, 0)


# ---------------------------------------------------------------------------------------
# Signing and opening


def test_open_with_log_key_and_unknown_witness() -> None:
    log = NoteSigner.generate("example.com/log")
    witness = NoteSigner.generate("witness.example/w1")
    cp = Checkpoint("example.com/log", 42, ROOT, ("ext",))
    note = sign_checkpoint(cp, [log, witness])
    assert open_checkpoint(note, [log.verifier()], origin="example.com/log") == cp
    assert open_checkpoint(note, [witness.verifier()]) == cp
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_checkpoint(note, [NoteSigner.generate("example.com/log").verifier()])


def test_signed_note_that_is_not_a_checkpoint() -> None:
    signer = NoteSigner.generate("example.com/log")
    note = sign_note("just some text\n", signer)
    assert verify_note(note, [signer.verifier()]).text == "just some text\n"
    with pytest.raises(CheckpointError, match="got 1 line"):
        open_checkpoint(note, [signer.verifier()])


def test_text_with_blank_line_is_not_a_checkpoint() -> None:
    signer = NoteSigner.generate("example.com/log")
    note = sign_note(f"o\n7\n{ROOT_B64}\n\n", signer)
    with pytest.raises(CheckpointError, match="extension line 1 must not be empty"):
        open_checkpoint(note, [signer.verifier()])


def test_published_test_key_signs_our_checkpoints() -> None:
    signer = NoteSigner.from_private_key_string(KEYS["example.com/log/testdata"]["skey"])
    cp = Checkpoint("example.com/log/testdata", 3, ROOT)
    note = sign_checkpoint(cp, signer)
    assert note.startswith(
        f"example.com/log/testdata\n3\n{ROOT_B64}\n\n{EM} example.com/log/testdata "
    )
    vkey = NoteVerifier.from_string(KEYS["example.com/log/testdata"]["vkey"])
    assert open_checkpoint(note, [vkey], origin="example.com/log/testdata") == cp


def test_sign_checkpoint_is_sign_note_of_its_text() -> None:
    signer = NoteSigner.from_private_key_string(KEYS["PeterNeumann"]["skey"])
    cp = Checkpoint("PeterNeumann", 5, ROOT)
    assert sign_checkpoint(cp, signer) == sign_note(cp.to_text(), signer)
    assert sign_checkpoint(cp, [signer]) == sign_checkpoint(cp, signer)


# ---------------------------------------------------------------------------------------
# Property tests

LINE_CHARS = st.characters(
    exclude_categories=["Cs"],
    exclude_characters="".join(chr(c) for c in range(0x20)),
)
LINES = st.text(LINE_CHARS, min_size=1, max_size=40)
CHECKPOINTS_ST = st.builds(
    Checkpoint,
    origin=LINES,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
    extensions=st.lists(LINES, max_size=3).map(tuple),
)


@given(cp=CHECKPOINTS_ST)
def test_text_round_trip(cp: Checkpoint) -> None:
    text = cp.to_text()
    assert parse_checkpoint(text) == cp
    assert parse_checkpoint(text).to_text() == text


@settings(deadline=None)
@given(cp=CHECKPOINTS_ST, seed=st.binary(min_size=32, max_size=32))
def test_signed_round_trip(cp: Checkpoint, seed: bytes) -> None:
    signer = NoteSigner.from_seed("example.com/log", seed)
    note = sign_checkpoint(cp, signer)
    assert open_checkpoint(note, [signer.verifier()], origin=cp.origin) == cp
    assert open_checkpoint(note.encode("utf-8"), [signer.verifier()]) == cp


@settings(deadline=None)
@given(cp=CHECKPOINTS_ST, seed=st.binary(min_size=32, max_size=32), data=st.data())
def test_any_bit_flip_of_a_signed_checkpoint_fails(
    cp: Checkpoint, seed: bytes, data: st.DataObject
) -> None:
    signer = NoteSigner.from_seed("example.com/log", seed)
    raw = bytearray(sign_checkpoint(cp, signer).encode("utf-8"))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(NoteError):
        open_checkpoint(bytes(raw), [signer.verifier()])


CHECKPOINTISH = st.lists(
    st.one_of(
        st.sampled_from(
            ["\n", "0", "7", "01", "-", "+", " ", ROOT_B64, "=", "A", "\x00", "\ud800"]
        ),
        st.text(max_size=6),
    ),
    max_size=12,
).map("".join)


@given(text=st.one_of(st.text(), CHECKPOINTISH))
def test_fuzz_parse_checkpoint_raises_only_checkpoint_error(text: str) -> None:
    try:
        cp = parse_checkpoint(text)
    except CheckpointError as exc:
        message = str(exc)
    else:
        assert cp.to_text() == text  # whatever parses is byte-exact
        return
    assert message


@given(note=st.one_of(st.text(), st.binary(), CHECKPOINTISH))
def test_fuzz_open_checkpoint_raises_only_note_errors(note: str | bytes) -> None:
    try:
        open_checkpoint(note, [sumdb_verifier()], origin=SUMDB_ORIGIN)
    except NoteError as exc:
        message = str(exc)
    else:
        pytest.fail("random input opened as a checkpoint")
    assert message
