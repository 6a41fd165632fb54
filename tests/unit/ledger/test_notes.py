"""Tests of logging_audit.ledger.notes: C2SP signed notes with Ed25519.

Known-answer vectors live in tests/assets/vectors/c2sp/ (sources in its README.md);
malformed-input cases are named data below, several ported from golang.org/x/mod
sumdb/note/note_test.go.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.errors import NoteError
from logging_audit.ledger.notes import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    key_id,
    sign_note,
    verify_note,
)

VECTORS = Path(__file__).resolve().parents[2] / "assets" / "vectors" / "c2sp"
MANIFEST: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
KEYS: dict[str, dict[str, str]] = MANIFEST["keys"]
NOTES: list[dict[str, Any]] = MANIFEST["notes"]
SIGNED_NOTES = [n for n in NOTES if n["signed_by"]]
UNSIGNED_NOTES = [n for n in NOTES if not n["signed_by"]]
PRIVATE_KEYS = {name: key for name, key in KEYS.items() if "skey" in key}

EM = "\u2014"
SPEC_VKEY = KEYS["example.com/foo"]["vkey"]
PETER_VKEY = KEYS["PeterNeumann"]["vkey"]
PETER_SKEY = KEYS["PeterNeumann"]["skey"]
ENOCH_VKEY = KEYS["EnochRoot"]["vkey"]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"{EM} PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"{EM} EnochRoot {ENOCH_B64}\n"
PETER_DATA = PETER_VKEY.split("+", 2)[2]
PETER_SEED_DATA = PETER_SKEY.split("+", 4)[4]
SPEC_NOTE = (VECTORS / "signed-note-example.note").read_bytes().decode("utf-8")


def note_text(entry: dict[str, Any]) -> str:
    """The byte-exact note of a vector, as str."""
    return (VECTORS / str(entry["file"])).read_bytes().decode("utf-8")


def all_verifiers() -> list[NoteVerifier]:
    return [NoteVerifier.from_string(k["vkey"]) for k in KEYS.values()]


def verifier(name: str) -> NoteVerifier:
    return NoteVerifier.from_string(KEYS[name]["vkey"])


def splice(line: str, at: int, insert: str) -> str:
    """Insert ``insert`` at byte offset ``at`` of ``line`` (Go's tests index bytes)."""
    raw = line.encode("utf-8")
    return (raw[:at] + insert.encode("ascii") + raw[at:]).decode("utf-8")


# ---------------------------------------------------------------------------------------
# Known-answer vectors


@pytest.mark.parametrize("name", sorted(KEYS))
def test_verifier_key_vectors_parse_and_round_trip(name: str) -> None:
    vkey = KEYS[name]["vkey"]
    v = NoteVerifier.from_string(vkey)
    assert v.name == name
    assert v.key_id == int(vkey.split("+")[1], 16)
    assert len(v.public_key) == 32
    assert key_id(name, v.public_key) == v.key_id
    assert v.to_string() == vkey
    assert repr(v) == f"NoteVerifier({vkey!r})"


def test_spec_example_key_id_and_public_key() -> None:
    v = NoteVerifier.from_string(SPEC_VKEY)
    assert v.key_id == 0x530D903A
    assert base64.b64encode(b"\x01" + v.public_key).decode() == SPEC_VKEY.split("+", 2)[2]


@pytest.mark.parametrize("name", sorted(PRIVATE_KEYS))
def test_private_key_vectors_parse_and_round_trip(name: str) -> None:
    skey, vkey = PRIVATE_KEYS[name]["skey"], PRIVATE_KEYS[name]["vkey"]
    signer = NoteSigner.from_private_key_string(skey)
    assert signer.name == name
    assert signer.key_id == int(vkey.split("+")[1], 16)
    assert signer.private_key_string() == skey
    assert signer.verifier().to_string() == vkey
    assert len(signer.seed) == 32
    again = NoteSigner.from_seed(name, signer.seed)
    assert again.private_key_string() == skey


@pytest.mark.parametrize("entry", SIGNED_NOTES, ids=[n["file"] for n in SIGNED_NOTES])
def test_vector_notes_verify(entry: dict[str, Any]) -> None:
    raw = (VECTORS / entry["file"]).read_bytes()
    for note in (raw, raw.decode("utf-8")):
        opened = verify_note(note, all_verifiers())
        assert opened.text == entry["text"]
        assert [s.name for s in opened.signatures] == entry["signed_by"]
        assert [[s.name, f"{s.key_id:08x}"] for s in opened.unverified] == entry["unknown_signers"]
        for sig in opened.signatures:
            assert sig.key_id == verifier(sig.name).key_id
            assert len(sig.signature) == 64


@pytest.mark.parametrize("entry", UNSIGNED_NOTES, ids=[n["file"] for n in UNSIGNED_NOTES])
def test_vector_notes_from_unpublished_keys_are_rejected(entry: dict[str, Any]) -> None:
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        verify_note(note_text(entry), all_verifiers())


def test_spec_example_verifies_with_its_key_only() -> None:
    opened = verify_note(SPEC_NOTE, [NoteVerifier.from_string(SPEC_VKEY)])
    assert opened == Note(
        text="This is an example message.\n",
        signatures=(
            NoteSignature(
                name="example.com/foo",
                key_id=0x530D903A,
                signature=base64.b64decode(SPEC_NOTE.split(" ")[-1])[4:],
            ),
        ),
        unverified=(),
    )


def test_spec_example_text_split_at_last_blank_line() -> None:
    """The spec's opening example has an empty line inside its text."""
    entry = next(n for n in NOTES if n["file"] == "signed-note-quasimodo.note")
    signer = NoteSigner.generate("quasimodo.example/salvatore")
    resigned = sign_note(entry["text"], signer)
    assert verify_note(resigned, [signer.verifier()]).text == entry["text"]
    both = note_text(entry) + resigned.split("\n\n")[-1]
    opened = verify_note(both, [signer.verifier()])
    assert opened.text == entry["text"]
    assert [s.name for s in opened.unverified] == ["quasimodo.example/salvatore"]


@pytest.mark.parametrize(
    "entry",
    [n for n in NOTES if "reproduce_with" in n],
    ids=[n["file"] for n in NOTES if "reproduce_with" in n],
)
def test_signing_reproduces_vector_bytes(entry: dict[str, Any]) -> None:
    signers = [NoteSigner.from_private_key_string(KEYS[k]["skey"]) for k in entry["reproduce_with"]]
    assert (
        sign_note(entry["text"], signers).encode("utf-8") == (VECTORS / entry["file"]).read_bytes()
    )


def test_go_example_sign_and_raw_signature() -> None:
    signer = NoteSigner.from_private_key_string(PETER_SKEY)
    assert sign_note(GO_TEXT, signer) == GO_TEXT + "\n" + PETER_SIG
    raw = base64.b64decode(PETER_SIG.split(" ")[-1])
    assert raw[:4] == bytes.fromhex("c74f20a3")
    assert signer.sign(GO_TEXT.encode()) == raw[4:]
    assert signer.verifier().verify(GO_TEXT.encode(), raw[4:])


# ---------------------------------------------------------------------------------------
# Which signatures count (ported from Go's TestOpen, plus the spec's rules)


def test_two_signers_only_one_known() -> None:
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    peter = NoteSignature("PeterNeumann", 0xC74F20A3, base64.b64decode(PETER_SIG.split()[-1])[4:])
    enoch = NoteSignature("EnochRoot", 0xAF0CFE78, base64.b64decode(ENOCH_SIG.split()[-1])[4:])

    opened = verify_note(note, [NoteVerifier.from_string(PETER_VKEY)])
    assert (opened.text, opened.signatures, opened.unverified) == (GO_TEXT, (peter,), (enoch,))

    opened = verify_note(note, [NoteVerifier.from_string(ENOCH_VKEY)])
    assert (opened.signatures, opened.unverified) == ((enoch,), (peter,))

    opened = verify_note(note, [verifier("PeterNeumann"), verifier("EnochRoot")])
    assert (opened.signatures, opened.unverified) == ((peter, enoch), ())


def test_generated_two_signers_only_one_known() -> None:
    log, witness = NoteSigner.generate("log.example/a"), NoteSigner.generate("witness.example/w")
    note = sign_note("hello\n", [log, witness])
    opened = verify_note(note, [log.verifier()])
    assert [s.name for s in opened.signatures] == ["log.example/a"]
    assert [s.name for s in opened.unverified] == ["witness.example/w"]


@pytest.mark.parametrize("known", [[], [ENOCH_VKEY], [SPEC_VKEY]], ids=["none", "other", "spec"])
def test_unknown_signers_only_fail(known: list[str]) -> None:
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        verify_note(GO_TEXT + "\n" + PETER_SIG, [NoteVerifier.from_string(k) for k in known])


def test_verifiers_may_be_a_one_shot_iterator() -> None:
    opened = verify_note(SPEC_NOTE, iter([NoteVerifier.from_string(SPEC_VKEY)]))
    assert opened.text == "This is an example message.\n"


def test_invalid_signature_from_known_key_rejects_the_note() -> None:
    spliced = splice(PETER_SIG, 60, "ABCD")
    with pytest.raises(NoteError, match="invalid signature from known key PeterNeumann\\+c74f20a3"):
        verify_note(GO_TEXT + "\n" + spliced, [verifier("PeterNeumann")])


def test_invalid_known_signature_rejects_even_next_to_a_valid_one() -> None:
    spliced = splice(ENOCH_SIG, 60, "ABCD")
    note = GO_TEXT + "\n" + PETER_SIG + spliced
    with pytest.raises(NoteError, match="invalid signature from known key EnochRoot"):
        verify_note(note, [verifier("PeterNeumann"), verifier("EnochRoot")])


def test_duplicated_verified_and_unverified_signatures() -> None:
    enoch_abcd = splice(ENOCH_SIG, 60, "ABCD")
    note = GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = verify_note(note, [verifier("PeterNeumann")])
    assert [s.name for s in opened.signatures] == ["PeterNeumann"]
    assert [s.name for s in opened.unverified] == ["EnochRoot", "EnochRoot"]
    assert opened.unverified[1].signature == base64.b64decode(enoch_abcd.split()[-1])[4:]


def test_unknown_key_sharing_only_name_or_only_id_is_ignored() -> None:
    spec = NoteVerifier.from_string(SPEC_VKEY)
    other_id = base64.b64encode((1).to_bytes(4, "big") + bytes(64)).decode()
    spec_id = base64.b64encode(spec.key_id.to_bytes(4, "big") + bytes(64)).decode()
    same_name = f"{EM} example.com/foo {other_id}\n"
    same_id = f"{EM} example.com/bar {spec_id}\n"
    opened = verify_note(SPEC_NOTE + same_name + same_id, [spec])
    assert [s.name for s in opened.signatures] == ["example.com/foo"]
    assert [(s.name, s.key_id) for s in opened.unverified] == [
        ("example.com/foo", 1),
        ("example.com/bar", spec.key_id),
    ]


def test_ambiguous_known_keys_are_refused() -> None:
    real = NoteVerifier.from_string(SPEC_VKEY)
    impostor = NoteSigner.generate("example.com/foo").verifier()
    # A 32-bit key ID collision takes ~2**32 tries to find; forge one instead.
    impostor._key_id = real.key_id
    with pytest.raises(NoteError, match=r"ambiguous key example\.com/foo\+530d903a"):
        verify_note(SPEC_NOTE, [real, impostor])
    # The same key given twice is not ambiguous.
    assert verify_note(SPEC_NOTE, [real, NoteVerifier.from_string(SPEC_VKEY)]).signatures


def test_signature_limit() -> None:
    peter = [verifier("PeterNeumann")]
    assert len(verify_note(GO_TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, peter).signatures) == 1
    for known in (peter, []):
        with pytest.raises(NoteError, match="at most 100"):
            verify_note(GO_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), known)


