"""Audit trails on the ledger: typed events, a searchable store on SQLite or PostgreSQL.

Every audit event is a ledger entry (hash chain, forward-secure MAC, seals,
signed checkpoints); its bytes are stored verbatim and every index column is
derived from them. See docs/audit.md.
"""
