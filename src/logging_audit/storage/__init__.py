"""Storage backends: each keeps the ledger's lines verbatim and indexes them its own way."""
