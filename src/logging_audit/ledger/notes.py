"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

A signed note is a UTF-8 text ending in a newline, a blank line, then one or
more signature lines::

    This is an example message.

    — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E...yaQM=

Each signature line is an em dash (U+2014), a space, the key name, a space and
``base64(4-byte big-endian key ID || Ed25519 signature over the text)``.

Keys are written the way golang.org/x/mod/sumdb/note writes them:

* verifier key: ``<name>+<8 hex digits of the key ID>+base64(0x01 || public key)``
* signer key: ``PRIVATE+KEY+<name>+<8 hex digits>+base64(0x01 || 32-byte seed)``

with key ID = the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).

Everything here is pure: no file or network I/O. Every failure to parse or
verify untrusted input raises :class:`~logging_audit.errors.NoteError` with a
message that says what is wrong; no ``ValueError``, ``binascii.Error`` or
``UnicodeError`` escapes. Error messages never contain private key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from logging_audit.errors import NoteError

__all__ = [
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "key_id",
    "sign_note",
    "verify_note",
]

#: Signature type identifier byte of Ed25519 in the signed-note spec.
SIGNATURE_TYPE_ED25519 = 0x01

#: Most signature lines a note may carry. The spec requires accepting at least
#: 16; golang.org/x/mod/sumdb/note rejects more than 100, and so do we.
MAX_SIGNATURES = 100

_ED25519_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_KEY_ID_SIZE = 4
_SIGNATURE_PREFIX = "\u2014 "
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
# ASCII control characters a note must not contain: everything below U+0020 but newline.
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
# The Unicode White_Space property (PropList.txt), which is what Go's
# unicode.IsSpace tests and what the spec means by "Unicode spaces".
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_SHOW_LIMIT = 64


def _show(value: str) -> str:
    """Quote an untrusted string for an error message, cut to a readable length."""
    if len(value) > _SHOW_LIMIT:
        return repr(value[:_SHOW_LIMIT]) + "..."
    return repr(value)


def _check_name(name: str) -> None:
    """Raise NoteError unless ``name`` is a valid key name.

    The spec requires a non-empty name without Unicode spaces or ``+``. We also
    refuse ASCII control characters and lone surrogates, which could never
    appear in a valid note.
    """
    if not name:
        raise NoteError("key name must not be empty")
    for ch in name:
        if ch in _WHITE_SPACE:
            raise NoteError(f"key name {_show(name)} contains whitespace U+{ord(ch):04X}")
        if ch == "+":
            raise NoteError(f"key name {_show(name)} contains '+'")
        if ch < " ":
            raise NoteError(f"key name {_show(name)} contains control character U+{ord(ch):04X}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"key name {_show(name)} is not valid UTF-8") from exc


def _b64decode_canonical(data: str, what: str, error: type[NoteError] = NoteError) -> bytes:
    """Decode standard, padded base64 and insist on its one canonical spelling.

    Refusing non-canonical spellings (stray padding bits, missing padding,
    characters outside the alphabet) keeps parsing byte-exact: a note or key
    has exactly one textual form, and a flipped bit never decodes to the same
    bytes. ``what`` names the field in the error message; ``error`` is the
    exception class to raise.
    """
    if len(data) % 4 or data.endswith("==="):
        # Checked here because Python 3.10 decodes some excess padding that 3.11 refuses.
        raise error(f"{what} is not valid base64")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise error(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != data:
        raise error(f"{what} is not canonical base64")
    return raw


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id(name: str, public_key: bytes) -> int:
    """Return the key ID of an Ed25519 note key, as a big-endian integer.

    Key ID = the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).

    Raises:
        NoteError: the name is not a valid key name or the key is not 32 bytes.
    """
    _check_name(name)
    if len(public_key) != _ED25519_KEY_SIZE:
        raise NoteError(
            f"Ed25519 public key must be {_ED25519_KEY_SIZE} bytes, got {len(public_key)}"
        )
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_ED25519]) + bytes(public_key)
    ).digest()
    return int.from_bytes(digest[:_KEY_ID_SIZE], "big")


def _split_key(text: str, what: str) -> tuple[str, int, bytes]:
    """Split ``<name>+<hex id>+<base64(0x01 || key)>`` and check each part.

    Returns the name, the key ID and the 32 key bytes (without the type byte).
    The base64 part may itself contain ``+``; name and ID may not.
    """
    name, sep, rest = text.partition("+")
    if not sep:
        raise NoteError(f"{what} must be <name>+<key id>+<key data>: no '+' after the name")
    hex_id, sep, data = rest.partition("+")
    if not sep:
        raise NoteError(f"{what} must be <name>+<key id>+<key data>: no '+' after the key ID")
    _check_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteError(f"{what} key ID must be exactly 8 hexadecimal digits")
    raw = _b64decode_canonical(data, f"{what} data")
    if not raw:
        raise NoteError(f"{what} data is empty")
    if raw[0] != SIGNATURE_TYPE_ED25519:
        raise NoteError(
            f"{what} has signature type 0x{raw[0]:02x}; only Ed25519 (0x01) is supported"
        )
    if len(raw) != 1 + _ED25519_KEY_SIZE:
        raise NoteError(f"{what} data must be 1 + {_ED25519_KEY_SIZE} bytes, got {len(raw)}")
    return name, int(hex_id, 16), raw[1:]