def test_sixteen_distinct_signatures_are_accepted() -> None:
    signers = [NoteSigner.from_seed(f"k{i}.example", bytes([i]) * 32) for i in range(16)]
    note = sign_note("sixteen\n", signers)
    opened = verify_note(note, [s.verifier() for s in signers])
    assert [s.name for s in opened.signatures] == [f"k{i}.example" for i in range(16)]


# ---------------------------------------------------------------------------------------
# Malformed notes: each names what is wrong

GO_BAD_MESSAGES: list[tuple[str, str | bytes, str]] = [
    ("text-only", GO_TEXT, "no blank line"),
    ("blank-line-no-signatures", GO_TEXT + "\n", "no signature lines"),
    ("no-final-newline", GO_TEXT + "\n" + PETER_SIG[:-1], "does not end with a newline"),
    ("control-char", "\x01" + GO_TEXT + "\n" + PETER_SIG, "control character U\\+0001"),
    ("invalid-utf8", b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), "not valid UTF-8"),
    (
        "space-in-name",
        GO_TEXT + "\n" + f"{EM} Bad Name {PETER_B64}",
        "does not end with a newline",
    ),
    (
        "space-in-name-terminated",
        GO_TEXT + "\n" + f"{EM} Bad Name {PETER_B64}\n",
        "signature line 1 is not valid base64",
    ),
    (
        "unexpected-line",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        "signature line 2 does not start",
    ),
]

