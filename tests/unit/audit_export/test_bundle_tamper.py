"""Tampered evidence bundles: every attack is a named case, and the report names it precisely.

Each case edits a genuine bundle (parsed into header, event records and
manifest, re-written in the same layout) and lists the failure kinds the
report must give. ``exact`` cases must give those kinds and no others.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_export_helpers import AUDITOR, populate

from logging_audit.audit.bundle import verify_bundle
from logging_audit.audit.bundle_verify import BundleFailureKind as K
from logging_audit.audit.bundle_verify import BundleReport
from logging_audit.audit.export import export_events
from logging_audit.audit.query import EventQuery
from logging_audit.ledger import NoteSigner, parse_checkpoint, sign_checkpoint


@dataclass
class Bundle:
    """A bundle taken apart: what the attacker edits."""

    head: dict[str, Any]
    events: list[dict[str, Any]]
    manifest: dict[str, Any] | None
    extra: dict[str, Any]
    """What the attack needs from the log (another entry, an older checkpoint, keys)."""

    @property
    def header(self) -> dict[str, Any]:
        return self.head["header"]  # type: ignore[no-any-return]


def _read(path: Path) -> Bundle:
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        lines = [orjson.loads(x) for x in data.splitlines()]
        events = [x["event"] for x in lines[1:-1]]
        return Bundle(lines[0], events, lines[-1]["manifest"], {})
    doc = orjson.loads(data)
    head = {k: v for k, v in doc.items() if k not in ("events", "manifest")}
    return Bundle(head, doc["events"], doc.get("manifest"), {})


def _write(b: Bundle, path: Path) -> None:
    if path.suffix == ".jsonl":
        parts = [orjson.dumps(b.head)] + [orjson.dumps({"event": e}) for e in b.events]
        if b.manifest is not None:
            parts.append(orjson.dumps({"manifest": b.manifest}))
        path.write_bytes(b"\n".join(parts) + b"\n")
    else:
        doc = dict(b.head)
        doc["events"] = b.events
        if b.manifest is not None:
            doc["manifest"] = b.manifest
        path.write_bytes(orjson.dumps(doc))


def _flip(b64: str, bit: int = 0) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def _resign(note: str, signer: NoteSigner) -> str:
    body = note[: note.rfind("\n\n") + 1]
    return sign_checkpoint(parse_checkpoint(body), signer)


# -- the attacks ------------------------------------------------------------------------

ATTACKER = NoteSigner.generate("evil.example/log")


def edit_event_line(b: Bundle) -> None:
    e = b.events[1]
    e["line"] = e["line"].replace('"mallory"', '"innocent"', 1)


def edit_event_line_and_leaf(b: Bundle) -> None:
    import hashlib

    from logging_audit.ledger import unframe_line

    edit_event_line(b)
    e = b.events[1]
    entry = unframe_line(e["line"].encode())[0]
    e["leaf_hash"] = base64.b64encode(hashlib.sha256(b"\x00" + entry).digest()).decode()


def edit_event_view(b: Bundle) -> None:
    b.events[0]["event"]["details"]["auth_method"] = "hardware-token"


def remove_middle_event(b: Bundle) -> None:
    del b.events[3]


def remove_last_event(b: Bundle) -> None:
    b.events.pop()


def add_forged_event(b: Bundle) -> None:
    forged = copy.deepcopy(b.events[0])
    forged["line"] = forged["line"].replace('"user123"', '"ceo"', 1)
    forged["event"]["actor"] = forged["event"]["user_id"] = "ceo"
    forged["leaf_hash"] = _flip(forged["leaf_hash"])
    b.events.insert(2, forged)


def duplicate_event(b: Bundle) -> None:
    b.events.append(copy.deepcopy(b.events[2]))


def reorder_events(b: Bundle) -> None:
    b.events[0], b.events[1] = b.events[1], b.events[0]


def flip_proof_hash(b: Bundle) -> None:
    b.events[4]["proof"][0] = _flip(b.events[4]["proof"][0], 77)


def drop_proof_hash(b: Bundle) -> None:
    b.events[4]["proof"].pop()


def checkpoint_from_another_key(b: Bundle) -> None:
    b.header["checkpoint"] = _resign(b.header["checkpoint"], ATTACKER)


def replace_checkpoint_and_key(b: Bundle) -> None:
    """A self-consistent forgery: every note re-signed, the bundle naming the forger's key."""
    b.header["checkpoint"] = _resign(b.header["checkpoint"], ATTACKER)
    assert b.manifest is not None
    b.manifest["checkpoint"] = _resign(b.manifest["checkpoint"], ATTACKER)
    b.header["verifier_key"] = ATTACKER.verifier().to_string()


def checkpoint_not_covering(b: Bundle) -> None:
    """An older genuine checkpoint of the same log, too small for the later events."""
    b.header["checkpoint"] = b.extra["small_checkpoint"]


def claim_event_beyond_checkpoint(b: Bundle) -> None:
    """A genuine entry of the log, recorded after the checkpoint, claimed as exported."""
    later = b.extra["later_event"]
    b.events.append(
        {
            "seq": later.seq,
            "leaf_hash": base64.b64encode(later.leaf_hash).decode(),
            "proof": [],
            "line": later.line.decode(),
            "event": later.to_dict(),
        }
    )


