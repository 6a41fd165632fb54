"""Evidence bundles: exports that an outside auditor verifies offline, without the database.

A bundle (format in ``docs/evidence-bundles.md``) carries, besides the events:

- the signed checkpoint (a C2SP signed note) of a tree that covers every
  exported event, and the stream's public verifier key;
- for every event, the exact framed line as stored (its entry bytes are what
  the tree hashes) and its RFC 9162 inclusion proof against that checkpoint;
- a **manifest**: a ``query`` event (action ``export_manifest``) recorded in
  the log after the events were written, holding the export id, the number
  of events and a digest of their (seq, leaf hash) list — with its own
  inclusion proof against a second, later checkpoint and a consistency proof
  between the two checkpoints. The log itself thus vouches for *which*
  events the export holds, so that removing, adding or swapping an event is
  caught offline too.

:func:`export_bundle` writes one in a single streaming pass (the events are
never all in memory; the proof tree is the store's, about two hashes per
entry). :func:`verify_bundle` checks one in a single streaming pass, with no
database and no secret: it recomputes each leaf hash from the line's entry
bytes, verifies each inclusion proof against the checkpoint root, the
checkpoint signatures (with the bundle's key, or with a key the auditor
trusts), the manifest's proof, the consistency proof, and the manifest's
count and digest against the events present. Its answer is a
:class:`BundleReport` naming every failure by kind, record index and seq —
never a bare bool.

MACs are not checked: they need the stream's secret verifier material, which
an outside auditor does not hold; inclusion in the signed tree is the proof.
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import uuid
from typing import Any

import orjson

from logging_audit import __version__
from logging_audit.audit.bundle_verify import (
    BUNDLE_VERSION,
    HASH_ALGORITHM,
    MANIFEST_ACTION,
    BundleFailure,
    BundleFailureKind,
    BundleLayout,
    BundleReport,
    events_digest,
    events_digest_update,
    verify_bundle,
)
from logging_audit.audit.export import (
    EXPORT_ACTION,
    BundleSummary,
    ExportResult,
    Output,
    ProgressCallback,
    Sink,
    open_output,
    record_custody,
    requestor_dict,
)
from logging_audit.audit.proof_tree import StoredTree
from logging_audit.audit.query import Condition, EventQuery, FieldRef
from logging_audit.audit.records import Requestor, StoredCheckpoint, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import IntegrityError, ProofError
from logging_audit.ledger import format_ts, leaf_hash

__all__ = [
    "BUNDLE_VERSION",
    "HASH_ALGORITHM",
    "MANIFEST_ACTION",
    "BundleFailure",
    "BundleFailureKind",
    "BundleLayout",
    "BundleReport",
    "bounded_query",
    "covering_checkpoint",
    "events_digest",
    "export_bundle",
    "verify_bundle",
]

_PROGRESS_EVERY = 1000


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


class _ProofSource:
    """RFC 9162 inclusion proofs of many leaves of one stored tree size, computed cheaply.

    The audit path of leaf ``i`` is, level by level from the leaf up, the hash
    of the sibling of the aligned subtree holding ``i``: to its left always a
    perfect subtree, to its right a perfect one or the tree's right edge (a
    partial subtree; none at all when the edge ends there). Partial subtrees
    are hashed once (there is at most one per level). The previous proof's
    siblings are kept per level: above the highest bit in which two leaf
    indexes differ their siblings are the same, so consecutive leaves — the
    usual export order — recompute only a level or two.
    """

    def __init__(self, tree: StoredTree, size: int) -> None:
        self._tree = tree
        self._size = size
        self._partial: dict[tuple[int, int], bytes] = {}
        self._depth = (size - 1).bit_length() if size > 0 else 0
        self._levels: list[str | None] = [None] * self._depth
        self._prev: int | None = None

    def _sibling(self, index: int, level: int) -> bytes | None:
        width = 1 << level
        start = (index >> level) << level
        if (index >> level) & 1:
            return self._tree.range_hash(start - width, start)
        begin = start + width
        if begin >= self._size:
            return None
        end = min(begin + width, self._size)
        if end - begin == width:
            return self._tree.range_hash(begin, end)
        found = self._partial.get((begin, end))
        if found is None:
            found = self._partial[(begin, end)] = self._tree.range_hash(begin, end)
        return found

    def inclusion_proof(self, index: int) -> list[str]:
        """Base64 audit path of leaf ``index`` (leaf to root), as ``inclusion_proof`` builds it."""
        if not 0 <= index < self._size:
            raise ProofError(f"leaf index {index} is outside the tree of size {self._size}")
        levels = self._levels
        fresh = self._depth if self._prev is None else (index ^ self._prev).bit_length()
        for level in range(min(fresh, self._depth)):
            h = self._sibling(index, level)
            levels[level] = None if h is None else _b64(h)
        self._prev = index
        return [h for h in levels if h is not None]


# -- writing ----------------------------------------------------------------------------


class _JsonBundleWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._first = True

    def header(self, header: dict[str, Any]) -> None:
        head = {"logaudit_bundle": BUNDLE_VERSION, "layout": "json", "header": header}
        self._sink.write(orjson.dumps(head)[:-1] + b',"events":[')

    def event(self, record: dict[str, Any]) -> None:
        self._sink.write((b"\n" if self._first else b",\n") + orjson.dumps(record))
        self._first = False

    def manifest(self, manifest: dict[str, Any]) -> None:
        tail = b"" if self._first else b"\n"
        self._sink.write(tail + b'],"manifest":' + orjson.dumps(manifest) + b"}\n")


class _JsonlBundleWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def header(self, header: dict[str, Any]) -> None:
        head = {"logaudit_bundle": BUNDLE_VERSION, "layout": "jsonl", "header": header}
        self._sink.write(orjson.dumps(head) + b"\n")

    def event(self, record: dict[str, Any]) -> None:
        self._sink.write(orjson.dumps({"event": record}) + b"\n")

    def manifest(self, manifest: dict[str, Any]) -> None:
        self._sink.write(orjson.dumps({"manifest": manifest}) + b"\n")


def covering_checkpoint(store: AuditStore) -> StoredCheckpoint:
    """The newest checkpoint if it covers the whole stream, else a fresh one."""
    latest = store.latest_checkpoint()
    if latest is not None and latest.size == store.size:
        return latest
    return store.checkpoint()


def bounded_query(query: EventQuery, tree_size: int) -> EventQuery:
    """``query`` restricted to the events a tree of ``tree_size`` holds (``seq < tree_size``)."""
    bound = Condition(FieldRef("seq", "int"), "lt", tree_size)
    return dataclasses.replace(query, conditions=(*query.conditions, bound))


def _line_text(stored: StoredEvent) -> str:
    try:
        return stored.line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(
            f"stored entry seq {stored.seq} is not UTF-8; run verify_integrity()"
        ) from exc


def export_bundle(
    store: AuditStore,
    query: EventQuery,
    requestor: Requestor,
    output: Output,
    *,
    layout: BundleLayout | str = BundleLayout.JSONL,
    progress: ProgressCallback | None = None,
    overwrite: bool = True,
    batch_size: int = 1000,
) -> ExportResult:
    """Write an evidence bundle of the events matching ``query`` that ``requestor`` may see.

    Proofs lead to the newest checkpoint when it covers the whole stream,
    else to a fresh one; the bundle holds the matching events recorded up to
    that checkpoint (events recorded while the export runs are not in it).
    Clearance applies exactly as for any read. Recorded in the log: the read
    (``export``), the manifest (``export_manifest``, inside the bundle) and the
    custody record with the file's SHA-256 (``export_custody``).
    """
    lay = BundleLayout.parse(layout)
    export_id = uuid.uuid4().hex
    cp = covering_checkpoint(store)
    bounded = bounded_query(query, cp.size)
    stored_tree = store.proof_tree(cp.size)
    if stored_tree.root(cp.size) != cp.root_hash:
        raise IntegrityError(
            f"the stored leaves do not produce checkpoint #{cp.checkpoint_id}'s root; "
            "run verify_integrity()"
        )
    header = {
        "export_id": export_id,
        "origin": store.origin,
        "exported_at": format_ts(store.now()),
        "exported_by": requestor_dict(requestor),
        "criteria": bounded.describe(),
        "generator": f"logging_audit/{__version__}",
        "hash": HASH_ALGORITHM,
        "checkpoint": cp.note,
        "verifier_key": store.verifier_key,
    }
    tree = _ProofSource(stored_tree, cp.size)
    digest = hashlib.sha256()
    count = 0
    with open_output(output, overwrite=overwrite) as (sink, name):
        writer = _JsonBundleWriter(sink) if lay is BundleLayout.JSON else _JsonlBundleWriter(sink)
        writer.header(header)
        events = store.iter_events(
            bounded,
            requestor,
            purpose=EXPORT_ACTION,
            batch_size=batch_size,
            details={
                "export_id": export_id,
                "format": lay.value,
                "bundle": True,
                "checkpoint_size": cp.size,
            },
        )
        try:
            for stored in events:
                leaf = leaf_hash(stored.entry)
                proof = tree.inclusion_proof(stored.seq)
                writer.event(
                    {
                        "seq": stored.seq,
                        "leaf_hash": _b64(leaf),
                        "proof": proof,
                        "line": _line_text(stored),
                        "event": stored.to_dict(),
                    }
                )
                events_digest_update(digest, stored.seq, leaf)
                count += 1
                if progress is not None and count % _PROGRESS_EVERY == 0:
                    progress(count)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        del tree, stored_tree
        manifest_event = store.record_query(
            requestor,
            MANIFEST_ACTION,
            bounded,
            count,
            {
                "export_id": export_id,
                "events_sha256": digest.hexdigest(),
                "checkpoint_size": cp.size,
                "layout": lay.value,
            },
        )
        cp2 = store.checkpoint()
        tree2 = store.proof_tree(cp2.size)
        if tree2.root(cp2.size) != cp2.root_hash:
            raise IntegrityError(
                f"the stored leaves do not produce checkpoint #{cp2.checkpoint_id}'s root; "
                "run verify_integrity()"
            )
        consistency = tree2.consistency_proof(cp.size, cp2.size) if cp.size else []
        writer.manifest(
            {
                "seq": manifest_event.seq,
                "leaf_hash": _b64(leaf_hash(manifest_event.entry)),
                "proof": [_b64(p) for p in tree2.inclusion_proof(manifest_event.seq, cp2.size)],
                "line": _line_text(manifest_event),
                "checkpoint": cp2.note,
                "consistency_proof": [_b64(p) for p in consistency],
            }
        )
        del tree2
    if progress is not None:
        progress(count)
    summary = BundleSummary(cp.size, manifest_event.seq, cp2.size, digest.hexdigest())
    custody = record_custody(
        store,
        requestor,
        bounded,
        export_id=export_id,
        fmt=lay.value,
        count=count,
        sink=sink,
        output=name,
        extra={"bundle": True, "checkpoint_size": cp.size, "manifest_seq": manifest_event.seq},
    )
    return ExportResult(
        export_id, lay.value, count, sink.hexdigest(), sink.size, name, custody.seq, summary
    )
