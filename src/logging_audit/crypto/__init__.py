"""Keys, key stores and encryption.

- :class:`SigningKeyStore`: a stream's Ed25519 checkpoint key and forward-secure
  epoch key K(e) (file kind ``logaudit-signing-keys``).
- :class:`VerifierFile`: public key(s) and K(0), exported once and kept off the
  host (file kind ``logaudit-verifier``).
- :class:`EncryptionKeyStore`: a key-encryption key and wrapped data keys, with
  crypto-shredding (file kind ``logaudit-encryption-keys``).
- :func:`encrypt_fields` / :func:`decrypt_fields`: field-group AES-256-GCM bound
  to the stream origin and entry seq; :mod:`logging_audit.crypto.aead` underneath.

Key files are JSON, mode 0600, written atomically; loading one that is missing,
unsafe or corrupt raises :class:`~logging_audit.errors.KeyStoreError` naming it.
See docs/adr/0003-key-stores.md.
"""

from __future__ import annotations

from logging_audit.crypto.data_keys import (
    ENCRYPTION_KIND,
    DataKeyInfo,
    DataKeyStatus,
    EncryptionKeyStore,
)
from logging_audit.crypto.fields import (
    DEFAULT_ENCRYPTED_FIELDS,
    ENC_FIELD,
    decrypt_fields,
    encrypt_fields,
    field_aad,
)
from logging_audit.crypto.signing_keys import (
    DEFAULT_EPOCH_SECONDS,
    SIGNING_KIND,
    SigningKeyStore,
)
from logging_audit.crypto.verifier_file import VERIFIER_KIND, VerifierFile

__all__ = [
    "DEFAULT_ENCRYPTED_FIELDS",
    "DEFAULT_EPOCH_SECONDS",
    "ENCRYPTION_KIND",
    "ENC_FIELD",
    "SIGNING_KIND",
    "VERIFIER_KIND",
    "DataKeyInfo",
    "DataKeyStatus",
    "EncryptionKeyStore",
    "SigningKeyStore",
    "VerifierFile",
    "decrypt_fields",
    "encrypt_fields",
    "field_aad",
]
