"""Evidence bundles verify offline: in a fresh process, with the database and keys gone."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from audit_export_helpers import AUDITOR, READER3, populate, sample_events

from logging_audit.audit.bundle import (
    BUNDLE_VERSION,
    BundleLayout,
    _ProofSource,
    bounded_query,
    export_bundle,
    verify_bundle,
)
from logging_audit.audit.bundle_verify import quick_view
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.export import export_events
from logging_audit.audit.proof_tree import StoredTree
from logging_audit.audit.query import EventQuery
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import ConfigError, IntegrityError, StorageError
from logging_audit.ledger import (
    StreamStart,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    parse_entry,
    unframe_line,
)

ALL = EventQuery.build({})


@pytest.mark.parametrize("layout", ["json", "jsonl"])
def test_bundle_verifies(store: AuditStore, tmp_path: Path, layout: str) -> None:
    populate(store)
    out = tmp_path / f"b.{layout}"
    result = export_events(store, ALL, AUDITOR, out, format=layout, bundle=True)
    report = verify_bundle(out)
    assert report.verified, report.to_dict()
    assert report.layout == layout
    assert report.version == BUNDLE_VERSION
    assert report.events == report.events_verified == result.count
    assert report.key_source == "bundle"
    assert report.origin == store.origin
    assert report.export_id == result.export_id
    assert report.exported_by == {
        "requestor_id": "auditor",
        "actor_type": "user",
        "clearance_level": 5,
    }
    assert result.bundle is not None
    assert report.checkpoint_size == result.bundle.checkpoint_size
    assert report.manifest_seq == result.bundle.manifest_seq
    assert report.manifest_count == result.count
    d = report.to_dict()
    assert d["verified"] is True
    assert d["macs_checked"] is False
    assert d["failures"] == []
    assert "not that the key is the log's" in d["key"]["note"]
    report.raise_for_failures()  # verified: no error


def test_trusted_key_is_reported(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    export_events(store, ALL, AUDITOR, tmp_path / "b.jsonl", format="jsonl", bundle=True)
    report = verify_bundle(tmp_path / "b.jsonl", trusted_key=store.verifier_key)
    assert report.verified
    assert report.key_source == "trusted"
    assert report.trusted_key_matches_bundle is True
    assert report.verifier_key == store.verifier_key
    with pytest.raises(ConfigError, match="not a verifier key"):
        verify_bundle(tmp_path / "b.jsonl", trusted_key="nonsense")


def test_verifies_in_a_fresh_process_without_the_database(
    store: AuditStore, location: dict[str, object], tmp_path: Path
) -> None:
    populate(store)
    bundle = tmp_path / "evidence" / "b.jsonl"
    bundle.parent.mkdir()
    export_events(store, ALL, READER3, bundle, format="jsonl", bundle=True)
    vkey = store.verifier_key
    store.close()
    if isinstance(location["database"], Path):  # SQLite: remove the database and its keys
        db = location["database"]
        for p in db.parent.iterdir():
            if p.name.startswith(db.name):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    code = (
        "import sys, json\n"
        "from logging_audit.audit.bundle_verify import verify_bundle\n"
        "r = verify_bundle(sys.argv[1], sys.argv[2])\n"
        "print(json.dumps(r.to_dict()))\n"
        "mods = [m for m in sys.modules if m.startswith('psycopg')]\n"
        "print(json.dumps(mods))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(bundle), vkey],
        capture_output=True,
        text=True,
        check=True,
        cwd=bundle.parent,
    )
    report_line, modules_line = out.stdout.splitlines()
    report = orjson.loads(report_line)
    assert report["verified"] is True, report
    assert report["key"]["source"] == "trusted"
    assert orjson.loads(modules_line) == []  # the PostgreSQL driver was not even imported
    if isinstance(location["database"], Path):
        assert not any(p.name.startswith("audit.db") for p in location["database"].parent.iterdir())


def test_newest_checkpoint_is_reused_when_it_covers_the_stream(
    store: AuditStore, tmp_path: Path
) -> None:
    populate(store)
    cp = store.checkpoint()
    export_bundle(store, ALL, AUDITOR, tmp_path / "b.jsonl")
    header = orjson.loads((tmp_path / "b.jsonl").read_bytes().splitlines()[0])["header"]
    assert header["checkpoint"] == cp.note
    # now the newest checkpoint no longer covers the stream: a fresh one is made
    export_bundle(store, ALL, AUDITOR, tmp_path / "c.jsonl")
    header = orjson.loads((tmp_path / "c.jsonl").read_bytes().splitlines()[0])["header"]
    assert header["checkpoint"] != cp.note
    assert verify_bundle(tmp_path / "c.jsonl").verified


def test_bundle_holds_exactly_the_events_up_to_its_checkpoint() -> None:
    q = bounded_query(EventQuery.build({"actor": "x"}), 17)
    assert q.describe()["conditions"] == [["actor", "eq", "x"], ["seq", "lt", 17]]


@pytest.mark.parametrize("layout", ["json", "jsonl"])
def test_empty_bundle_verifies(store: AuditStore, tmp_path: Path, layout: str) -> None:
    out = tmp_path / "empty"
    result = export_bundle(
        store, EventQuery.build({"actor": "nobody"}), AUDITOR, out, layout=layout
    )
    assert result.count == 0
    report = verify_bundle(out)
    assert report.verified, report.to_dict()
    assert report.events == 0


def test_bundle_of_an_empty_stream(make_store: object, tmp_path: Path) -> None:
    store = make_store()  # type: ignore[operator]
    out = tmp_path / "b.json"
    export_bundle(store, ALL, AUDITOR, out, layout="json")
    report = verify_bundle(out)
    assert report.verified, report.to_dict()
    assert report.checkpoint_size == 0


def test_bundle_after_retention_pruned_the_head(
    store: AuditStore, clock: FakeClock, tmp_path: Path
) -> None:
    store.append(AuditEvent("system", "old", "system", details={"i": i}) for i in range(40))
    clock.advance(days=30)
    store.append(sample_events())
    result = store.prune(clock.now - timedelta(days=1))
    assert result.removed >= 40
    out = tmp_path / "b.jsonl"
    export_events(store, ALL, AUDITOR, out, format="jsonl", bundle=True)
    report = verify_bundle(out)
    assert report.verified, report.to_dict()
    assert report.events > 15


def test_bundle_to_a_stream(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    buf = io.BytesIO()
    result = export_bundle(store, ALL, AUDITOR, buf, layout=BundleLayout.JSON)
    assert result.output is None
    (tmp_path / "b.json").write_bytes(buf.getvalue())
    assert verify_bundle(tmp_path / "b.json").verified


def test_large_bundle_streams_in_both_layouts(store: AuditStore, tmp_path: Path) -> None:
    for _ in range(3):
        store.append(AuditEvent("system", "tick", "system", details={"i": j}) for j in range(1000))
    q = EventQuery.build({"action": "tick"}, sort="-seq")  # proofs in descending order too
    seen: list[int] = []
    for layout in ("json", "jsonl"):
        out = tmp_path / f"big.{layout}"
        result = export_bundle(store, q, AUDITOR, out, layout=layout, progress=seen.append)
        assert result.count == 3000
        report = verify_bundle(out, progress=seen.append)
        assert report.verified, report.to_dict()["failures"][:3]
        assert report.events == 3000
    assert seen[-1] == 3000


def test_unreadable_file_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot read"):
        verify_bundle(tmp_path / "missing.jsonl")


def test_raise_for_failures(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    report = verify_bundle(bad)
    assert not report.verified
    with pytest.raises(IntegrityError, match="not an evidence bundle") as err:
        report.raise_for_failures()
    assert err.value.report is report


# -- the building blocks, against the ledger's own functions ------------------------------


def test_proof_source_equals_the_ledger_proofs() -> None:
    rnd = random.Random(4)
    for n in range(1, 70):
        leaves = [leaf_hash(b"%d" % i) for i in range(n)]
        tree = StoredTree(None, leaves)
        for size in {n, max(1, n // 2), max(1, n - 3)}:
            source = _ProofSource(tree, size)
            order = list(range(size))
            for seq_order in (order, rnd.sample(order, size), order[::-1]):
                for i in seq_order:
                    want = [_b64(h) for h in inclusion_proof(i, size, leaves[:size])]
                    assert source.inclusion_proof(i) == want, (n, size, i)


def test_proof_source_after_a_pruned_head() -> None:
    leaves = [leaf_hash(b"%d" % i) for i in range(50)]
    for pruned in (1, 13, 32, 33):
        start = _start(leaves, pruned)
        tree = StoredTree(start, leaves[pruned:])
        source = _ProofSource(tree, 50)
        for i in range(pruned, 50):
            assert source.inclusion_proof(i) == list(map(_b64, inclusion_proof(i, 50, leaves)))


def _start(leaves: list[bytes], pruned: int) -> StreamStart:
    # frontier of the pruned prefix: one subtree hash per set bit, highest first
    frontier = []
    begin = 0
    for bit in range(pruned.bit_length() - 1, -1, -1):
        if pruned >> bit & 1:
            frontier.append(merkle_root(leaves[begin : begin + (1 << bit)]))
            begin += 1 << bit
    return StreamStart(size=pruned, prev=leaves[pruned - 1], frontier=tuple(frontier))


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_quick_view_equals_the_decoded_event(store: AuditStore) -> None:
    for stored in populate(store):
        entry = parse_entry(unframe_line(stored.line)[0])
        assert quick_view(entry.seq, entry.ts, entry.fields) == stored.to_dict()
    assert quick_view(0, "t", {"audit": 2}) is None
    assert quick_view(0, "t", {"audit": 1, "clearance": 9}) is None
