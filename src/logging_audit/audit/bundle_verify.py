"""Verifying an evidence bundle offline: no database, no secret, one streaming pass.

The format (``docs/evidence-bundles.md``) is defined here too — the version,
hash algorithm, layouts and the events digest — so that this module is all an
auditor's verifier needs: it imports only the pure ledger and the event model.

:func:`verify_bundle` recomputes each event's leaf hash from the entry bytes of
its line, verifies its inclusion proof against the checkpoint's root, the
checkpoint's signature (with the key the bundle carries, or with a key the
auditor trusts — the report says which), the manifest's inclusion and
consistency proofs, and the manifest's count and digest against the events
present. Everything wrong is a :class:`BundleFailure` of a precise
:class:`BundleFailureKind` in the :class:`BundleReport`; tampering never raises.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Any

import orjson

from logging_audit.audit.events import EVENT_FORMAT, event_from_fields
from logging_audit.audit.records import StoredEvent
from logging_audit.errors import (
    CheckpointError,
    ConfigError,
    ConsistencyProofError,
    FramingError,
    InclusionProofError,
    IntegrityError,
    NoteError,
    StorageError,
)
from logging_audit.ledger import (
    HASH_SIZE,
    Checkpoint,
    NoteVerifier,
    leaf_hash,
    parse_checkpoint,
    parse_entry,
    unframe_line,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

__all__ = [
    "BUNDLE_VERSION",
    "HASH_ALGORITHM",
    "MANIFEST_ACTION",
    "MAX_FAILURES",
    "MAX_JSON_BUNDLE_BYTES",
    "MAX_RECORD_BYTES",
    "BundleFailure",
    "BundleFailureKind",
    "BundleLayout",
    "BundleReport",
    "events_digest",
    "events_digest_update",
    "quick_view",
    "verify_bundle",
]

ProgressCallback = Callable[[int], None]

BUNDLE_VERSION = 1
"""Value of ``logaudit_bundle``: the version of the bundle format."""
HASH_ALGORITHM = "RFC6962-SHA256"
"""The only tree hash a version-1 bundle may name."""
MANIFEST_ACTION = "export_manifest"
"""Action of the ``query`` event that binds the set of exported events."""

MAX_JSON_BUNDLE_BYTES = 256 << 20
"""Largest bundle in the single-JSON layout that :func:`verify_bundle` loads (use JSON Lines)."""
MAX_RECORD_BYTES = 64 << 20
"""Largest single record (line) of a JSON Lines bundle."""
MAX_FAILURES = 1000
"""Failures listed in a report; past that only counted (``failures_omitted``)."""

_PROGRESS_EVERY = 1000


class BundleLayout(str, Enum):
    """How a bundle is laid out on disk."""

    JSON = "json"
    """One JSON document: header, events array, manifest."""
    JSONL = "jsonl"
    """JSON Lines: a header line, one line per event, a manifest line. For large bundles."""

    @classmethod
    def parse(cls, value: object) -> BundleLayout:
        """Return ``value`` as a layout; :class:`ConfigError` otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a known name: the error below
                return cls(value.strip().lower())
        raise ConfigError(f"an evidence bundle is written as 'json' or 'jsonl', not {value!r}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def events_digest_update(h: Any, seq: int, leaf: bytes) -> None:
    """Feed one event into the events digest: 8-byte big-endian seq, then its 32-byte leaf hash."""
    h.update(seq.to_bytes(8, "big") + leaf)


def events_digest(items: list[tuple[int, bytes]]) -> str:
    """Hex SHA-256 over ``(seq, leaf hash)`` pairs in bundle order (the manifest's digest)."""
    h = hashlib.sha256()
    for seq, leaf in items:
        events_digest_update(h, seq, leaf)
    return h.hexdigest()


# -- the verification report -------------------------------------------------------------


class BundleFailureKind(str, Enum):
    """What a bundle verification found wrong. Each tamper case has its own kind."""

    MALFORMED = "malformed"
    """The bundle, or one of its records, does not parse as the format says."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """``logaudit_bundle`` or the hash algorithm is not one this version knows."""
    BAD_VERIFIER_KEY = "bad_verifier_key"
    """The bundle's verifier key does not parse."""
    VERIFIER_KEY_MISMATCH = "verifier_key_mismatch"
    """The bundle names a verifier key other than the one the auditor trusts."""
    CHECKPOINT_SIGNATURE = "checkpoint_signature"
    """The checkpoint is not validly signed by the verifying key (forged, or another key's)."""
    UNTRUSTED_KEY = "untrusted_key"
    """The checkpoint is validly signed by the bundle's key, which is not the trusted key."""
    ORIGIN_MISMATCH = "origin_mismatch"
    """A checkpoint is for another stream than the bundle says."""
    NOT_COVERED = "not_covered"
    """An event's seq is beyond the checkpoint's tree size: the checkpoint does not cover it."""
    DUPLICATE_EVENT = "duplicate_event"
    """The same seq appears twice."""
    SEQ_MISMATCH = "seq_mismatch"
    """A record claims another seq than its entry bytes hold."""
    ENTRY_MODIFIED = "entry_modified"
    """An event's entry bytes do not hash to the leaf hash its proof was made for: edited."""
    INCLUSION_FAILED = "inclusion_failed"
    """An inclusion proof does not reach the checkpoint root (a proof hash or the entry altered)."""
    EVENT_VIEW_MISMATCH = "event_view_mismatch"
    """The readable ``event`` object differs from what the entry bytes say."""
    MANIFEST_MISSING = "manifest_missing"
    """The bundle ends without its manifest (truncated, or the manifest removed)."""
    MANIFEST_INVALID = "manifest_invalid"
    """The manifest entry is not this export's manifest, or its proofs do not verify."""
    CONSISTENCY_FAILED = "consistency_failed"
    """The manifest's checkpoint does not extend the events' checkpoint."""
    HEADER_MISMATCH = "header_mismatch"
    """The header's requestor or criteria differ from what the logged manifest says."""
    EVENTS_REMOVED = "events_removed"
    """Fewer events than the manifest recorded: some were removed."""
    EVENTS_ADDED = "events_added"
    """More events than the manifest recorded: some were added."""
    EVENTS_CHANGED = "events_changed"
    """As many events as recorded, but not the same ones in the same order."""


@dataclass(frozen=True)
class BundleFailure:
    """One failure: its kind, a sentence, and where (record index from 0, and seq)."""

    kind: BundleFailureKind
    message: str
    index: int | None = None
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "index": self.index,
            "seq": self.seq,
        }

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"event #{self.index}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        prefix = f"[{self.kind.value}] " + (f"{', '.join(where)}: " if where else "")
        return prefix + self.message