SPEC_LINE = SPEC_NOTE.split("\n\n")[1]
SPEC_B64 = SPEC_LINE.split()[-1]
SPEC_BODY = "This is an example message.\n"

MALFORMED_NOTES: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "no blank line"),
    ("empty-bytes", b"", "no blank line"),
    ("only-newlines", "\n\n", "no signature lines"),
    ("crlf", SPEC_NOTE.replace("\n", "\r\n"), "control character U\\+000D"),
    ("tab-in-text", "a\tb\n\n" + SPEC_LINE, "control character U\\+0009"),
    ("nul-in-signature-block", SPEC_NOTE[:-1] + "\x00\n", "control character U\\+0000"),
    ("lone-surrogate", "a\ud800\n\n" + SPEC_LINE, "not valid UTF-8"),
    ("overlong-utf8", b"\xc0\xaf\n\n" + SPEC_LINE.encode(), "not valid UTF-8"),
    ("encoded-surrogate", b"\xed\xa0\x80\n\n" + SPEC_LINE.encode(), "not valid UTF-8"),
    ("hyphen-not-em-dash", SPEC_BODY + "\n- example.com/foo " + SPEC_B64 + "\n", "em dash"),
    ("en-dash", SPEC_BODY + "\n\u2013 example.com/foo " + SPEC_B64 + "\n", "em dash"),
    ("no-space-after-dash", SPEC_BODY + f"\n{EM}example.com/foo " + SPEC_B64 + "\n", "em dash"),
    ("leading-space", SPEC_BODY + f"\n {EM} example.com/foo " + SPEC_B64 + "\n", "em dash"),
    ("no-signature", SPEC_BODY + f"\n{EM} example.com/foo\n", "no signature after the key name"),
    ("empty-signature", SPEC_BODY + f"\n{EM} example.com/foo \n", "no signature after"),
    ("empty-name", SPEC_BODY + f"\n{EM}  " + SPEC_B64 + "\n", "key name must not be empty"),
    ("plus-in-name", SPEC_BODY + f"\n{EM} example.com+foo " + SPEC_B64 + "\n", "contains '\\+'"),
    (
        "nbsp-in-name",
        SPEC_BODY + f"\n{EM} example.com\u00a0foo " + SPEC_B64 + "\n",
        "whitespace U\\+00A0",
    ),
    (
        "ideographic-space-in-name",
        SPEC_BODY + f"\n{EM} example.com\u3000foo " + SPEC_B64 + "\n",
        "whitespace U\\+3000",
    ),
    ("double-space", SPEC_BODY + f"\n{EM} example.com/foo  " + SPEC_B64 + "\n", "not valid base64"),
    ("trailing-space", SPEC_NOTE[:-1] + " \n", "not valid base64"),
    ("bad-base64-chars", SPEC_BODY + f"\n{EM} example.com/foo !!!!\n", "not valid base64"),
    ("url-safe-base64", SPEC_BODY + f"\n{EM} example.com/foo -_-_\n", "not valid base64"),
    ("unpadded-base64", SPEC_NOTE[:-2] + "\n", "not valid base64"),
    ("extra-padding", SPEC_NOTE[:-1] + "=\n", "not valid base64"),
    ("non-canonical-base64", SPEC_NOTE[:-3] + "N=\n", "not canonical base64"),
    ("key-id-only", SPEC_BODY + f"\n{EM} example.com/foo Uw2QOg==\n", "decodes to 4 bytes"),
    ("space-in-signature", SPEC_BODY + f"\n{EM} example.com/foo U w2Q\n", "not valid base64"),
    ("three-bytes-b64", SPEC_BODY + f"\n{EM} example.com/foo Uw2Q\n", "decodes to 3 bytes"),
    ("blank-line-between-signatures", SPEC_NOTE + "\n" + SPEC_LINE, "invalid signature"),
]


