"""What a verifier needs: the stream origin, checkpoint keys and MAC key material."""

from __future__ import annotations

from dataclasses import dataclass, field

from logging_audit.ledger.notes import NoteVerifier

__all__ = ["VerifierMaterial"]


@dataclass(frozen=True)
class VerifierMaterial:
    """Key material for :func:`~logging_audit.ledger.verify.verify_stream`.

    ``epoch0_key`` is K(0), exported once by the operator and kept off the host:
    with it every epoch's MACs are checked. Without it, ``current_epoch``
    (epoch number and its key, as the host's key store holds them) lets the
    verifier check that epoch's MACs and later ones; earlier epochs are then
    covered only by the public layers (chain, tree, signed checkpoints), and the
    report says so.
    """

    origin: str
    note_verifiers: tuple[NoteVerifier, ...] = ()
    epoch0_key: bytes | None = field(default=None, repr=False)
    current_epoch: tuple[int, bytes] | None = field(default=None, repr=False)