@dataclass
class BundleReport:
    """Everything :func:`verify_bundle` checked, and every failure it found."""

    path: str
    key_source: str
    """``"trusted"`` (checked against the key the auditor passed) or ``"bundle"``."""
    layout: str | None = None
    version: int | None = None
    origin: str | None = None
    export_id: str | None = None
    exported_at: str | None = None
    exported_by: dict[str, Any] | None = None
    criteria: Any = None
    verifier_key: str | None = None
    """The key the checkpoints were checked against."""
    bundle_verifier_key: str | None = None
    """The key the bundle itself names."""
    trusted_key_matches_bundle: bool | None = None
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    checkpoint_verified: bool = False
    events: int = 0
    """Event records read."""
    events_verified: int = 0
    """Event records that passed every check."""
    manifest_seq: int | None = None
    manifest_checkpoint_size: int | None = None
    manifest_count: int | None = None
    manifest_verified: bool = False
    failures: list[BundleFailure] = field(default_factory=list)
    failures_omitted: int = 0

    @property
    def verified(self) -> bool:
        """True when the checkpoint, every event and the manifest verified, and nothing failed."""
        return (
            not self.failures
            and not self.failures_omitted
            and self.checkpoint_verified
            and self.manifest_verified
            and self.events_verified == self.events
        )

    def fail(
        self,
        kind: BundleFailureKind,
        message: str,
        *,
        index: int | None = None,
        seq: int | None = None,
    ) -> None:
        """Add a failure (past :data:`MAX_FAILURES` only counted)."""
        if len(self.failures) >= MAX_FAILURES:
            self.failures_omitted += 1
        else:
            self.failures.append(BundleFailure(kind, message, index, seq))

    def kinds(self) -> set[BundleFailureKind]:
        """The kinds of failure found."""
        return {f.kind for f in self.failures}

    @property
    def key_note(self) -> str:
        """What the key check proves."""
        if self.key_source == "trusted":
            return "checkpoints checked against the verifier key you trust"
        return (
            "checkpoints checked against the key carried in the bundle: this proves the bundle "
            "is consistent and signed by that key, not that the key is the log's; pass the "
            "log's verifier key you trust (trusted_key / --trusted-key) to prove that"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "verified": self.verified,
            "path": self.path,
            "layout": self.layout,
            "version": self.version,
            "origin": self.origin,
            "export_id": self.export_id,
            "exported_at": self.exported_at,
            "exported_by": self.exported_by,
            "criteria": self.criteria,
            "key": {
                "source": self.key_source,
                "verifier_key": self.verifier_key,
                "bundle_verifier_key": self.bundle_verifier_key,
                "trusted_key_matches_bundle": self.trusted_key_matches_bundle,
                "note": self.key_note,
            },
            "checkpoint": {
                "size": self.checkpoint_size,
                "root_hash": self.checkpoint_root,
                "verified": self.checkpoint_verified,
            },
            "events": self.events,
            "events_verified": self.events_verified,
            "manifest": {
                "seq": self.manifest_seq,
                "checkpoint_size": self.manifest_checkpoint_size,
                "count": self.manifest_count,
                "verified": self.manifest_verified,
            },
            "macs_checked": False,
            "failures": [f.to_dict() for f in self.failures],
            "failures_omitted": self.failures_omitted,
        }

    def raise_for_failures(self) -> None:
        """Raise :class:`~logging_audit.errors.IntegrityError` (with the report) if it failed."""
        if not self.verified:
            first = str(self.failures[0]) if self.failures else "the bundle did not verify"
            raise IntegrityError(
                f"evidence bundle {self.path} failed verification: {first}", report=self
            )


