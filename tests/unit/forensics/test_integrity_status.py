"""Every timeline entry carries its integrity: proven inclusion, or precisely why not.

Tampering happens behind the store's back, with SQL on the database file or
an edit of a segment file, as an attacker with disk access would do it.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from forensics_helpers import T0, write_log

from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.forensics.integrity import IntegrityState, IntegrityStatus
from logging_audit.forensics.timeline import TimelineAnalyzer
from logging_audit.ledger import NoteSigner, leaf_hash, sign_note, unframe_line


def _record(service: AuditService, clock: FakeClock, n: int, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        clock.now = T0 + timedelta(minutes=i)
        ids.append(service.record_event("A-12345", "data_access", {}, 2, resource=f"doc-{i}"))
    return ids


def _sql(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _by_id(service: AuditService) -> dict[str, IntegrityStatus]:
    timeline = TimelineAnalyzer(service, record_custody=False).reconstruct(
        related_agents=["A-12345"]
    )
    return {e.event_id: e.integrity for e in timeline.events}


def test_covered_events_are_verified_and_later_ones_are_not_covered(
    service: AuditService, clock: FakeClock
) -> None:
    covered = _record(service, clock, 3)
    cp = service.store.checkpoint()
    later = _record(service, clock, 2, start=3)
    status = _by_id(service)
    for event_id in covered:
        s = status[event_id]
        assert s.state is IntegrityState.VERIFIED
        assert s.verified
        assert s.checkpoint_size == cp.size
        assert "inclusion proven in checkpoint" in s.reason
    for event_id in later:
        s = status[event_id]
        assert s.state is IntegrityState.NOT_COVERED
        assert not s.verified
        assert f"after the newest signed checkpoint (tree size {cp.size}" in s.reason


def test_no_checkpoint_yet_says_so(service: AuditService, clock: FakeClock) -> None:
    (only,) = _record(service, clock, 1)
    s = _by_id(service)[only]
    assert s.state is IntegrityState.NOT_COVERED
    assert "no checkpoint has been signed yet" in s.reason


def test_modified_event_bytes_fail_with_the_seq_and_checkpoint(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    ids = _record(service, clock, 4)
    service.store.checkpoint()
    db = tmp_path / "audit.db"
    (seq, line), *_ = _sql(db, "SELECT seq, line FROM entries WHERE event_id = ?", (ids[2],))
    forged = bytes(line).replace(b'"doc-2"', b'"doc-9"')  # type: ignore[call-overload]
    assert forged != bytes(line)  # type: ignore[call-overload]
    _sql(db, "UPDATE entries SET line = ? WHERE seq = ?", (forged, seq))
    status = _by_id(service)
    bad = status[ids[2]]
    assert bad.state is IntegrityState.FAILED
    assert f"inclusion proof of seq {seq}" in bad.reason
    assert "modified after it was recorded" in bad.reason
    for other in (ids[0], ids[1], ids[3]):
        assert status[other].verified


def test_rewritten_leaf_hashes_make_the_signed_root_unreachable(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    ids = _record(service, clock, 4)
    service.store.checkpoint()
    db = tmp_path / "audit.db"
    (seq, line), *_ = _sql(db, "SELECT seq, line FROM entries WHERE event_id = ?", (ids[1],))
    forged = bytes(line).replace(b'"doc-1"', b'"doc-7"')  # type: ignore[arg-type]
    new_leaf = leaf_hash(unframe_line(forged)[0])
    _sql(db, "UPDATE entries SET line = ?, leaf_hash = ? WHERE seq = ?", (forged, new_leaf, seq))
    status = _by_id(service)
    for event_id in ids:
        s = status[event_id]
        assert s.state is IntegrityState.UNVERIFIABLE
        assert "no longer produce the signed root of checkpoint #1" in s.reason


def test_forged_checkpoint_note_is_not_trusted(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    ids = _record(service, clock, 2)
    service.store.checkpoint()
    db = tmp_path / "audit.db"
    (cid, note), *_ = _sql(db, "SELECT id, note FROM checkpoints ORDER BY id DESC")
    text = str(note).split("\n\n")[0] + "\n"
    forged = sign_note(text, NoteSigner.generate(str(note).split("\n")[0]))
    _sql(db, "UPDATE checkpoints SET note = ? WHERE id = ?", (forged, cid))
    s = _by_id(service)[ids[0]]
    assert s.state is IntegrityState.UNVERIFIABLE
    assert "no signed checkpoint of this stream verifies" in s.reason
    assert "checkpoint #1 does not verify" in s.reason


def test_an_off_host_verifier_key_of_another_stream_verifies_nothing(
    service: AuditService, clock: FakeClock
) -> None:
    ids = _record(service, clock, 2)
    service.store.checkpoint()
    stranger = NoteSigner.generate("logaudit/node-a/audit").verifier().to_string()
    timeline = TimelineAnalyzer(
        service, verifier_keys=[stranger], record_custody=False
    ).reconstruct()
    s = {e.event_id: e.integrity for e in timeline.events}[ids[0]]
    assert s.state is IntegrityState.UNVERIFIABLE
    good = TimelineAnalyzer(
        service, verifier_keys=[service.store.verifier_key], record_custody=False
    ).reconstruct()
    assert {e.event_id: e.integrity for e in good.events}[ids[0]].verified


def test_log_records_are_proven_and_a_modified_line_is_named(
    service: AuditService, tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "logs-c",
        "node-c",
        [(T0 + timedelta(seconds=i), f"record {i}", {}) for i in range(4)],
    )
    clean = TimelineAnalyzer(service, log_streams=[log], record_custody=False).reconstruct()
    logs = [e for e in clean.events if e.source_kind == "log"]
    assert len(logs) == 4
    assert all(e.integrity.verified for e in logs)
    assert all("signed by logaudit/node-c/app" in e.integrity.reason for e in logs)
    summary = next(s for s in clean.sources if s.kind == "log")
    assert summary.verification is not None
    assert summary.verification["verified"]
    assert summary.verifier.startswith("host key file")

    segment = next((log / "segments").iterdir())
    data = segment.read_bytes()
    segment.write_bytes(data.replace(b"record 2", b"record X"))
    tampered = TimelineAnalyzer(service, log_streams=[log], record_custody=False).reconstruct()
    by_seq = {e.seq: e for e in tampered.events if e.source_kind == "log"}
    assert by_seq[2].integrity.state is IntegrityState.FAILED
    assert "seq 2" in by_seq[2].integrity.reason
    assert "modified_entry" in by_seq[2].integrity.reason
    assert not by_seq[3].integrity.verified
    summary = next(s for s in tampered.sources if s.kind == "log")
    assert summary.verification is not None
    assert not summary.verification["verified"]
