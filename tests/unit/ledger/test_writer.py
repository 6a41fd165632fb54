"""The writer state machine: chain, MACs, seals that evolve and erase keys, checkpoints, restarts."""

from __future__ import annotations

import base64

import pytest
from conftest import K0, ORIGIN, counting_clock

from logging_audit.errors import ConfigError, FramingError
from logging_audit.ledger import (
    EMPTY_ROOT,
    ZERO_HASH,
    LedgerWriter,
    NoteSigner,
    StreamStart,
    WriterState,
    epoch_key,
    evolve_key,
    leaf_hash,
    mac_entry,
    merkle_root,
    open_checkpoint,
    parse_entry,
    unframe_line,
    verify_mac,
)
