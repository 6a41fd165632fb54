"""The one exception tree of logging_audit.

Everything this library raises on purpose derives from :class:`Error`, so
``except logging_audit.Error`` catches anything it means to raise::

    Error
    ├── VerificationError            a check of the ledger failed
    │   ├── ProofError               an RFC 6962 proof does not verify
    │   │   ├── InclusionProofError
    │   │   └── ConsistencyProofError
    │   ├── NoteError                a signed note is malformed or unsigned
    │   │   └── CheckpointError      a checkpoint body is malformed
    │   └── IntegrityError           a stream or bundle failed verification
    ├── FormatError                  untrusted bytes that do not parse
    │   └── FramingError             a framed log line or entry is malformed
    ├── KeyStoreError                a key file is missing, unreadable, corrupt or unsafe
    ├── CryptoError                  encryption / decryption / unwrap failed
    ├── StorageError                 a file or database operation failed
    ├── ConfigError                  bad arguments or configuration
    └── AccessDeniedError            clearance does not allow this

Lower-level errors (``OSError``, ``sqlite3.Error``, ``psycopg.Error``,
``cryptography`` exceptions, ``binascii.Error``, ``json.JSONDecodeError``) are
mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "CheckpointError",
    "ConfigError",
    "ConsistencyProofError",
    "CryptoError",
    "Error",
    "FormatError",
    "FramingError",
    "InclusionProofError",
    "IntegrityError",
    "KeyStoreError",
    "NoteError",
    "ProofError",
    "StorageError",
    "VerificationError",
]


class Error(Exception):
    """Base of every exception logging_audit raises on purpose."""


class VerificationError(Error):
    """A verification failed: the data is not what it claims to be."""


class ProofError(VerificationError):
    """An RFC 6962 inclusion or consistency proof failed to verify.

    ``expected`` and ``calculated`` carry the two root hashes when the failure
    is a mismatch (both ``None`` when the proof was rejected for its shape).
    """

    def __init__(
        self, message: str, *, expected: bytes | None = None, calculated: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class InclusionProofError(ProofError):
    """An inclusion proof does not prove the leaf is in the tree."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not prove the smaller tree is a prefix of the larger."""


class NoteError(VerificationError):
    """A signed note is malformed, or no trusted key signed it."""


class CheckpointError(NoteError):
    """A checkpoint body does not follow C2SP tlog-checkpoint."""


class IntegrityError(VerificationError):
    """A stream, store or bundle failed verification; ``report`` holds the details."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class FormatError(Error):
    """Untrusted input does not parse."""


class FramingError(FormatError):
    """A framed log line or an entry is malformed; the message names what is wrong."""


class KeyStoreError(Error):
    """A key file is missing, unreadable, corrupted or has unsafe permissions."""


class CryptoError(Error):
    """Encrypting, decrypting, wrapping or unwrapping failed (wrong key, tampering, shredding)."""


class StorageError(Error):
    """A file or database operation failed."""


class ConfigError(Error):
    """Arguments or configuration are invalid."""


class AccessDeniedError(Error):
    """The requestor's clearance does not allow the operation."""
