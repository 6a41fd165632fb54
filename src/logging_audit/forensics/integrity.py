"""The integrity status of each timeline entry: proven inclusion in a signed checkpoint, or why not.

For an audit event the proof is made from the store's own material and
checked independently of it:

1. Every stored checkpoint note is opened with the stream's verifier key
   (the store's, or one given from elsewhere, e.g. off the host). A note that
   does not verify is set aside and named.
2. The tree is rebuilt from the stored leaf hashes; for each valid checkpoint
   its root at the checkpoint's size must equal the signed root.
3. For an event at seq *s*, the largest valid checkpoint of size > *s* whose
   root the tree reproduces gives an RFC 9162 inclusion proof, checked with
   :func:`~logging_audit.ledger.verify_inclusion` against the **signed** root
   with the leaf hash recomputed **from the event's bytes** (never the index
   column). Success is :attr:`IntegrityState.VERIFIED`.

Otherwise the status says precisely why not:

- ``not_covered``: recorded after the newest signed checkpoint (it will be
  covered at the next seal or checkpoint);
- ``failed``: this entry's bytes do not hash to the leaf the signed tree holds
  (modified after it was recorded), or the stream verifier names its seq;
- ``unverifiable``: no proof can be made — the stored tree no longer
  reproduces the signed root covering it (other entries were altered or
  removed), the tree cannot be rebuilt (rows missing), or no checkpoint note
  verifies with the key at hand.

SecureLogger records get the same treatment from their stream directory: the
leaves come from the segment and archive lines, the checkpoints from
``checkpoints.jsonl``; the stream is also run through the full verifier
(chain, MACs, seals) and a failure it names by seq fails that record.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from logging_audit.audit.proof_tree import StoredTree
from logging_audit.audit.store import AuditStore
from logging_audit.errors import Error, FramingError, IntegrityError, ProofError
from logging_audit.ledger import (
    NoteVerifier,
    StreamStart,
    VerificationReport,
    VerifierMaterial,
    leaf_hash,
    open_checkpoint,
    parse_entry,
    unframe_line,
    verify_inclusion,
)

__all__ = [
    "CheckpointProver",
    "IntegrityState",
    "IntegrityStatus",
    "ValidCheckpoint",
    "audit_prover",
    "log_stream_prover",
]


class IntegrityState(str, Enum):
    """What is known about one entry's integrity."""

    VERIFIED = "verified"
    """Its inclusion in a signed checkpoint was proven."""
    NOT_COVERED = "not_covered"
    """Recorded after the newest signed checkpoint: no proof is possible yet."""
    FAILED = "failed"
    """Proven wrong: its bytes are not what the signed tree holds, or the verifier names it."""
    UNVERIFIABLE = "unverifiable"
    """No proof can be made (the tree or the checkpoints covering it are damaged or missing)."""


@dataclass(frozen=True)
class IntegrityStatus:
    """One entry's integrity: the state, a plain reason, and the checkpoint that proves it."""

    state: IntegrityState
    reason: str
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    """base64 of the signed root the proof was checked against."""
    signer: str | None = None
    """Name of the key whose signature on the checkpoint was verified."""

    @property
    def verified(self) -> bool:
        """True only when inclusion in a signed checkpoint was proven."""
        return self.state is IntegrityState.VERIFIED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "state": self.state.value,
            "verified": self.verified,
            "reason": self.reason,
            "checkpoint_size": self.checkpoint_size,
            "checkpoint_root": self.checkpoint_root,
            "signer": self.signer,
        }


@dataclass(frozen=True)
class ValidCheckpoint:
    """A checkpoint whose signature verified, and whether the stored tree reproduces it."""

    label: str
    size: int
    root: bytes
    signer: str
    matches: bool

    @property
    def root_b64(self) -> str:
        """The signed root in base64."""
        return base64.b64encode(self.root).decode()