class NoteVerifier:
    """An Ed25519 public key with its name: checks signatures of one key.

    Build one from a verifier key string with :meth:`from_string`, or from a
    name and a raw 32-byte public key with the constructor.
    """

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, public_key: bytes) -> None:
        """Create a verifier for ``public_key`` (32 raw bytes) under ``name``.

        Raises:
            NoteError: invalid name or public key.
        """
        public_key = bytes(public_key)
        self._key_id = key_id(name, public_key)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise NoteError("invalid Ed25519 public key") from exc
        self._name = name
        self._public_key = public_key

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 4-byte key ID as a big-endian integer."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @classmethod
    def from_string(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key ``<name>+<hex key id>+base64(0x01 || public key)``.

        The key ID must be the one the name and key hash to, so a key cannot be
        passed off under another name.

        Raises:
            NoteError: the string is malformed, of another signature type, or
                its key ID does not match its name and key.
        """
        name, claimed_id, public_key = _split_key(vkey, "verifier key")
        verifier = cls(name, public_key)
        if verifier.key_id != claimed_id:
            raise NoteError(
                f"verifier key ID {claimed_id:08x} does not match its name and key "
                f"(expected {verifier.key_id:08x})"
            )
        return verifier

    def to_string(self) -> str:
        """Return the verifier key string, as golang.org/x/mod/sumdb/note writes it."""
        data = _b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self._public_key)
        return f"{self._name}+{self._key_id:08x}+{data}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Report whether ``signature`` (64 raw bytes) is this key's signature of ``message``."""
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(bytes(signature), bytes(message))
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoteVerifier):
            return NotImplemented
        return (self._name, self._public_key) == (other._name, other._public_key)

    def __hash__(self) -> int:
        return hash((self._name, self._public_key))

    def __repr__(self) -> str:
        return f"NoteVerifier({self.to_string()!r})"


