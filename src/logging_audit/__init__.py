"""logging_audit: tamper-evident, verifiable, optionally encrypted logs and audit trails."""

from __future__ import annotations

from logging_audit.errors import Error

__all__ = ["Error", "__version__"]

__version__ = "0.1.0"
