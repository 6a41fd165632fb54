"""Prune records: what retention removed from the head of a stream, and where the rest starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logging_audit.errors import FramingError
from logging_audit.ledger.framing import b64, unb64
from logging_audit.ledger.frontier import Frontier
from logging_audit.ledger.hashing import HASH_SIZE

__all__ = ["PRUNE", "StreamStart", "prune_fields"]

PRUNE = "prune"
"""Value of the ``ledger`` field of a prune entry."""


@dataclass(frozen=True)
class StreamStart:
    """The tree state at the first entry that remains after a prune.

    ``size`` leaves were removed (seq 0 … size-1); ``prev`` is the leaf hash of
    entry ``size-1``; ``frontier`` the compact range [0, size). A verifier
    resumes from it, and a MAC'd prune entry later in the stream must confirm it.
    """

    size: int
    prev: bytes
    frontier: tuple[bytes, ...]
    reason: str = "retention"

    def __post_init__(self) -> None:
        Frontier(self.size, self.frontier)  # validates the shape
        if len(self.prev) != HASH_SIZE:
            raise FramingError(f"prune prev must be {HASH_SIZE} bytes")

    def to_fields(self) -> dict[str, Any]:
        """JSON-ready form (also the body of a prune entry)."""
        return {
            "size": self.size,
            "last_hash": b64(self.prev),
            "frontier": [b64(h) for h in self.frontier],
            "reason": self.reason,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> StreamStart:
        """Parse :meth:`to_fields` output (untrusted), raising :class:`FramingError`."""
        size = fields.get("size")
        last = fields.get("last_hash")
        frontier = fields.get("frontier")
        reason = fields.get("reason", "retention")
        if type(size) is not int or size < 1:
            raise FramingError("prune record has no valid 'size'")
        if not isinstance(last, str) or not isinstance(frontier, list):
            raise FramingError("prune record needs 'last_hash' and a 'frontier' list")
        if not isinstance(reason, str):
            raise FramingError("prune record 'reason' must be a string")
        hashes = []
        for i, h in enumerate(frontier):
            if not isinstance(h, str):
                raise FramingError(f"prune frontier hash {i} is not a string")
            hashes.append(unb64(h, f"prune frontier hash {i}", HASH_SIZE))
        try:
            return cls(size, unb64(last, "prune last_hash", HASH_SIZE), tuple(hashes), reason)
        except FramingError:
            raise
        except Exception as exc:  # the Frontier shape check raises FormatError
            raise FramingError(f"prune record frontier is malformed: {exc}") from exc


def prune_fields(origin: str, start: StreamStart) -> dict[str, Any]:
    """Fields of the prune entry that records ``start`` in the stream."""
    return {"ledger": PRUNE, "origin": origin, **start.to_fields()}