class NoteSigner:
    """An Ed25519 private key with its name: signs notes.

    The repr never shows the key; :meth:`private_key_string` and :attr:`seed`
    are the only ways to get it out.
    """

    __slots__ = ("_key", "_key_id", "_name", "_public_key")

    def __init__(self, name: str, seed: bytes) -> None:
        """Create a signer from a 32-byte Ed25519 seed (RFC 8032 private key).

        Raises:
            NoteError: invalid name or seed.
        """
        _check_name(name)
        if len(seed) != _ED25519_KEY_SIZE:
            raise NoteError(f"Ed25519 seed must be {_ED25519_KEY_SIZE} bytes, got {len(seed)}")
        try:
            self._key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        except ValueError as exc:
            raise NoteError("invalid Ed25519 seed") from exc
        self._public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._name = name
        self._key_id = key_id(name, self._public_key)

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 4-byte key ID as a big-endian integer."""
        return self._key_id

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """Create a signer with a fresh random key.

        Raises:
            NoteError: invalid name.
        """
        seed = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        return cls(name, seed)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """Create a signer from a 32-byte Ed25519 seed.

        Raises:
            NoteError: invalid name or seed.
        """
        return cls(name, seed)

    @classmethod
    def from_private_key_string(cls, s: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || seed)``.

        This is the signer key format of golang.org/x/mod/sumdb/note. The key ID
        must match the name and the public key derived from the seed.

        Raises:
            NoteError: the string is malformed or its key ID does not match.
        """
        if not s.startswith(_PRIVATE_KEY_PREFIX):
            raise NoteError(f"private key string must start with {_PRIVATE_KEY_PREFIX!r}")
        name, claimed_id, seed = _split_key(s[len(_PRIVATE_KEY_PREFIX) :], "private key")
        signer = cls(name, seed)
        if signer.key_id != claimed_id:
            raise NoteError(
                f"private key ID {claimed_id:08x} does not match its name and key "
                f"(expected {signer.key_id:08x})"
            )
        return signer

    def private_key_string(self) -> str:
        """Return the key as ``PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || seed)``.

        Anyone holding this string can sign as this key: keep it secret.
        """
        data = _b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self.seed)
        return f"{_PRIVATE_KEY_PREFIX}{self._name}+{self._key_id:08x}+{data}"

    @property
    def seed(self) -> bytes:
        """The raw 32-byte Ed25519 seed. Secret."""
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature of ``message`` (deterministic)."""
        return self._key.sign(bytes(message))

    def verifier(self) -> NoteVerifier:
        """Return the verifier for this signer's public key."""
        return NoteVerifier(self._name, self._public_key)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self._name!r}, key_id={self._key_id:08x})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note.

    ``signature`` holds the signature bytes after the 4-byte key ID (64 bytes
    for Ed25519; any length of at least one byte for signatures from unknown keys).
    """

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """An opened note: its text and who signed it.

    ``signatures`` are the signatures verified by a known key; ``unverified``
    are those from keys the caller did not supply, which were not checked.
    """

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def _check_text_chars(text: str, what: str) -> None:
    """Raise NoteError if ``text`` holds a forbidden control character or a lone surrogate."""
    bad = _FORBIDDEN_CONTROL.search(text)
    if bad is not None:
        raise NoteError(
            f"{what} contains control character U+{ord(bad.group()):04X} at offset {bad.start()}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8 (lone surrogate)") from exc


def _signer_list(signer: NoteSigner | Sequence[NoteSigner]) -> tuple[NoteSigner, ...]:
    signers = (signer,) if isinstance(signer, NoteSigner) else tuple(signer)
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return signers


def sign_note(text: str, signer: NoteSigner | Sequence[NoteSigner]) -> str:
    """Sign ``text`` with one or more keys and return the signed note.

    The result is ``text + "\\n"`` followed by one signature line per distinct
    key, in the order given. ``text`` must end with a newline and must not
    contain ASCII control characters other than newline.

    Raises:
        NoteError: the text is not a valid note text, no signer was given, or
            two different keys share a name and key ID.
    """
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_text_chars(text, "note text")
    message = text.encode("utf-8")
    keys: dict[tuple[str, int], NoteVerifier] = {}
    lines: list[str] = []
    for one in _signer_list(signer):
        ident = (one.name, one.key_id)
        verifier = one.verifier()
        if ident in keys:
            if keys[ident] != verifier:
                raise NoteError(f"two different signers share the key {one.name}+{one.key_id:08x}")
            continue
        keys[ident] = verifier
        raw = one.key_id.to_bytes(_KEY_ID_SIZE, "big") + one.sign(message)
        lines.append(f"{_SIGNATURE_PREFIX}{one.name} {_b64encode(raw)}\n")
    return text + "\n" + "".join(lines)


def _note_as_text(note: str | bytes) -> str:
    """Return the note as str, checking it is UTF-8 without forbidden control characters."""
    if isinstance(note, str):
        text = note
    else:
        try:
            text = bytes(note).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"note is not valid UTF-8 (at byte {exc.start})") from exc
    _check_text_chars(text, "note")
    return text


def _parse_signature_line(number: int, line: str) -> NoteSignature:
    where = f"signature line {number}"
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"{where} does not start with an em dash (U+2014) and a space")
    name, sep, data = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not data:
        raise NoteError(f"{where} has no signature after the key name")
    try:
        _check_name(name)
    except NoteError as exc:
        raise NoteError(f"{where}: {exc}") from exc
    raw = _b64decode_canonical(data, where)
    if len(raw) <= _KEY_ID_SIZE:
        raise NoteError(
            f"{where} decodes to {len(raw)} bytes; need a 4-byte key ID and a signature"
        )
    return NoteSignature(
        name=name,
        key_id=int.from_bytes(raw[:_KEY_ID_SIZE], "big"),
        signature=raw[_KEY_ID_SIZE:],
    )


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """Split a note into its text and its signature lines (without newlines)."""
    text = _note_as_text(note)
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line between its text and its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines after the blank line")
    if not block.endswith("\n"):
        raise NoteError("note does not end with a newline after its last signature line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(
            f"note has {len(lines)} signature lines; at most {MAX_SIGNATURES} are accepted"
        )
    return body, lines


def _verifier_map(
    verifiers: Iterable[NoteVerifier],
) -> dict[tuple[str, int], NoteVerifier | None]:
    """Index verifiers by (name, key ID); None marks two different keys colliding."""
    known: dict[tuple[str, int], NoteVerifier | None] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if ident in known and known[ident] != verifier:
            known[ident] = None
        else:
            known.setdefault(ident, verifier)
    return known


def verify_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and check its signatures against the known keys.

    Follows the signed-note spec: a signature whose key name and key ID do not
    both match a known key is ignored (returned in ``Note.unverified``); every
    signature of a known key is verified and any failure rejects the note; at
    least one known key must have signed. Repeated identical signature lines
    are reported once.

    ``note`` may be ``str`` or the raw ``bytes`` received; bytes must be UTF-8.

    Raises:
        NoteError: the note is malformed (no blank line, bad signature line,
            invalid base64, control characters, invalid UTF-8, more than
            :data:`MAX_SIGNATURES` signatures), a known key's signature does
            not verify, or no known key signed it.
    """
    text, lines = _split_note(note)
    known = _verifier_map(verifiers)
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for number, line in enumerate(lines, start=1):
        sig = _parse_signature_line(number, line)
        ident = (sig.name, sig.key_id)
        if ident not in known:
            if sig not in unverified:
                unverified.append(sig)
            continue
        verifier = known[ident]
        if verifier is None:
            raise NoteError(
                f"ambiguous key {sig.name}+{sig.key_id:08x}: "
                "two different known keys share this name and key ID"
            )
        if not verifier.verify(message, sig.signature):
            raise NoteError(
                f"signature line {number}: invalid signature from known key "
                f"{sig.name}+{sig.key_id:08x}"
            )
        if sig not in verified:
            verified.append(sig)
    if not verified:
        raise NoteError("note has no valid signature from a known key")
    return Note(text=text, signatures=tuple(verified), unverified=tuple(unverified))