# -- reading ----------------------------------------------------------------------------

_Item = tuple[str, Any, int]
"""(record kind: header | event | manifest, the object, its position)."""


def _iter_jsonl(fh: IO[bytes], report: BundleReport, first: bytes) -> Iterator[_Item]:
    yield "header", orjson.loads(first), 1
    number = 1
    while True:
        raw = fh.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_RECORD_BYTES:
            report.fail(
                BundleFailureKind.MALFORMED,
                f"line {number} is longer than {MAX_RECORD_BYTES} bytes; verification stopped",
            )
            return
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            report.fail(BundleFailureKind.MALFORMED, f"line {number} is not JSON: {exc}")
            continue
        if isinstance(obj, dict) and len(obj) == 1 and "event" in obj:
            yield "event", obj["event"], number
        elif isinstance(obj, dict) and len(obj) == 1 and "manifest" in obj:
            yield "manifest", obj["manifest"], number
        else:
            report.fail(
                BundleFailureKind.MALFORMED,
                f"line {number} is neither an event nor a manifest record",
            )


def _iter_json(fh: IO[bytes], report: BundleReport) -> Iterator[_Item]:
    fh.seek(0)
    data = fh.read(MAX_JSON_BUNDLE_BYTES + 1)
    if len(data) > MAX_JSON_BUNDLE_BYTES:
        report.fail(
            BundleFailureKind.MALFORMED,
            f"a single-JSON bundle may be at most {MAX_JSON_BUNDLE_BYTES} bytes; "
            "large bundles are written as JSON Lines",
        )
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        report.fail(BundleFailureKind.MALFORMED, f"the bundle is not JSON: {exc}")
        return
    if not isinstance(doc, dict):
        report.fail(BundleFailureKind.MALFORMED, "the bundle is not a JSON object")
        return
    yield "header", doc, 0
    events = doc.get("events")
    if not isinstance(events, list):
        report.fail(BundleFailureKind.MALFORMED, "the bundle has no 'events' array")
        return
    for i, rec in enumerate(events):
        yield "event", rec, i
    if "manifest" in doc:
        yield "manifest", doc["manifest"], len(events)