def change_claimed_seq(b: Bundle) -> None:
    b.events[2]["seq"] = b.events[3]["seq"]


def remove_manifest(b: Bundle) -> None:
    b.manifest = None


def flip_manifest_proof(b: Bundle) -> None:
    assert b.manifest is not None
    b.manifest["proof"][0] = _flip(b.manifest["proof"][0])


def manifest_checkpoint_from_another_key(b: Bundle) -> None:
    assert b.manifest is not None
    b.manifest["checkpoint"] = _resign(b.manifest["checkpoint"], ATTACKER)


def flip_consistency_proof(b: Bundle) -> None:
    assert b.manifest is not None
    b.manifest["consistency_proof"][0] = _flip(b.manifest["consistency_proof"][0])


def change_header_requestor(b: Bundle) -> None:
    b.header["exported_by"]["requestor_id"] = "someone-else"


def change_header_criteria(b: Bundle) -> None:
    b.header["criteria"]["conditions"] = []


def change_origin(b: Bundle) -> None:
    b.header["origin"] = "logaudit/other/audit"


def unknown_version(b: Bundle) -> None:
    b.head["logaudit_bundle"] = 2


def other_hash_algorithm(b: Bundle) -> None:
    b.header["hash"] = "SHA3-256"


def malformed_proof(b: Bundle) -> None:
    b.events[0]["proof"] = ["not base64!"]


@dataclass(frozen=True)
class Case:
    name: str
    attack: Callable[[Bundle], None]
    kinds: frozenset[K]
    exact: bool = True
    trusted: bool = False
    """Verify against the log's real key (as an auditor who knows it would)."""


