"""Audit trails on the ledger: typed events, a searchable store on SQLite or PostgreSQL.

Every audit event is a ledger entry (hash chain, forward-secure MAC, seals,
signed checkpoints); its bytes are stored verbatim and every index column is
derived from them. See docs/audit.md. Modules:

- ``events``: taxonomy and :class:`~logging_audit.audit.events.AuditEvent`;
  ``limits``: bounds on untrusted content.
- ``store``: :class:`~logging_audit.audit.store.AuditStore` (write, read, prove,
  verify, retain); ``factory.open_store``; ``sqlite_store`` and ``postgres_store``.
- ``query`` / ``sql`` / ``dates`` / ``cursors``: criteria, SQL compilation, time
  bounds, paging cursors; ``records``: what the store returns.
- ``integrity``, ``retention``, ``proof_tree``, ``keys``, ``sealed_verifier``,
  ``migrations`` with ``sqlite_schema`` / ``postgres_schema``.
- ``testing``: helpers for tests (a fake clock, PostgreSQL schemas).
"""
