"""Importers: logs of systems that never used this library, as audit events of their own stream.

- :func:`~logging_audit.importers.auth_log.import_auth_log` — OpenSSH lines of
  syslog / ``auth.log`` files;
- :func:`~logging_audit.importers.jsonl.import_jsonl` — JSON Lines with a field mapping.

Each import is marked with its source file and SHA-256 digest (see
:mod:`~logging_audit.importers._common`); import into a database of its own
(``logaudit import … --db imported.db``) so the imported stream stays apart
from the events this system recorded itself.
"""

from __future__ import annotations

from logging_audit.importers._common import ImportReport, file_digest
from logging_audit.importers.auth_log import AuthLogParser, import_auth_log
from logging_audit.importers.jsonl import import_jsonl, parse_assignments

__all__ = [
    "AuthLogParser",
    "ImportReport",
    "file_digest",
    "import_auth_log",
    "import_jsonl",
    "parse_assignments",
]