def _iter_bundle(fh: IO[bytes], report: BundleReport) -> Iterator[_Item]:
    first = fh.readline(MAX_RECORD_BYTES + 1)
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError:
        head = None
    if isinstance(head, dict) and head.get("layout") == "jsonl":
        yield from _iter_jsonl(fh, report, first)
    else:
        yield from _iter_json(fh, report)


# -- verifying --------------------------------------------------------------------------


def _key_name(v: NoteVerifier) -> str:
    return f"{v.name}+{v.key_id:08x}"


def _note_body(note: str) -> str | None:
    split = note.rfind("\n\n")
    return None if split < 0 else note[: split + 1]


class _Malformed(Exception):
    """A record lacks a field or has one of the wrong type (internal)."""


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _Malformed(f"{what} has no valid '{key}'")
    return value


_B64_HASH_LEN = 44  # base64 of 32 bytes, padded


_B64_HASHES = re.compile(r"(?:[A-Za-z0-9+/]{43}=)*")


def _hashes(value: Any, what: str) -> list[bytes]:
    """Decode a list of base64 32-byte hashes; :class:`_Malformed` otherwise."""
    if not isinstance(value, list):
        raise _Malformed(f"{what} is not a list of base64 hashes")
    if value:
        try:
            joined = "".join(value)
        except TypeError:
            joined = None
        if (
            joined is None
            or set(map(len, value)) != {_B64_HASH_LEN}
            or not _B64_HASHES.fullmatch(joined)
        ):
            raise _Malformed(f"{what} is not a list of base64 {HASH_SIZE}-byte hashes")
    return list(map(binascii.a2b_base64, value))


def _hash(value: Any, what: str) -> bytes:
    try:
        return _hashes([value], what)[0]
    except _Malformed:
        raise _Malformed(f"{what} is not the base64 of a {HASH_SIZE}-byte hash") from None


_VIEW_TEXT = ("event_id", "event_type", "action", "outcome", "actor", "actor_type")