@dataclass
class CheckpointProver:
    """Integrity statuses for the entries of one stream (see the module docstring)."""

    origin: str
    tree: StoredTree | None
    checkpoints: list[ValidCheckpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Stream-wide findings: unverifiable notes, a tree that cannot be rebuilt …"""
    failures_by_seq: dict[int, str] = field(default_factory=dict)
    """Failures the stream verifier attributed to one seq (file streams)."""
    tree_error: str | None = None

    def status(self, seq: int, leaf: bytes) -> IntegrityStatus:
        """The status of the entry at ``seq`` whose bytes hash to ``leaf``."""
        named = self.failures_by_seq.get(seq)
        if named is not None:
            return IntegrityStatus(
                IntegrityState.FAILED, f"the stream verifier reports seq {seq}: {named}"
            )
        covering = [c for c in self.checkpoints if c.size > seq]
        if not covering:
            return self._uncovered()
        if self.tree is None:
            return IntegrityStatus(
                IntegrityState.UNVERIFIABLE,
                f"cannot rebuild the stream's tree to prove seq {seq}: {self.tree_error}",
            )
        good = [c for c in covering if c.matches]
        if not good:
            cp = min(covering, key=lambda c: c.size)
            return IntegrityStatus(
                IntegrityState.UNVERIFIABLE,
                f"the stored entries no longer produce the signed root of checkpoint "
                f"{cp.label} (tree size {cp.size}) that covers seq {seq}: entries up to seq "
                f"{cp.size - 1} were altered or removed after it was signed",
                cp.size,
                cp.root_b64,
                cp.signer,
            )
        cp = max(good, key=lambda c: c.size)
        try:
            proof = self.tree.inclusion_proof(seq, cp.size)
            verify_inclusion(seq, cp.size, leaf, proof, cp.root)
        except ProofError as exc:
            detail = ""
            if exc.expected is not None and exc.calculated is not None:
                detail = (
                    f" (signed root {base64.b64encode(exc.expected).decode()}, the proof "
                    f"from this entry's bytes gives {base64.b64encode(exc.calculated).decode()})"
                )
            return IntegrityStatus(
                IntegrityState.FAILED,
                f"inclusion proof of seq {seq} against checkpoint {cp.label} (tree size "
                f"{cp.size}) failed: the entry's bytes do not hash to the leaf the signed "
                f"tree holds, so it was modified after it was recorded{detail}",
                cp.size,
                cp.root_b64,
                cp.signer,
            )
        return IntegrityStatus(
            IntegrityState.VERIFIED,
            f"inclusion proven in checkpoint {cp.label} (tree size {cp.size}) signed by "
            f"{cp.signer}",
            cp.size,
            cp.root_b64,
            cp.signer,
        )

    def _uncovered(self) -> IntegrityStatus:
        note = f"; also: {self.problems[0]}" if self.problems else ""
        if self.checkpoints:
            newest = max(c.size for c in self.checkpoints)
            return IntegrityStatus(
                IntegrityState.NOT_COVERED,
                f"recorded after the newest signed checkpoint (tree size {newest}, covering "
                f"seq 0-{newest - 1}); it will be covered at the next checkpoint{note}",
            )
        if self.problems:
            return IntegrityStatus(
                IntegrityState.UNVERIFIABLE,
                f"no signed checkpoint of this stream verifies with the key at hand: "
                f"{self.problems[0]}",
            )
        return IntegrityStatus(
            IntegrityState.NOT_COVERED,
            "no checkpoint has been signed yet: not covered by any signed checkpoint",
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of what the statuses rest on."""
        return {
            "origin": self.origin,
            "checkpoints_valid": len(self.checkpoints),
            "checkpoints_matching": sum(1 for c in self.checkpoints if c.matches),
            "newest_checkpoint_size": max((c.size for c in self.checkpoints), default=None),
            "problems": list(self.problems),
            "tree_error": self.tree_error,
        }


def _open_notes(
    labelled_notes: Iterable[tuple[str, str]],
    verifiers: Sequence[NoteVerifier],
    origin: str,
    tree: StoredTree | None,
    problems: list[str],
) -> list[ValidCheckpoint]:
    out: list[ValidCheckpoint] = []
    for label, note in labelled_notes:
        try:
            cp = open_checkpoint(note, verifiers, origin)
        except Error as exc:
            problems.append(f"checkpoint {label} does not verify: {exc}")
            continue
        signer = _signer_name(note, verifiers)
        matches = False
        if tree is not None and cp.size <= tree.size:
            try:
                matches = tree.root(cp.size) == cp.root_hash
            except ProofError:
                matches = False
        if tree is not None and not matches:
            problems.append(
                f"checkpoint {label} (tree size {cp.size}) is validly signed but the stored "
                "entries do not produce its root"
            )
        out.append(ValidCheckpoint(label, cp.size, cp.root_hash, signer, matches))
    return out


def _signer_name(note: str, verifiers: Sequence[NoteVerifier]) -> str:
    names = {v.name for v in verifiers}
    for line in note.split("\n\n", 1)[-1].splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[1] in names:
            return parts[1]
    return verifiers[0].name if verifiers else "?"


def audit_prover(store: AuditStore, verifier_keys: Sequence[str] | None = None) -> CheckpointProver:
    """A prover for the events of ``store``.

    ``verifier_keys``: checkpoint verifier key strings to trust (obtained off
    the host, e.g. from an evidence bundle); default: the store's own key.
    """
    keys = list(verifier_keys) if verifier_keys else [store.verifier_key]
    verifiers = [NoteVerifier.from_string(k) for k in keys]
    problems: list[str] = []
    tree: StoredTree | None = None
    tree_error: str | None = None
    try:
        tree = store.proof_tree()
    except (IntegrityError, ProofError) as exc:
        tree_error = str(exc)
        problems.append(f"the stored tree cannot be rebuilt: {exc}")
    with store.driver.read() as tx:
        rows = tx.all("SELECT id, note FROM checkpoints ORDER BY id")
    labelled = [(f"#{int(cid)}", str(note)) for cid, note in rows]
    checkpoints = _open_notes(labelled, verifiers, store.origin, tree, problems)
    return CheckpointProver(store.origin, tree, checkpoints, problems, {}, tree_error)


@dataclass
class LogStreamRead:
    """What one pass over a file stream's lines yields for proofs: leaf hash per seq."""

    leaves: dict[int, bytes]
    start: StreamStart | None
    missing: list[tuple[int, int]]
    """Ranges [first, last] of seqs absent between stored lines."""
    unreadable: int


def read_leaves(lines: Iterable[bytes], start: StreamStart | None) -> LogStreamRead:
    """Leaf hashes of every parseable line, by seq, and the seq ranges that are missing."""
    leaves: dict[int, bytes] = {}
    missing: list[tuple[int, int]] = []
    unreadable = 0
    expected = start.size if start is not None else 0
    for line in lines:
        try:
            raw, _ = unframe_line(line)
            seq = parse_entry(raw).seq
        except FramingError:
            unreadable += 1
            continue
        if seq > expected:
            missing.append((expected, seq - 1))
        if seq >= expected:
            expected = seq + 1
        leaves.setdefault(seq, leaf_hash(raw))
    return LogStreamRead(leaves, start, missing, unreadable)


def log_stream_prover(
    origin: str,
    read: LogStreamRead,
    notes: Sequence[str],
    material: VerifierMaterial | None,
    report: VerificationReport | None,
) -> CheckpointProver:
    """A prover for the records of one file stream (see the module docstring)."""
    problems: list[str] = []
    if material is None:
        problems.append("no verifier material for this stream (verifier file or key file)")
        return CheckpointProver(origin, None, [], problems, {}, "no verifier material")
    first = read.start.size if read.start is not None else 0
    tree: StoredTree | None = None
    tree_error: str | None = None
    ordered: list[bytes] = []
    seq = first
    while seq in read.leaves:
        ordered.append(read.leaves[seq])
        seq += 1
    if read.leaves and seq <= max(read.leaves):
        tree_error = f"entries from seq {seq} are missing, so the tree stops at seq {seq - 1}"
        problems.append(tree_error)
    try:
        tree = StoredTree(read.start, ordered)
    except (ProofError, ValueError) as exc:  # a malformed prune frontier in the manifest
        tree, tree_error = None, f"the pruned prefix's frontier is unusable: {exc}"
        problems.append(tree_error)
    labelled = [(f"#{i + 1}", n) for i, n in enumerate(notes)]
    checkpoints = _open_notes(labelled, material.note_verifiers, origin, tree, problems)
    failures: dict[int, str] = {}
    if report is not None:
        for failure in report.failures:
            if failure.seq is not None and failure.kind.value not in _STREAM_WIDE:
                failures.setdefault(failure.seq, f"{failure.kind.value}: {failure.reason}")
            elif failure.seq is None:
                problems.append(f"{failure.kind.value}: {failure.reason}")
    return CheckpointProver(origin, tree, checkpoints, problems, failures, tree_error)


# Failures that carry a seq but describe the stream, not that entry.
_STREAM_WIDE = frozenset(
    {
        "truncated_tail",
        "checkpoint_mismatch",
        "forged_checkpoint",
        "unknown_signer",
        "missing_segment",
        "segment_replaced",
        "unreadable_segment",
        "unconfirmed_prune",
        "foreign_stream",
    }
)


def resolve_material(
    stream: Path, origin: str, verifier_files: Sequence[Path], public_keys: Sequence[str]
) -> tuple[VerifierMaterial | None, str]:
    """The best verifier material for a file stream, and what it is.

    A verifier file (K(0), kept off the host) for the stream's origin; else the
    stream's own key file (public key and current epoch key); else the given
    public keys; else ``None``.
    """
    from logging_audit.crypto.signing_keys import SigningKeyStore
    from logging_audit.crypto.verifier_file import VerifierFile
    from logging_audit.storage.files.layout import StreamLayout

    for path in verifier_files:
        vf = VerifierFile.load(path)
        if vf.origin == origin:
            return vf.material(), f"verifier file {path}"
    keys = StreamLayout(stream).keys / "signing.json"
    if keys.exists():
        ks = SigningKeyStore.load(keys)
        if ks.origin == origin:
            return ks.verifier_material(), f"host key file {keys}"
    if public_keys:
        return (
            VerifierMaterial(origin, tuple(NoteVerifier.from_string(k) for k in public_keys)),
            "public keys only (no MACs)",
        )
    return None, "none"
