"""The ledger: pure, I/O-free code that makes a log verifiable.

RFC 6962 hashing and proofs, the frontier, C2SP signed notes and checkpoints,
entry framing, forward-secure MACs and seals, the writer state machine and the
one-pass stream verifier. Storage is handed to it; it never touches files or
the network.
"""

from __future__ import annotations

from logging_audit.ledger.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from logging_audit.ledger.framing import (
    RESERVED_FIELDS,
    ZERO_HASH,
    Entry,
    build_entry,
    format_ts,
    frame_line,
    parse_entry,
    unframe_line,
)
from logging_audit.ledger.frontier import Frontier, merkle_root
from logging_audit.ledger.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from logging_audit.ledger.notes import (
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    sign_note,
    verify_note,
)
from logging_audit.ledger.proofs import (
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from logging_audit.ledger.prune import StreamStart
from logging_audit.ledger.report import Failure, FailureKind, PrunedRange, VerificationReport
from logging_audit.ledger.seals import epoch_key, evolve_key, mac_entry, verify_mac
from logging_audit.ledger.tree import MerkleTree
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.ledger.verify import StreamVerifier, verify_stream
from logging_audit.ledger.writer import LedgerWriter, WriterState

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "RESERVED_FIELDS",
    "ZERO_HASH",
    "Checkpoint",
    "Entry",
    "Failure",
    "FailureKind",
    "Frontier",
    "LedgerWriter",
    "MerkleTree",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "PrunedRange",
    "StreamStart",
    "StreamVerifier",
    "VerificationReport",
    "VerifierMaterial",
    "WriterState",
    "build_entry",
    "consistency_proof",
    "epoch_key",
    "evolve_key",
    "format_ts",
    "frame_line",
    "inclusion_proof",
    "leaf_hash",
    "mac_entry",
    "merkle_root",
    "node_hash",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_entry",
    "root_from_inclusion_proof",
    "sign_checkpoint",
    "sign_note",
    "unframe_line",
    "verify_consistency",
    "verify_inclusion",
    "verify_mac",
    "verify_note",
    "verify_stream",
]