def quick_view(seq: int, ts: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The readable event of an entry, read straight from its fields (``None`` if unusual).

    The same dict as ``StoredEvent.to_dict()`` of the decoded event, built
    without decoding it (a test keeps the two equal). Anything out of the
    ordinary returns ``None`` and the verifier decodes the event properly.
    """
    if fields.get("audit") != EVENT_FORMAT:
        return None
    f = fields
    if not all(type(f.get(k)) is str and f[k] for k in _VIEW_TEXT):
        return None
    clearance = f.get("clearance")
    details = f.get("details", {})
    if type(clearance) is not int or not 1 <= clearance <= 5 or type(details) is not dict:
        return None
    for k in ("resource", "source_ip", "source_node"):
        if k in f and (type(f[k]) is not str or not f[k]):
            return None
    sig = f.get("agent_sig")
    signature = None
    if sig is not None:
        if (
            type(sig) is not dict
            or type(sig.get("kid")) is not str
            or type(sig.get("sig")) is not str
        ):
            return None
        signature = {"kid": sig["kid"], "sig": sig["sig"]}
    actor, actor_type, outcome = f["actor"], f["actor_type"], f["outcome"]
    return {
        "event_id": f["event_id"],
        "seq": seq,
        "timestamp": ts,
        "event_type": f["event_type"],
        "action": f["action"],
        "outcome": outcome,
        "success": outcome == "success",
        "actor": actor,
        "actor_type": actor_type,
        "user_id": actor if actor_type == "user" else None,
        "agent_id": actor if actor_type == "agent" else None,
        "resource": f.get("resource"),
        "source_ip": f.get("source_ip"),
        "source_node": f.get("source_node"),
        "clearance_level": clearance,
        "details": details,
        "agent_signature": signature,
    }


@dataclass
class _Line:
    seq: int
    text: str
    raw: bytes
    entry: bytes
    leaf: bytes


def _parse_line(rec: dict[str, Any], what: str) -> _Line:
    seq = _get(rec, "seq", int, what)
    if seq < 0:
        raise _Malformed(f"{what} has a negative seq")
    text = _get(rec, "line", str, what)
    try:
        raw = text.encode("utf-8")
        entry, _mac = unframe_line(raw)
    except (UnicodeEncodeError, FramingError) as exc:
        raise _Malformed(f"{what}: the line is not a framed ledger entry ({exc})") from exc
    return _Line(seq, text, raw, entry, leaf_hash(entry))


class _Verifier:
    def __init__(self, report: BundleReport, trusted: NoteVerifier | None) -> None:
        self.r = report
        self.trusted = trusted
        self.verifiers: list[NoteVerifier] = [] if trusted is None else [trusted]
        self.bundle_key: NoteVerifier | None = None
        self.header: dict[str, Any] | None = None
        self.cp: Checkpoint | None = None
        self.seen: set[int] = set()
        self.digest = hashlib.sha256()
        self.manifest_seen = False
        self.manifest_digest: str | None = None
        self.digest_complete = True
        """False once an event record was too broken to enter the events digest."""

    # -- header and checkpoints --------------------------------------------------------

    def _open_checkpoint(self, note: Any, what: str, *, manifest: bool) -> Checkpoint | None:
        r = self.r
        bad_sig = (
            BundleFailureKind.MANIFEST_INVALID
            if manifest
            else BundleFailureKind.CHECKPOINT_SIGNATURE
        )
        if not isinstance(note, str):
            r.fail(BundleFailureKind.MALFORMED, f"{what} is not a signed note (text)")
            return None
        body = _note_body(note)
        try:
            cp = parse_checkpoint(body) if body is not None else None
        except CheckpointError as exc:
            r.fail(BundleFailureKind.MALFORMED, f"{what} is not a checkpoint: {exc}")
            return None
        if cp is None:
            r.fail(BundleFailureKind.MALFORMED, f"{what} has no signature block")
            return None
        if not self.verifiers:
            r.fail(bad_sig, f"{what} cannot be verified: no usable verifier key")
            return cp
        try:
            verify_note(note, self.verifiers)
        except NoteError as exc:
            keys = ", ".join(_key_name(v) for v in self.verifiers)
            if (
                self.trusted is not None
                and self.bundle_key is not None
                and self.bundle_key != self.trusted
                and _signed_by(note, self.bundle_key)
            ):
                r.fail(
                    BundleFailureKind.UNTRUSTED_KEY,
                    f"{what} is signed by {_key_name(self.bundle_key)}, the key the bundle "
                    f"carries, not by the trusted key {keys}",
                )
            else:
                r.fail(bad_sig, f"{what} is not validly signed by {keys}: {exc}")
            return cp
        if manifest:
            return cp
        self.r.checkpoint_verified = True
        return cp

    def header_record(self, doc: Any) -> bool:
        r = self.r
        if not isinstance(doc, dict):
            r.fail(BundleFailureKind.MALFORMED, "the first record is not a bundle header")
            return False
        version = doc.get("logaudit_bundle")
        if version is None:
            r.fail(BundleFailureKind.MALFORMED, "not an evidence bundle (no 'logaudit_bundle')")
            return False
        r.version = version if type(version) is int else None
        if r.version != BUNDLE_VERSION:
            r.fail(
                BundleFailureKind.UNSUPPORTED_VERSION,
                f"bundle version {version!r}; this verifier reads version {BUNDLE_VERSION}",
            )
            return False
        r.layout = doc.get("layout") if isinstance(doc.get("layout"), str) else None
        header = doc.get("header")
        if not isinstance(header, dict):
            r.fail(BundleFailureKind.MALFORMED, "the bundle has no header object")
            return False
        self.header = header
        if header.get("hash") != HASH_ALGORITHM:
            r.fail(
                BundleFailureKind.UNSUPPORTED_VERSION,
                f"tree hash {header.get('hash')!r}; this verifier knows {HASH_ALGORITHM}",
            )
            return False
        for name in ("origin", "export_id", "exported_at"):
            value = header.get(name)
            setattr(r, name, value if isinstance(value, str) else None)
        r.exported_by = (
            header.get("exported_by") if isinstance(header.get("exported_by"), dict) else None
        )
        r.criteria = header.get("criteria")
        vkey = header.get("verifier_key")
        r.bundle_verifier_key = vkey if isinstance(vkey, str) else None
        try:
            if not isinstance(vkey, str):
                raise NoteError("missing")
            self.bundle_key = NoteVerifier.from_string(vkey)
        except NoteError as exc:
            r.fail(
                BundleFailureKind.BAD_VERIFIER_KEY, f"the bundle's verifier key is unusable: {exc}"
            )
        if self.trusted is None:
            if self.bundle_key is not None:
                self.verifiers = [self.bundle_key]
        else:
            match = self.bundle_key == self.trusted
            r.trusted_key_matches_bundle = match
            if self.bundle_key is not None and not match:
                r.fail(
                    BundleFailureKind.VERIFIER_KEY_MISMATCH,
                    f"the bundle names verifier key {_key_name(self.bundle_key)}, not the "
                    f"trusted key {_key_name(self.trusted)}",
                )
        r.verifier_key = self.verifiers[0].to_string() if self.verifiers else None
        cp = self._open_checkpoint(header.get("checkpoint"), "the checkpoint", manifest=False)
        if cp is not None:
            self.cp = cp
            r.checkpoint_size = cp.size
            r.checkpoint_root = _b64(cp.root_hash)
            if cp.origin != r.origin:
                r.checkpoint_verified = False
                r.fail(
                    BundleFailureKind.ORIGIN_MISMATCH,
                    f"the checkpoint is for stream {cp.origin!r}, the bundle says {r.origin!r}",
                )
        return True

    # -- events ------------------------------------------------------------------------

    def event_record(self, rec: Any, index: int) -> None:
        r = self.r
        r.events += 1
        what = f"event record #{index}"
        if not isinstance(rec, dict):
            r.fail(BundleFailureKind.MALFORMED, f"{what} is not an object", index=index)
            self.digest_complete = False
            return
        try:
            line = _parse_line(rec, what)
        except _Malformed as exc:
            seq = rec.get("seq") if isinstance(rec.get("seq"), int) else None
            r.fail(BundleFailureKind.MALFORMED, str(exc), index=index, seq=seq)
            self.digest_complete = False
            return
        seq = line.seq
        events_digest_update(self.digest, seq, line.leaf)
        duplicate = seq in self.seen
        self.seen.add(seq)
        try:
            recorded_leaf = _hash(rec.get("leaf_hash"), f"{what} leaf_hash")
            proof = _hashes(rec.get("proof"), f"{what} proof")
            entry = parse_entry(line.entry)
        except (_Malformed, FramingError) as exc:
            r.fail(BundleFailureKind.MALFORMED, str(exc), index=index, seq=seq)
            return
        ok = True
        if duplicate:
            r.fail(
                BundleFailureKind.DUPLICATE_EVENT,
                "this seq appeared earlier in the bundle",
                index=index,
                seq=seq,
            )
            ok = False
        if entry.seq != seq:
            r.fail(
                BundleFailureKind.SEQ_MISMATCH,
                f"the record says seq {seq} but its entry bytes hold seq {entry.seq}",
                index=index,
                seq=seq,
            )
            ok = False
        cp = self.cp
        if cp is None:
            ok = False
        elif seq >= cp.size:
            r.fail(
                BundleFailureKind.NOT_COVERED,
                f"seq {seq} is beyond the checkpoint's tree size {cp.size}: the checkpoint "
                "does not cover this event",
                index=index,
                seq=seq,
            )
            ok = False
        elif recorded_leaf != line.leaf:
            r.fail(
                BundleFailureKind.ENTRY_MODIFIED,
                "the entry bytes do not hash to the leaf hash the proof was made for: "
                "the event was edited after export",
                index=index,
                seq=seq,
            )
            ok = False
        else:
            try:
                verify_inclusion(seq, cp.size, line.leaf, proof, cp.root_hash)
            except InclusionProofError as exc:
                r.fail(
                    BundleFailureKind.INCLUSION_FAILED,
                    f"the inclusion proof does not lead to the checkpoint root ({exc}): a proof "
                    "hash was altered, or the event is not in the log",
                    index=index,
                    seq=seq,
                )
                ok = False
        shown = rec.get("event")
        view = quick_view(entry.seq, entry.ts, entry.fields)
        if view is None or shown != view:  # decide by the full decoding of the event
            try:
                decoded = event_from_fields(entry.fields)
            except FramingError as exc:
                r.fail(
                    BundleFailureKind.MALFORMED,
                    f"the entry is not an audit event: {exc}",
                    index=index,
                    seq=seq,
                )
                return
            view = StoredEvent(entry.seq, entry.ts, line.raw, decoded).to_dict()
        if shown != view:
            keys = (
                sorted(k for k in set(view) | set(shown) if view.get(k) != shown.get(k))
                if isinstance(shown, dict)
                else ["event"]
            )
            r.fail(
                BundleFailureKind.EVENT_VIEW_MISMATCH,
                f"the readable event differs from its entry bytes in: {', '.join(keys)}",
                index=index,
                seq=seq,
            )
            ok = False
        if ok:
            r.events_verified += 1

    # -- manifest ----------------------------------------------------------------------

    def manifest_record(self, rec: Any) -> None:
        r = self.r
        if self.manifest_seen:
            r.fail(BundleFailureKind.MALFORMED, "the bundle holds a second manifest")
            return
        self.manifest_seen = True
        bad = BundleFailureKind.MANIFEST_INVALID
        if not isinstance(rec, dict):
            r.fail(BundleFailureKind.MALFORMED, "the manifest record is not an object")
            return
        try:
            line = _parse_line(rec, "the manifest")
            recorded_leaf = _hash(rec.get("leaf_hash"), "the manifest leaf_hash")
            proof = _hashes(rec.get("proof"), "the manifest proof")
            consistency = _hashes(rec.get("consistency_proof"), "the manifest consistency_proof")
            entry = parse_entry(line.entry)
            event = event_from_fields(entry.fields)
        except (_Malformed, FramingError) as exc:
            r.fail(BundleFailureKind.MALFORMED, str(exc))
            return
        r.manifest_seq = line.seq
        failures_before = len(r.failures) + r.failures_omitted
        cp2 = self._open_checkpoint(
            rec.get("checkpoint"), "the manifest's checkpoint", manifest=True
        )
        if cp2 is not None:
            r.manifest_checkpoint_size = cp2.size
            if cp2.origin != r.origin:
                r.fail(
                    BundleFailureKind.ORIGIN_MISMATCH,
                    f"the manifest's checkpoint is for stream {cp2.origin!r}, the bundle says "
                    f"{r.origin!r}",
                )
        if entry.seq != line.seq or recorded_leaf != line.leaf:
            r.fail(bad, "the manifest's entry bytes were altered", seq=line.seq)
        elif cp2 is not None:
            try:
                verify_inclusion(line.seq, cp2.size, line.leaf, proof, cp2.root_hash)
            except InclusionProofError as exc:
                r.fail(
                    bad,
                    f"the manifest's inclusion proof does not lead to its checkpoint root ({exc})",
                    seq=line.seq,
                )
        cp = self.cp
        if cp is not None and cp2 is not None and cp.size > 0:
            try:
                verify_consistency(cp.size, cp2.size, cp.root_hash, cp2.root_hash, consistency)
            except ConsistencyProofError as exc:
                r.fail(
                    BundleFailureKind.CONSISTENCY_FAILED,
                    f"the manifest's checkpoint (size {cp2.size}) is not proven to extend the "
                    f"events' checkpoint (size {cp.size}): {exc}",
                )
        details = event.details
        if event.event_type != "query" or event.action != MANIFEST_ACTION:
            r.fail(bad, f"the manifest entry is a {event.event_type}/{event.action} event")
        elif details.get("export_id") != r.export_id:
            r.fail(bad, "the manifest belongs to another export (its export_id differs)")
        elif cp is not None and details.get("checkpoint_size") != cp.size:
            r.fail(
                bad,
                f"the manifest was made for a checkpoint of size {details.get('checkpoint_size')}, "
                f"the bundle's checkpoint has size {cp.size}",
            )
        count = details.get("result_count")
        digest = details.get("events_sha256")
        if type(count) is int and isinstance(digest, str):
            r.manifest_count = count
            self.manifest_digest = digest
        else:
            r.fail(bad, "the manifest records no event count and digest")
        by = r.exported_by or {}
        if (
            by.get("requestor_id") != event.actor
            or by.get("clearance_level") != int(event.clearance)
            or r.criteria != details.get("criteria")
        ):
            r.fail(
                BundleFailureKind.HEADER_MISMATCH,
                "the header's requestor, clearance or criteria differ from the logged manifest's",
            )
        r.manifest_verified = len(r.failures) + r.failures_omitted == failures_before

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> None:
        r = self.r
        if not self.manifest_seen:
            r.fail(
                BundleFailureKind.MANIFEST_MISSING,
                "the bundle ends without its manifest: it was truncated or the manifest removed",
            )
            return
        if r.manifest_count is None or self.manifest_digest is None:
            return
        n, want = r.events, r.manifest_count
        if n < want:
            r.fail(
                BundleFailureKind.EVENTS_REMOVED,
                f"{want - n} event(s) removed: the logged manifest records {want}, the bundle "
                f"holds {n}",
            )
        elif n > want:
            r.fail(
                BundleFailureKind.EVENTS_ADDED,
                f"{n - want} event(s) added: the logged manifest records {want}, the bundle "
                f"holds {n}",
            )
        elif self.digest_complete and self.digest.hexdigest() != self.manifest_digest:
            r.fail(
                BundleFailureKind.EVENTS_CHANGED,
                f"the bundle holds {n} events as recorded, but not the same ones in the same "
                "order (events replaced or reordered)",
            )


def _signed_by(note: str, verifier: NoteVerifier) -> bool:
    try:
        verify_note(note, [verifier])
    except NoteError:
        return False
    return True


def _trusted(key: str | NoteVerifier | None) -> NoteVerifier | None:
    if key is None or isinstance(key, NoteVerifier):
        return key
    if not isinstance(key, str):
        raise ConfigError(f"trusted_key must be a verifier key string, got {type(key).__name__}")
    try:
        return NoteVerifier.from_string(key.strip())
    except NoteError as exc:
        raise ConfigError(f"the trusted key is not a verifier key: {exc}") from exc


def verify_bundle(
    path: str | os.PathLike[str],
    trusted_key: str | NoteVerifier | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> BundleReport:
    """Verify an evidence bundle offline; return the report (never raises for tampering).

    ``trusted_key``: the log's verifier key as the auditor knows it
    (``name+hex(id)+base64(…)``). Without it the checkpoints are checked
    against the key in the bundle, which proves only that the bundle is
    internally consistent — the report's ``key_source`` says which.
    Raises :class:`~logging_audit.errors.StorageError` when the file cannot be
    read and :class:`~logging_audit.errors.ConfigError` for a malformed
    ``trusted_key``; everything wrong *inside* the bundle is a failure in the
    report (see :class:`BundleFailureKind`).
    """
    trusted = _trusted(trusted_key)
    report = BundleReport(
        path=os.fspath(path), key_source="bundle" if trusted is None else "trusted"
    )
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; read while the report is built)
    except OSError as exc:
        raise StorageError(f"cannot read evidence bundle {os.fspath(path)}: {exc}") from exc
    verifier = _Verifier(report, trusted)
    try:
        with fh:
            items = _iter_bundle(fh, report)
            first = next(items, None)
            if first is None or not verifier.header_record(first[1]):
                if first is None and not report.failures:
                    report.fail(BundleFailureKind.MALFORMED, "the bundle is empty")
                return report
            for kind, obj, index in items:
                if kind == "event":
                    if verifier.manifest_seen:
                        report.fail(
                            BundleFailureKind.MALFORMED,
                            "an event record follows the manifest",
                            index=index,
                        )
                    verifier.event_record(obj, report.events)
                    if progress is not None and report.events % _PROGRESS_EVERY == 0:
                        progress(report.events)
                elif kind == "manifest":
                    verifier.manifest_record(obj)
            verifier.finish()
    except OSError as exc:
        raise StorageError(f"cannot read evidence bundle {os.fspath(path)}: {exc}") from exc
    if progress is not None:
        progress(report.events)
    return report
