"""Fixtures of the ledger tests: fixed keys, a fixed clock and one small multi-epoch stream.

Everything is deterministic (fixed K(0), fixed Ed25519 seed, a counting clock), so a
failure names the same seq and line on every run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from logging_audit.ledger import LedgerWriter, NoteSigner, VerifierMaterial, epoch_key

ORIGIN = "example.com/ledger-test"
K0 = bytes(range(32))
SIGNER_SEED = bytes(range(100, 132))

EPOCHS_SEALED = 3
ENTRIES_PER_EPOCH = 5
TAIL_ENTRIES = 4


def counting_clock(start: int = 0) -> Callable[[], str]:
    """A clock that returns one second later on every call, from 2026-01-01T00:00:00Z."""
    ticks = itertools.count(start)

    def clock() -> str:
        n = next(ticks)
        return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"

    return clock


def build_stream(
    origin: str = ORIGIN, k0: bytes = K0, signer: NoteSigner | None = None
) -> tuple[LedgerWriter, list[bytes], list[str]]:
    """Three sealed epochs of five entries (checkpoint after each seal), then four unsealed.

    Seqs 0-4 + seal 5 (epoch 0), 6-10 + seal 11 (epoch 1), 12-16 + seal 17 (epoch 2),
    18-21 unsealed (epoch 3). Checkpoints sign sizes 6, 12 and 18.
    """
    signer = signer or NoteSigner.from_seed(origin, SIGNER_SEED)
    writer = LedgerWriter(origin, k0, clock=counting_clock())
    lines: list[bytes] = []
    checkpoints: list[str] = []
    for epoch in range(EPOCHS_SEALED):
        for i in range(ENTRIES_PER_EPOCH):
            lines.append(writer.append({"level": "INFO", "msg": f"epoch {epoch} entry {i}"}))
        seal = writer.seal()
        assert seal is not None
        lines.append(seal)
        checkpoints.append(writer.checkpoint(signer))
    for i in range(TAIL_ENTRIES):
        lines.append(writer.append({"level": "WARNING", "msg": f"tail entry {i}", "n": i}))
    return writer, lines, checkpoints


@pytest.fixture(scope="session")
def signer() -> NoteSigner:
    return NoteSigner.from_seed(ORIGIN, SIGNER_SEED)


@pytest.fixture(scope="session")
def stream(signer: NoteSigner) -> tuple[LedgerWriter, list[bytes], list[str]]:
    """``(writer, lines, checkpoints)`` of :func:`build_stream`; copy before mutating."""
    return build_stream(signer=signer)


@pytest.fixture(scope="session")
def full_material(signer: NoteSigner) -> VerifierMaterial:
    """The operator's verifier material: K(0) and the checkpoint key."""
    return VerifierMaterial(ORIGIN, (signer.verifier(),), epoch0_key=K0)


@pytest.fixture(scope="session")
def public_material(signer: NoteSigner) -> VerifierMaterial:
    """Only the public checkpoint key: no MAC can be checked."""
    return VerifierMaterial(ORIGIN, (signer.verifier(),))


@pytest.fixture(scope="session")
def current_material(signer: NoteSigner) -> VerifierMaterial:
    """What the host holds: the checkpoint key and the current epoch's key K(3)."""
    return VerifierMaterial(
        ORIGIN, (signer.verifier(),), current_epoch=(EPOCHS_SEALED, epoch_key(K0, EPOCHS_SEALED))
    )
