"""The structured verification report: what was checked, and every failure with its position."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from logging_audit.errors import IntegrityError
from logging_audit.ledger.framing import b64

__all__ = ["Failure", "FailureKind", "PrunedRange", "VerificationReport"]


class FailureKind(str, Enum):
    """What went wrong. Values are stable strings used in JSON reports."""

    MALFORMED_LINE = "malformed_line"
    """A line is not a framed entry (broken JSON, MAC suffix, missing ledger fields)."""
    MODIFIED_ENTRY = "modified_entry"
    """The entry bytes changed after they were written."""
    MODIFIED_MAC = "modified_mac"
    """The entry is intact but its MAC was altered."""
    DELETED_ENTRIES = "deleted_entries"
    """One or more seqs are missing."""
    INSERTED_ENTRY = "inserted_entry"
    """An entry that the writer never wrote sits in the stream."""
    REORDERED_ENTRIES = "reordered_entries"
    """Entries appear out of seq order."""
    REPLAYED_SEQ = "replayed_seq"
    """An entry (or a copy of one) appears again with a seq already seen."""
    CHAIN_BREAK = "chain_break"
    """An entry's ``prev`` does not match the previous entry's leaf hash."""
    TRUNCATED_TAIL = "truncated_tail"
    """The stream ends before a signed checkpoint says it should."""
    MISSING_SEAL = "missing_seal"
    """An epoch with entries ends without its seal."""
    SEAL_MISMATCH = "seal_mismatch"
    """A seal commits to a tree size or root that the stream does not have."""
    SEAL_TOO_NEW_KEY = "seal_too_new_key"
    """A seal is MAC'd with the key of a later epoch than its own (re-sealed)."""
    ENTRY_TOO_NEW_KEY = "entry_too_new_key"
    """An entry is MAC'd with the key of a later epoch than its own (forged later)."""
    EPOCH_BACKWARDS = "epoch_backwards"
    """An entry's epoch is lower than an earlier entry's."""
    ENTRY_AFTER_SEAL = "entry_after_seal"
    """An entry belongs to an epoch that was already sealed."""
    FORGED_CHECKPOINT = "forged_checkpoint"
    """A checkpoint's signature does not verify with its claimed key, or it is malformed."""
    UNKNOWN_SIGNER = "unknown_signer"
    """A checkpoint is signed by no key the verifier trusts."""
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    """A validly signed checkpoint's root differs from the stream's: a fork or rewrite."""
    FOREIGN_STREAM = "foreign_stream"
    """A seal, prune entry or checkpoint belongs to another stream (origin)."""
    UNCONFIRMED_PRUNE = "unconfirmed_prune"
    """The stream starts after seq 0 but no MAC'd prune entry confirms where."""
    MISSING_SEGMENT = "missing_segment"
    """Storage: a segment or archive that the stream's index lists is gone."""
    SEGMENT_REPLACED = "segment_replaced"
    """Storage: a closed segment or archive differs from the digest recorded at closing."""
    UNREADABLE_SEGMENT = "unreadable_segment"
    """Storage: a segment or archive cannot be read (corrupt, or encrypted without its key)."""


@dataclass(frozen=True)
class Failure:
    """One failed check, with where it happened."""

    kind: FailureKind
    reason: str
    seq: int | None = None
    line: int | None = None
    segment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "reason": self.reason,
            "seq": self.seq,
            "line": self.line,
            "segment": self.segment,
        }

    def __str__(self) -> str:
        where = []
        if self.segment is not None:
            where.append(self.segment)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        prefix = f"[{', '.join(where)}] " if where else ""
        return f"{prefix}{self.kind.value}: {self.reason}"


@dataclass(frozen=True)
class PrunedRange:
    """Seqs ``first`` … ``last`` were removed on purpose, confirmed by a prune entry."""

    first: int
    last: int
    reason: str
    confirmed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "first": self.first,
            "last": self.last,
            "reason": self.reason,
            "confirmed": self.confirmed,
        }


@dataclass
class VerificationReport:
    """Everything one verification walked, checked and found.

    ``verified`` is true only when there is no failure at all. An unsealed
    tail (entries after the last seal) is reported, not a failure: the writer
    may still be running. ``covered_size`` is the largest tree size that a
    signed checkpoint vouched for; entries beyond it are verified only by the
    chain and MACs ("verified only up to checkpoint N").
    """

    origin: str
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    tree_size: int = 0
    root_hash: bytes | None = None
    seals_verified: int = 0
    checkpoints_verified: int = 0
    covered_size: int = 0
    trusted_size: int | None = None
    mac_epochs_checked: list[int] = field(default_factory=list)
    mac_epochs_unchecked: list[int] = field(default_factory=list)
    pruned: list[PrunedRange] = field(default_factory=list)
    unsealed_tail: tuple[int, int] | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when every check passed."""
        return not self.failures

    def kinds(self) -> set[FailureKind]:
        """The set of failure kinds found."""
        return {f.kind for f in self.failures}

    def raise_for_failures(self) -> None:
        """Raise :class:`~logging_audit.errors.IntegrityError` carrying this report on failure."""
        if self.failures:
            first = self.failures[0]
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            raise IntegrityError(f"verification failed: {first}{more}", report=self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ``verified``, ``entries`` and ``errors`` at the top."""
        return {
            "verified": self.verified,
            "origin": self.origin,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "tree_size": self.tree_size,
            "root_hash": b64(self.root_hash) if self.root_hash is not None else None,
            "seals_verified": self.seals_verified,
            "checkpoints_verified": self.checkpoints_verified,
            "covered_size": self.covered_size,
            "trusted_size": self.trusted_size,
            "mac_epochs_checked": _ranges(self.mac_epochs_checked),
            "mac_epochs_unchecked": _ranges(self.mac_epochs_unchecked),
            "pruned": [p.to_dict() for p in self.pruned],
            "unsealed_tail": (
                {"first_seq": self.unsealed_tail[0], "last_seq": self.unsealed_tail[1]}
                if self.unsealed_tail
                else None
            ),
            "errors": [f.to_dict() for f in self.failures],
        }


def _ranges(epochs: list[int]) -> list[list[int]]:
    """Compress sorted epoch numbers into inclusive [first, last] ranges."""
    out: list[list[int]] = []
    for e in epochs:
        if out and out[-1][1] + 1 == e:
            out[-1][1] = e
        else:
            out.append([e, e])
    return out