@pytest.mark.parametrize(
    ("note", "message"),
    [(n, m) for _, n, m in GO_BAD_MESSAGES + MALFORMED_NOTES],
    ids=[i for i, _, _ in GO_BAD_MESSAGES + MALFORMED_NOTES],
)
def test_malformed_notes_are_rejected(note: str | bytes, message: str) -> None:
    known = [verifier("PeterNeumann"), NoteVerifier.from_string(SPEC_VKEY)]
    with pytest.raises(NoteError, match=message):
        verify_note(note, known)


def test_malformed_signature_line_from_unknown_key_is_still_malformed() -> None:
    with pytest.raises(NoteError, match="not valid base64"):
        verify_note(
            SPEC_NOTE + f"{EM} other.example/x AAAA!\n", [NoteVerifier.from_string(SPEC_VKEY)]
        )


# ---------------------------------------------------------------------------------------
# Keys: parsing is strict (ported from Go's TestNewVerifier / TestNewSigner)


def _manglings(key: str) -> set[str]:
    """Every proper substring of ``key`` and every one-character increment of it."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i, len(key) + 1)}
    out |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    out.discard(key)
    return out


def test_every_mangled_verifier_key_is_rejected() -> None:
    for bad in sorted(_manglings(PETER_VKEY)):
        with pytest.raises(NoteError):
            NoteVerifier.from_string(bad)


def test_every_mangled_private_key_is_rejected() -> None:
    for bad in sorted(_manglings(PETER_SKEY)):
        with pytest.raises(NoteError):
            NoteSigner.from_private_key_string(bad)


BAD_VERIFIER_KEYS: list[tuple[str, str, str]] = [
    (
        "go-wrong-length-adjusted-id",
        f"PeterNeumann+cc469956+{PETER_DATA}BADKEY==",
        "verifier key data is not canonical base64",
    ),
    (
        "go-unknown-algorithm-adjusted-id",
        f"PeterNeumann+173116ae+Z{PETER_DATA[1:]}",
        "signature type 0x65",
    ),
    ("empty", "", "no '\\+' after the name"),
    ("name-only", "PeterNeumann", "no '\\+' after the name"),
    ("no-key-data", "PeterNeumann+c74f20a3", "no '\\+' after the key ID"),
    ("empty-key-data", "PeterNeumann+c74f20a3+", "verifier key data is empty"),
    (
        "short-key",
        f"PeterNeumann+c74f20a3+{PETER_DATA[:-4]}AAA=",
        "verifier key data must be 1 \\+ 32 bytes, got 32",
    ),
    ("empty-name", f"+c74f20a3+{PETER_DATA}", "must not be empty"),
    ("space-in-name", f"Peter Neumann+c74f20a3+{PETER_DATA}", "whitespace"),
    ("short-id", f"PeterNeumann+c74f20a+{PETER_DATA}", "8 hexadecimal"),
    ("long-id", f"PeterNeumann+c74f20a30+{PETER_DATA}", "8 hexadecimal"),
    ("0x-id", f"PeterNeumann+0x4f20a3+{PETER_DATA}", "8 hexadecimal"),
    ("signed-id", f"PeterNeumann+-74f20a3+{PETER_DATA}", "8 hexadecimal"),
    ("underscore-id", f"PeterNeumann+c74f_0a3+{PETER_DATA}", "8 hexadecimal"),
    ("unicode-digit-id", f"PeterNeumann+c74f20a\u0663+{PETER_DATA}", "8 hexadecimal"),
    ("wrong-id", f"PeterNeumann+c74f20a4+{PETER_DATA}", "does not match"),
    ("wrong-name", f"PeterNeuman+c74f20a3+{PETER_DATA}", "does not match"),
    ("unpadded", f"PeterNeumann+c74f20a3+{PETER_DATA[:-1]}", "not valid base64"),
    ("trailing-newline", PETER_VKEY + "\n", "not valid base64"),
]


@pytest.mark.parametrize(
    ("vkey", "message"),
    [(k, m) for _, k, m in BAD_VERIFIER_KEYS],
    ids=[i for i, _, _ in BAD_VERIFIER_KEYS],
)
def test_bad_verifier_keys_are_rejected(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        NoteVerifier.from_string(vkey)


def test_private_key_is_not_accepted_as_verifier_key() -> None:
    with pytest.raises(NoteError, match="8 hexadecimal"):
        NoteVerifier.from_string(PETER_SKEY)


def test_uppercase_key_id_is_accepted_like_go_and_written_lowercase() -> None:
    upper = PETER_VKEY.replace("c74f20a3", "C74F20A3")
    assert NoteVerifier.from_string(upper).to_string() == PETER_VKEY


BAD_PRIVATE_KEYS: list[tuple[str, str, str]] = [
    ("empty", "", "must start with 'PRIVATE\\+KEY\\+'"),
    ("lowercase-prefix", PETER_SKEY.replace("PRIVATE+KEY", "private+key"), "must start with"),
    ("verifier-key", PETER_VKEY, "must start with"),
    (
        "wrong-id",
        PETER_SKEY.replace("c74f20a3", "c74f20a4"),
        "private key ID c74f20a4 does not match",
    ),
    ("wrong-name", PETER_SKEY.replace("PeterNeumann", "PeterNeuman"), "does not match"),
    (
        "short-seed",
        f"PRIVATE+KEY+PeterNeumann+c74f20a3+{PETER_SEED_DATA[:-4]}KA==",
        "1 \\+ 32 bytes",
    ),
    (
        "other-type",
        f"PRIVATE+KEY+PeterNeumann+c74f20a3+Ao{PETER_SEED_DATA[2:]}",
        "signature type 0x02",
    ),
]


@pytest.mark.parametrize(
    ("skey", "message"),
    [(k, m) for _, k, m in BAD_PRIVATE_KEYS],
    ids=[i for i, _, _ in BAD_PRIVATE_KEYS],
)
def test_bad_private_keys_are_rejected(skey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message) as info:
        NoteSigner.from_private_key_string(skey)
    assert "AYEKFALVFGyNhPJEMzD1QIDr" not in str(info.value)


INVALID_NAMES = [
    "",
    "a b",
    "a+b",
    "a\tb",
    "a\nb",
    "a\x01b",
    "a\x85b",
    "a\u00a0b",
    "a\u1680b",
    "a\u2003b",
    "a\u2028b",
    "a\u202fb",
    "a\u3000b",
    "a\ud800b",
]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=[repr(n) for n in INVALID_NAMES])
def test_invalid_key_names_are_rejected(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        NoteSigner.from_seed(name, bytes(32))
    with pytest.raises(NoteError, match="key name"):
        NoteVerifier(name, bytes(32))
    with pytest.raises(NoteError, match="key name"):
        key_id(name, bytes(32))


@pytest.mark.parametrize("name", ["a", "example.com/log42", "ünï/名前", "a\u200bb", "x=y@z"])
def test_unusual_valid_key_names(name: str) -> None:
    signer = NoteSigner.from_seed(name, bytes(range(32)))
    again = NoteSigner.from_private_key_string(signer.private_key_string())
    assert again.name == name
    assert NoteVerifier.from_string(signer.verifier().to_string()) == signer.verifier()
    note = sign_note("text\n", signer)
    assert verify_note(note, [signer.verifier()]).signatures[0].name == name


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_seed_and_public_key_sizes(size: int) -> None:
    with pytest.raises(NoteError, match="seed must be 32 bytes"):
        NoteSigner.from_seed("a", bytes(size))
    with pytest.raises(NoteError, match="public key must be 32 bytes"):
        NoteVerifier("a", bytes(size))
    with pytest.raises(NoteError, match="public key must be 32 bytes"):
        key_id("a", bytes(size))


def test_signer_repr_hides_the_key() -> None:
    signer = NoteSigner.from_private_key_string(PETER_SKEY)
    assert repr(signer) == "NoteSigner(name='PeterNeumann', key_id=c74f20a3)"
    assert "AYEKF" not in repr(signer)
    assert signer.seed.hex() not in repr(signer)


def test_generated_keys_differ_and_work() -> None:
    a, b = NoteSigner.generate("a.example"), NoteSigner.generate("a.example")
    assert a.seed != b.seed
    assert a.key_id != b.key_id
    assert a.verifier().verify(b"m", a.sign(b"m"))
    assert not b.verifier().verify(b"m", a.sign(b"m"))


def test_verify_rejects_wrong_signature_lengths() -> None:
    signer = NoteSigner.generate("a.example")
    sig = signer.sign(b"m")
    v = signer.verifier()
    assert v.verify(b"m", sig)
    for bad in (b"", sig[:-1], sig + b"\x00", bytes(64)):
        assert not v.verify(b"m", bad)


def test_verifier_equality_and_hash() -> None:
    a = NoteVerifier.from_string(SPEC_VKEY)
    b = NoteVerifier.from_string(SPEC_VKEY)
    assert a == b
    assert hash(a) == hash(b)
    assert a != NoteVerifier.from_string(PETER_VKEY)
    assert a != SPEC_VKEY


# ---------------------------------------------------------------------------------------
# Signing


def test_sign_note_requires_final_newline() -> None:
    with pytest.raises(NoteError, match="must end with a newline"):
        sign_note("abc", NoteSigner.generate("a"))
    with pytest.raises(NoteError, match="must end with a newline"):
        sign_note("", NoteSigner.generate("a"))


@pytest.mark.parametrize("text", ["a\rb\n", "a\x00\n", "\x1b[31m\n", "a\ud800\n"])
def test_sign_note_refuses_text_it_could_not_verify(text: str) -> None:
    with pytest.raises(NoteError, match=r"control character|UTF-8"):
        sign_note(text, NoteSigner.generate("a"))


def test_sign_note_signer_counts() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("a\n", [])
    signers = [NoteSigner.from_seed(f"k{i}", bytes([i]) * 32) for i in range(MAX_SIGNATURES + 1)]
    with pytest.raises(NoteError, match="at most 100"):
        sign_note("a\n", signers)
    assert sign_note("a\n", signers[:-1]).count("\n") == 2 + MAX_SIGNATURES


def test_sign_note_keeps_order_and_drops_repeated_key() -> None:
    a, b = NoteSigner.generate("a.example"), NoteSigner.generate("b.example")
    note = sign_note("x\n", (b, a, NoteSigner.from_seed("b.example", b.seed)))
    names = [line.split()[1] for line in note.split("\n\n")[1].splitlines()]
    assert names == ["b.example", "a.example"]


def test_sign_note_refuses_colliding_signers() -> None:
    real = NoteSigner.generate("a.example")
    impostor = NoteSigner.generate("a.example")
    impostor._key_id = real.key_id  # forged collision, see above
    with pytest.raises(NoteError, match="share the key"):
        sign_note("x\n", [real, impostor])


@pytest.mark.parametrize("text", ["\n", "\n\n", "a\n\nb\n", "a\n\n\n", "ends with blank\n\n"])
def test_texts_with_empty_lines_round_trip(text: str) -> None:
    signer = NoteSigner.generate("a.example")
    assert verify_note(sign_note(text, signer), [signer.verifier()]).text == text


# ---------------------------------------------------------------------------------------
# Property tests

NAME_CHARS = st.characters(
    exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="+"
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=24)
TEXT_CHARS = st.characters(
    exclude_categories=["Cs"],
    exclude_characters="".join(chr(c) for c in range(0x20) if c != 0x0A),
)
TEXTS = st.text(TEXT_CHARS, max_size=200).map(lambda t: t + "\n")
SEEDS = st.binary(min_size=32, max_size=32)


@settings(deadline=None)
@given(text=TEXTS, keys=st.lists(st.tuples(NAMES, SEEDS), min_size=1, max_size=3))
def test_round_trip(text: str, keys: list[tuple[str, bytes]]) -> None:
    signers = [NoteSigner.from_seed(name, seed) for name, seed in keys]
    note = sign_note(text, signers)
    assert note.startswith(text + "\n")
    distinct = {(s.name, s.key_id) for s in signers}
    opened = verify_note(note.encode("utf-8"), [s.verifier() for s in signers])
    assert opened.text == text
    assert {(s.name, s.key_id) for s in opened.signatures} == distinct
    assert opened.unverified == ()
    for s in signers:
        assert NoteSigner.from_private_key_string(s.private_key_string()).seed == s.seed
        assert NoteVerifier.from_string(s.verifier().to_string()) == s.verifier()


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("entry", SIGNED_NOTES, ids=[n["file"] for n in SIGNED_NOTES])
def test_every_bit_flip_of_a_vector_note_fails(entry: dict[str, Any]) -> None:
    raw = (VECTORS / entry["file"]).read_bytes()
    known = all_verifiers()
    for bit in range(len(raw) * 8):
        try:
            opened = verify_note(_flip(raw, bit), known)
        except NoteError:
            continue
        # A note signed by several known keys still verifies when a flip in one
        # line's key name or key ID turns that line into an unknown key's, which
        # the spec says to ignore; the other signatures still cover the same text.
        assert len(entry["signed_by"]) > 1, f"bit {bit} flipped and the note still verified"
        assert opened.text == entry["text"]
        assert len(opened.signatures) == len(entry["signed_by"]) - 1
        assert len(opened.unverified) == 1


@settings(deadline=None)
@given(text=TEXTS, seed=SEEDS, data=st.data())
def test_any_bit_flip_of_a_signed_note_fails(text: str, seed: bytes, data: st.DataObject) -> None:
    signer = NoteSigner.from_seed("flip.example/log", seed)
    raw = sign_note(text, signer).encode("utf-8")
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    with pytest.raises(NoteError):
        verify_note(_flip(raw, bit), [signer.verifier()])


@settings(deadline=None)
@given(text=TEXTS, seed=SEEDS, bit=st.integers(0, 64 * 8 - 1))
def test_any_bit_flip_of_a_raw_signature_fails(text: str, seed: bytes, bit: int) -> None:
    signer = NoteSigner.from_seed("flip.example/log", seed)
    message = text.encode("utf-8")
    signature = signer.sign(message)
    assert signer.verifier().verify(message, signature)
    assert not signer.verifier().verify(message, _flip(signature, bit))


@settings(deadline=None)
@given(text=TEXTS, seed=SEEDS, bit=st.integers(min_value=0))
def test_any_bit_flip_of_the_text_fails(text: str, seed: bytes, bit: int) -> None:
    signer = NoteSigner.from_seed("flip.example/log", seed)
    note = sign_note(text, signer)
    raw_text = text.encode("utf-8")
    flipped = _flip(raw_text, bit % (len(raw_text) * 8))
    with pytest.raises(NoteError):
        verify_note(flipped + note.encode("utf-8")[len(raw_text) :], [signer.verifier()])


def _only_note_errors(call: Any, *args: Any) -> None:
    """Call; any exception other than a NoteError with a message fails the test."""
    try:
        call(*args)
    except NoteError as exc:
        message = str(exc)
    else:
        return
    assert message


NOTE_ALPHABET = st.sampled_from(
    ["\n", "\n\n", EM, " ", f"{EM} ", "+", "=", "A", "/", "a", "0", "é", "\x00", "\r", "\ud800"]
)
NOTEISH = st.lists(st.one_of(NOTE_ALPHABET, st.text(max_size=5)), max_size=30).map("".join)


@given(note=st.one_of(st.text(), st.binary(), NOTEISH))
def test_fuzz_verify_note_raises_only_note_error(note: str | bytes) -> None:
    _only_note_errors(verify_note, note, [NoteVerifier.from_string(SPEC_VKEY)])


@given(data=st.data())
def test_fuzz_mutated_spec_note(data: st.DataObject) -> None:
    raw = bytearray(SPEC_NOTE.encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        pos = data.draw(st.integers(0, len(raw)), label="pos")
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]), label="op")
        byte = data.draw(st.integers(0, 255), label="byte")
        if op == "insert":
            raw.insert(pos, byte)
        elif pos < len(raw):
            if op == "delete":
                del raw[pos]
            else:
                raw[pos] = byte
    try:
        opened = verify_note(bytes(raw), [NoteVerifier.from_string(SPEC_VKEY)])
    except NoteError:
        return
    assert opened.text == SPEC_BODY  # only an edit that changed nothing may verify


KEYISH = st.lists(
    st.one_of(
        st.sampled_from(
            ["PRIVATE+KEY+", "+", "c74f20a3", "530d903a", "A", "=", "/", " ", "\ud800"]
        ),
        st.text(max_size=6),
    ),
    max_size=12,
).map("".join)


@given(s=st.one_of(st.text(), KEYISH))
def test_fuzz_key_parsers_raise_only_note_error(s: str) -> None:
    _only_note_errors(NoteVerifier.from_string, s)
    _only_note_errors(NoteSigner.from_private_key_string, s)
    _only_note_errors(NoteSigner.from_private_key_string, "PRIVATE+KEY+" + s)


@given(
    name=st.text(max_size=8),
    data=st.binary(max_size=40),
    hex_id=st.text("0123456789abcdefABCDEF+", max_size=9),
)
def test_fuzz_structured_verifier_keys(name: str, data: bytes, hex_id: str) -> None:
    vkey = f"{name}+{hex_id}+{base64.b64encode(data).decode()}"
    _only_note_errors(NoteVerifier.from_string, vkey)
    _only_note_errors(NoteSigner.from_private_key_string, "PRIVATE+KEY+" + vkey)