CASES = [
    Case("edited_event_line", edit_event_line, frozenset({K.ENTRY_MODIFIED}), exact=False),
    Case(
        "edited_event_line_and_leaf",
        edit_event_line_and_leaf,
        frozenset({K.INCLUSION_FAILED}),
        exact=False,
    ),
    Case("edited_event_view", edit_event_view, frozenset({K.EVENT_VIEW_MISMATCH})),
    Case("removed_middle_event", remove_middle_event, frozenset({K.EVENTS_REMOVED})),
    Case("removed_last_event", remove_last_event, frozenset({K.EVENTS_REMOVED})),
    Case(
        "added_forged_event",
        add_forged_event,
        frozenset({K.ENTRY_MODIFIED, K.EVENTS_ADDED}),
        exact=False,
    ),
    Case("duplicated_event", duplicate_event, frozenset({K.DUPLICATE_EVENT, K.EVENTS_ADDED})),
    Case("reordered_events", reorder_events, frozenset({K.EVENTS_CHANGED})),
    Case("flipped_proof_hash", flip_proof_hash, frozenset({K.INCLUSION_FAILED})),
    Case("dropped_proof_hash", drop_proof_hash, frozenset({K.INCLUSION_FAILED})),
    Case(
        "checkpoint_from_another_key",
        checkpoint_from_another_key,
        frozenset({K.CHECKPOINT_SIGNATURE}),
    ),
    Case(
        "checkpoint_from_another_key_trusted",
        checkpoint_from_another_key,
        frozenset({K.CHECKPOINT_SIGNATURE}),
        trusted=True,
    ),
    Case(
        "forged_key_and_checkpoints",
        replace_checkpoint_and_key,
        frozenset({K.UNTRUSTED_KEY, K.VERIFIER_KEY_MISMATCH}),
        trusted=True,
    ),
    Case(
        "checkpoint_not_covering_the_events",
        checkpoint_not_covering,
        frozenset({K.NOT_COVERED}),
        exact=False,
    ),
    Case(
        "event_claimed_beyond_checkpoint",
        claim_event_beyond_checkpoint,
        frozenset({K.NOT_COVERED, K.EVENTS_ADDED}),
    ),
    Case("claimed_seq_changed", change_claimed_seq, frozenset({K.SEQ_MISMATCH}), exact=False),
    Case("manifest_removed", remove_manifest, frozenset({K.MANIFEST_MISSING})),
    Case("manifest_proof_flipped", flip_manifest_proof, frozenset({K.MANIFEST_INVALID})),
    Case(
        "manifest_checkpoint_from_another_key",
        manifest_checkpoint_from_another_key,
        frozenset({K.MANIFEST_INVALID}),
    ),
    Case("consistency_proof_flipped", flip_consistency_proof, frozenset({K.CONSISTENCY_FAILED})),
    Case("header_requestor_changed", change_header_requestor, frozenset({K.HEADER_MISMATCH})),
    Case("header_criteria_changed", change_header_criteria, frozenset({K.HEADER_MISMATCH})),
    Case("origin_changed", change_origin, frozenset({K.ORIGIN_MISMATCH})),
    Case("unknown_version", unknown_version, frozenset({K.UNSUPPORTED_VERSION})),
    Case("other_hash_algorithm", other_hash_algorithm, frozenset({K.UNSUPPORTED_VERSION})),
    Case("malformed_proof", malformed_proof, frozenset({K.MALFORMED})),
]


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One store (SQLite), a genuine bundle in each layout, and what attacks need from the log."""
    from logging_audit.audit.sqlite_store import SqliteEventStore
    from logging_audit.audit.testing import FakeClock

    d = tmp_path_factory.mktemp("genuine")
    store = SqliteEventStore(d / "audit.db", clock=FakeClock(), node_id="n1")
    try:
        populate(store)
        small = store.checkpoint()  # covers only the first entries
        populate(store)
        query = EventQuery.build({"event_type": {"in": ["authentication", "data_access"]}})
        paths = {}
        for layout in ("json", "jsonl"):
            paths[layout] = d / f"genuine.{layout}"
            export_events(store, query, AUDITOR, paths[layout], format=layout, bundle=True)
        later = store.append(populate_one())[0]
        return {
            "paths": paths,
            "vkey": store.verifier_key,
            "small_checkpoint": small.note,
            "later_event": later,
        }
    finally:
        store.close()


def populate_one() -> list[Any]:
    from logging_audit.audit.events import AuditEvent

    return [AuditEvent("authentication", "login", "latecomer")]


def _tampered(genuine: dict[str, Any], layout: str, case: Case, tmp_path: Path) -> BundleReport:
    b = _read(genuine["paths"][layout])
    b.extra.update(genuine)
    case.attack(b)
    out = tmp_path / f"tampered.{layout}"
    _write(b, out)
    return verify_bundle(out, genuine["vkey"] if case.trusted else None)


def test_genuine_bundles_verify(genuine: dict[str, Any], tmp_path: Path) -> None:
    for layout in ("json", "jsonl"):
        b = _read(genuine["paths"][layout])
        out = tmp_path / f"rewritten.{layout}"
        _write(b, out)  # taking apart and re-writing changes nothing that matters
        for key in (None, genuine["vkey"]):
            report = verify_bundle(out, key)
            assert report.verified, report.to_dict()


@pytest.mark.parametrize("layout", ["json", "jsonl"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_attack_is_named(genuine: dict[str, Any], tmp_path: Path, layout: str, case: Case) -> None:
    report = _tampered(genuine, layout, case, tmp_path)
    assert not report.verified
    kinds = report.kinds()
    assert case.kinds <= kinds, report.to_dict()["failures"]
    if case.exact:
        assert kinds == case.kinds, report.to_dict()["failures"]
    d = report.to_dict()
    assert d["verified"] is False
    assert all(f["kind"] in {k.value for k in K} for f in d["failures"])
    with pytest.raises(Exception, match="failed verification"):
        report.raise_for_failures()


def test_per_event_failures_name_the_record_and_seq(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    b = _read(genuine["paths"]["jsonl"])
    target = b.events[4]
    report = _tampered(genuine, "jsonl", CASES[8], tmp_path)  # flipped_proof_hash
    (failure,) = report.failures
    assert failure.kind is K.INCLUSION_FAILED
    assert failure.index == 4
    assert failure.seq == target["seq"]
    assert f"seq {target['seq']}" in str(failure)
    assert report.events_verified == report.events - 1


def test_forgery_passes_without_a_trusted_key_and_says_so(
    genuine: dict[str, Any], tmp_path: Path
) -> None:
    """Why auditors pass the key they trust: a bundle can only vouch for itself."""
    b = _read(genuine["paths"]["jsonl"])
    replace_checkpoint_and_key(b)
    out = tmp_path / "forged.jsonl"
    _write(b, out)
    report = verify_bundle(out)
    assert report.verified
    assert report.key_source == "bundle"
    assert report.verifier_key == ATTACKER.verifier().to_string()
    assert not verify_bundle(out, genuine["vkey"]).verified


def test_truncated_and_garbled_files(genuine: dict[str, Any], tmp_path: Path) -> None:
    data = genuine["paths"]["jsonl"].read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) * 2 // 3])
    report = verify_bundle(cut)
    assert {K.MALFORMED, K.MANIFEST_MISSING} <= report.kinds()
    assert not report.verified
    lines = data.splitlines()
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_bytes(b"\n".join([*lines[:3], b"\xff\xfe not json", *lines[3:]]) + b"\n")
    report = verify_bundle(garbled)
    assert report.kinds() == {K.MALFORMED}
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert verify_bundle(empty).kinds() == {K.MALFORMED}
    big_json = tmp_path / "not-a-bundle.json"
    big_json.write_bytes(b"[1, 2, 3]")
    assert verify_bundle(big_json).kinds() == {K.MALFORMED}


def test_failures_are_capped(
    genuine: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging_audit.audit.bundle_verify as bv

    monkeypatch.setattr(bv, "MAX_FAILURES", 3)
    b = _read(genuine["paths"]["jsonl"])
    for e in b.events:
        e["proof"][0] = _flip(e["proof"][0]) if e["proof"] else e["proof"]
    out = tmp_path / "many.jsonl"
    _write(b, out)
    report = verify_bundle(out)
    assert len(report.failures) == 3
    assert report.failures_omitted > 0
    assert not report.verified
