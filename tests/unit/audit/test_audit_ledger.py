"""Ledger material of the store: seals and epochs, checkpoints, proofs, keys beside the database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.crypto import SigningKeyStore, VerifierFile
from logging_audit.errors import AccessDeniedError, KeyStoreError, ProofError
from logging_audit.ledger import (
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_stream,
)
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


def _events(n: int, actor: str = "u") -> list[AuditEvent]:
    return [AuditEvent("system", "tick", actor, details={"i": i}) for i in range(n)]


def test_epochs_are_sealed_and_checkpointed(make_store: Any, clock: FakeClock) -> None:
    store = make_store(epoch_seconds=60)
    store.append(_events(3))
    assert store.latest_checkpoint() is None
    clock.advance(61)
    store.append(_events(2))  # epoch 0 is sealed first, then a checkpoint signed
    cp = store.latest_checkpoint()
    assert cp is not None
    assert cp.size == 4  # 3 events + the seal
    assert store.keys.store.epoch == 1
    clock.advance(61)
    assert store.seal_if_due() is True
    assert store.seal_if_due() is False
    report = store.verify_integrity()
    assert report.verified, report.to_dict()
    assert report.ledger.seals_verified == 2
    assert report.ledger.mac_epochs_checked == [0, 1]  # the kept verifier has K(0)


def test_second_writer_reloads_the_advanced_epoch_key(make_store: Any, clock: FakeClock) -> None:
    a = make_store(epoch_seconds=30)
    b = make_store(epoch_seconds=30)  # another process, in effect: its own key store object
    a.append(_events(2, "a"))
    b.append(_events(2, "b"))
    clock.advance(31)
    a.append(_events(1, "a"))  # a seals epoch 0 and advances the key file
    b.append(_events(1, "b"))  # b notices the new epoch and reloads the key file
    clock.advance(31)
    b.append(_events(1, "b"))
    a.append(_events(1, "a"))
    assert a.keys.store.epoch == b.keys.store.epoch == 2
    report = a.verify_integrity()
    assert report.verified, report.to_dict()
    assert report.ledger.seals_verified == 2


def test_close_seals_and_checkpoints(make_store: Any) -> None:
    store = make_store()
    store.append(_events(4))
    store.close()
    store.close()  # idempotent
    again = make_store()
    cp = again.latest_checkpoint()
    assert cp is not None
    assert cp.size == 5
    report = again.verify_integrity()
    assert report.verified
    assert report.ledger.unsealed_tail is None


def test_checkpoint_on_demand_and_inclusion_proofs(store: AuditStore) -> None:
    stored = store.append(_events(11))
    cp = store.checkpoint()
    note = open_checkpoint(cp.note, [store.keys.store.verifier], store.origin)
    assert (note.size, note.root_hash) == (cp.size, cp.root_hash)
    proofs = store.inclusion_proofs([e.seq for e in stored], cp)
    for event in stored:
        verify_inclusion(
            event.seq, cp.size, leaf_hash(event.entry), proofs[event.seq], cp.root_hash
        )
    first = cp
    store.append(_events(5))
    second = store.checkpoint()
    proof = store.consistency_proof(first.size, second.size)
    verify_consistency(first.size, second.size, first.root_hash, second.root_hash, proof)
    assert store.checkpoints()[-1] == second


def test_the_raw_stream_verifies_offline_with_the_verifier_file(store: AuditStore) -> None:
    store.append(_events(6))
    cp = store.checkpoint()
    verifier = VerifierFile.load(store.keys.config.verifier_file)
    lines = [line for _, line in store.iter_lines(TOP)]
    report = verify_stream(lines[: cp.size], verifier.material(), checkpoints=[cp.note])
    assert report.verified
    assert report.checkpoints_verified == 1


def test_verifier_material_without_a_kept_verifier(make_store: Any, tmp_path: Path) -> None:
    out = tmp_path / "offhost" / "verifier.json"
    out.parent.mkdir()
    store = make_store(keep_verifier=False, verifier_out=out, epoch_seconds=10)
    assert not store.keys.config.verifier_file.exists()
    store.append(_events(2))
    report = store.verify_integrity()
    assert report.verified
    assert "no verifier file" in report.verifier
    full = store.verify_integrity(verifier_path=str(out))
    assert full.verified
    assert "every epoch" in full.verifier


def test_missing_key_file_is_an_error_naming_it(make_store: Any) -> None:
    store = make_store()
    store.append(_events(1))
    key_file = store.keys.config.signing_file
    store.close()
    os.rename(key_file, str(key_file) + ".moved")
    with pytest.raises(KeyStoreError, match=r"signing\.json does not exist"):
        make_store()
    assert not key_file.exists()  # never silently recreated


def test_a_foreign_key_file_is_refused(make_store: Any, tmp_path: Path) -> None:
    store = make_store()
    key_file = store.keys.config.signing_file
    store.close()
    os.unlink(key_file)
    SigningKeyStore.create(key_file, "logaudit/elsewhere/audit")
    with pytest.raises(KeyStoreError, match="belongs to stream"):
        make_store()


def test_raw_stream_requires_level_5(store: AuditStore) -> None:
    with pytest.raises(AccessDeniedError):
        store.iter_lines(Requestor("r", ClearanceLevel.LEVEL_4))


def test_proofs_refuse_sizes_beyond_the_tree(store: AuditStore) -> None:
    store.append(_events(3))
    with pytest.raises(ProofError):
        store.proof_tree(99)


def test_iteration_is_constant_memory_and_snapshot(store: AuditStore) -> None:
    store.append(_events(2500))
    it = store.iter_events(EventQuery.build({"action": "tick"}), TOP, batch_size=100)
    first = next(it)
    store.append(_events(5))  # not part of the snapshot being read
    rest = list(it)
    assert first.seq == 0
    assert len(rest) == 2499
