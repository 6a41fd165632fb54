"""Every export records its chain of custody: who, criteria, count and the file's SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from audit_export_helpers import AUDITOR, populate

from logging_audit.audit.export import CUSTODY_ACTION, EXPORT_ACTION, export_events
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import StoredEvent
from logging_audit.audit.store import AuditStore


def _records(store: AuditStore, export_id: str) -> dict[str, StoredEvent]:
    q = EventQuery.build({"event_type": "query", "details.export_id": export_id})
    return {e.event.action: e for e in store.iter_events(q, AUDITOR)}


@pytest.mark.parametrize(
    ("fmt", "bundle"),
    [("json", False), ("jsonl", False), ("csv", False), ("ocsf", False), ("jsonl", True)],
)
def test_custody_event_holds_the_file_digest(
    store: AuditStore, tmp_path: Path, fmt: str, bundle: bool
) -> None:
    populate(store)
    query = EventQuery.build({"event_type": "authentication"}, start="2025-12-31")
    out = tmp_path / f"evidence.{fmt}"
    result = export_events(store, query, AUDITOR, out, format=fmt, bundle=bundle)
    data = out.read_bytes()
    records = _records(store, result.export_id)
    custody = records[CUSTODY_ACTION]
    assert custody.seq == result.custody_seq
    ev = custody.event
    assert ev.event_type == "query"
    assert ev.actor == "auditor"
    assert ev.clearance == AUDITOR.clearance
    d = ev.details
    assert d["sha256"] == hashlib.sha256(data).hexdigest() == result.sha256
    assert d["bytes"] == len(data)
    assert d["result_count"] == result.count == 4
    assert d["format"] == fmt
    assert d["output_file"] == str(out)
    criteria = d["criteria"]
    assert ["event_type", "eq", "authentication"] in criteria["conditions"]
    assert criteria["start"] == "2025-12-31T00:00:00.000000Z"
    # the read itself was recorded too, complete, under the same export id
    read = records[EXPORT_ACTION].event
    assert read.details["complete"] is True
    assert read.details["result_count"] == 4
    assert read.details["bundle"] is bundle
    if bundle:
        assert result.bundle is not None
        assert records["export_manifest"].seq == result.bundle.manifest_seq
    assert sorted(records) == sorted(
        [EXPORT_ACTION, CUSTODY_ACTION] + (["export_manifest"] if bundle else [])
    )


def test_custody_of_a_stream_export_has_no_file_name(store: AuditStore) -> None:
    import io

    populate(store)
    result = export_events(store, EventQuery.build({}), AUDITOR, io.BytesIO(), format="csv")
    custody = _records(store, result.export_id)[CUSTODY_ACTION].event
    assert custody.details["output_file"] is None
    assert custody.details["sha256"] == result.sha256


def test_custody_records_are_in_the_verified_ledger(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    export_events(store, EventQuery.build({}), AUDITOR, tmp_path / "a.jsonl", format="jsonl")
    export_events(store, EventQuery.build({}), AUDITOR, tmp_path / "b.json", bundle=True)
    report = store.verify_integrity()
    assert report.verified, report.to_dict()
