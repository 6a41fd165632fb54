"""Tampering with the database directly: ``verify_integrity`` names each kind of change.

Each attack is named data: SQL run behind the store's back, and what the
report must then say (a ledger failure kind, or an index column).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.store import AuditStore
from logging_audit.audit.testing import FakeClock
from logging_audit.errors import IntegrityError


def _replace_note(rows: Callable[..., list[tuple[Any, ...]]]) -> None:
    """Swap the signature of the newest checkpoint for one by a key nobody trusts."""
    from logging_audit.ledger import NoteSigner, open_checkpoint, sign_note  # noqa: F401

    (cid, note), *_ = rows("SELECT id, note FROM checkpoints ORDER BY id DESC")
    text = note.split("\n\n")[0] + "\n"
    forged = sign_note(text, NoteSigner.generate(note.split("\n")[0]))
    rows("UPDATE checkpoints SET note = ? WHERE id = ?", (forged, cid))


def _forge_checkpoint_root(rows: Callable[..., list[tuple[Any, ...]]]) -> None:
    (cid, note), *_ = rows("SELECT id, note FROM checkpoints ORDER BY id DESC")
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="  # another root, same (now invalid) signature
    rows("UPDATE checkpoints SET note = ? WHERE id = ?", ("\n".join(lines), cid))


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Callable[..., list[tuple[Any, ...]]]], None]
    ledger_kinds: frozenset[str] = frozenset()
    index_columns: frozenset[str] = frozenset()


ATTACKS = [
    Attack(
        "update-details-in-bytes",
        lambda sql: sql(
            "UPDATE entries SET line = ? WHERE seq = 2",
            (bytes(sql("SELECT line FROM entries WHERE seq = 2")[0][0]).replace(b"bob", b"eve"),),
        ),
        frozenset({"modified_entry"}),
        frozenset({"actor", "search_text"}),
    ),
    Attack(
        "delete-row",
        lambda sql: sql("DELETE FROM entries WHERE seq = 3"),
        frozenset({"deleted_entries"}),
    ),
    Attack(
        "insert-row-by-hand",
        lambda sql: sql(
            "INSERT INTO entries (seq, line, leaf_hash, kind, ts_us) "
            "SELECT 1000, line, leaf_hash, kind, ts_us FROM entries WHERE seq = 1"
        ),
        frozenset({"replayed_seq"}),
        frozenset({"seq", "ledger_state.size"}),
    ),
    Attack(
        "index-actor-changed",
        lambda sql: sql("UPDATE entries SET actor = 'mallory' WHERE seq = 1"),
        index_columns=frozenset({"actor"}),
    ),
    Attack(
        "index-time-changed",
        lambda sql: sql("UPDATE entries SET ts_us = 0 WHERE seq = 1"),
        index_columns=frozenset({"ts_us"}),
    ),
    Attack(
        "index-clearance-lowered",
        lambda sql: sql("UPDATE entries SET clearance = 1 WHERE seq = 0"),
        index_columns=frozenset({"clearance"}),
    ),
    Attack(
        "leaf-hash-changed",
        lambda sql: sql("UPDATE entries SET leaf_hash = ? WHERE seq = 0", (bytes(32),)),
        index_columns=frozenset({"leaf_hash"}),
    ),
    Attack("checkpoint-replaced-other-key", _replace_note, frozenset({"unknown_signer"})),
    Attack("checkpoint-root-forged", _forge_checkpoint_root, frozenset({"forged_checkpoint"})),
    Attack(
        "checkpoint-size-column",
        lambda sql: sql("UPDATE checkpoints SET tree_size = 1"),
        index_columns=frozenset({"checkpoints.1"}),
    ),
    Attack(
        "state-row-rewound",
        lambda sql: sql("UPDATE ledger_state SET size = 2"),
        index_columns=frozenset({"ledger_state.size"}),
    ),
]


@pytest.fixture
def filled(store: AuditStore, clock: FakeClock) -> AuditStore:
    for actor in ("alice", "bob", "bob", "carol", "dave"):
        store.append(
            [AuditEvent("authentication", "login", actor, clearance=3, details={"who": actor})]
        )
        clock.advance(1)
    store.checkpoint()
    assert store.verify_integrity().verified
    return store


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_tampering_is_named(filled: AuditStore, raw_sql: Any, attack: Attack, backend: str) -> None:
    attack.run(raw_sql)
    report = filled.verify_integrity()
    assert not report.verified
    kinds = {f.kind.value for f in report.ledger.failures}
    columns = {f.column for f in report.index_failures}
    assert attack.ledger_kinds <= kinds, (kinds, columns)
    assert attack.index_columns <= columns, (kinds, columns)
    d = report.to_dict()
    assert d["verified"] is False
    assert d["errors"] or d["index_errors"]
    with pytest.raises(IntegrityError):
        report.raise_for_failures()


def test_details_document_tampering_is_found(
    filled: AuditStore, raw_sql: Any, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("only PostgreSQL keeps a details document beside the entry bytes")
    raw_sql("""UPDATE entries SET details = '{"planted": true}'::jsonb WHERE seq = 1""")
    failures = filled.verify_integrity().index_failures
    assert [(f.seq, f.column) for f in failures] == [(1, "details")]


def test_lexeme_tampering_is_found(filled: AuditStore, raw_sql: Any, backend: str) -> None:
    raw_sql("UPDATE entries SET search_text = 'planted words' WHERE seq = 1")
    failures = filled.verify_integrity().index_failures
    assert [(f.seq, f.column) for f in failures] == [(1, "search_text")]


def test_fts_index_tampering_is_found(filled: AuditStore, raw_sql: Any, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL's tsv is a generated column: it cannot be written")
    raw_sql("INSERT INTO entries_fts (rowid, search_text) VALUES (2, 'planted words')")
    assert "text_index" in {f.column for f in filled.verify_integrity().index_failures}


def test_report_never_carries_event_content(filled: AuditStore, raw_sql: Any) -> None:
    raw_sql("UPDATE entries SET actor = 'mallory' WHERE seq = 1")
    text = repr(filled.verify_integrity().to_dict())
    assert "mallory" not in text
    assert "bob" not in text
