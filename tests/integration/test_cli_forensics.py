"""``logaudit forensics …`` end to end, on SQLite and on PostgreSQL: output, files, exit codes."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from logging_audit._cli import main
from logging_audit.audit.testing import (
    FakeClock,
    pg_test_url,
    pg_unavailable_reason,
    temporary_pg_schema,
)
from logging_audit.audit_service import AuditService
from logging_audit.secure_logger import SecureHandler

T0 = datetime(2025, 10, 15, 10, tzinfo=timezone.utc)


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``logaudit`` in-process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``args``: the ``--db …`` options; ``open``: AuditService keyword arguments."""
    if request.param == "sqlite":
        path = tmp_path / "audit.db"
        yield {"args": ["--db", str(path)], "open": {"database_url": path}, "sqlite": path}
        return
    url = pg_test_url()
    reason = pg_unavailable_reason(url)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    keys = tmp_path / "keys"
    with temporary_pg_schema(url, prefix="logaudit_forensics") as schema:
        yield {
            "args": ["--db", url, "--key-dir", str(keys), "--schema", schema],
            "open": {
                "database_url": url,
                "key_dir": keys,
                "schema": schema,
                "agent_db": tmp_path / "agents.db",
            },
            "sqlite": None,
        }


@pytest.fixture
def populated(db: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Audit events on node-a and a SecureLogger stream on node-b (its clock 60 s fast)."""
    clock = FakeClock(T0)
    ids = []
    with AuditService(**db["open"], clock=clock, node_id="node-a") as svc:
        for i in range(4):
            clock.now = T0 + timedelta(minutes=i)
            ids.append(
                svc.record_event(
                    "A-12345", "data_access", {"span_id": f"s{i}"}, 2, resource=f"d{i}"
                )
            )
        svc.query_events(criteria={"clearance": {"gte": 4}}, requestor_id="A-12345")
    handler = SecureHandler(name="app", log_dir=tmp_path / "logs", node_id="node-b", archive=False)
    for i in range(4):
        when = T0 + timedelta(minutes=i, seconds=60.5)
        handler.emit(
            logging.makeLogRecord(
                {
                    "name": "app",
                    "levelno": 20,
                    "levelname": "INFO",
                    "msg": f"served {i} to A-12345",
                    "created": when.timestamp(),
                    "agent_id": "A-12345",
                }
            )
        )
    handler.close()
    return {"db": db["args"], "ids": ids, "log": tmp_path / "logs" / "app", "sqlite": db["sqlite"]}


def test_timeline_text_with_offset(
    capsys: pytest.CaptureFixture[str], populated: dict[str, Any]
) -> None:
    code, out, err = run(
        capsys,
        "forensics",
        "timeline",
        *populated["db"],
        "--agent",
        "A-12345",
        "--log",
        populated["log"],
        "--offset",
        "node-b=60",
        "--as",
        "dana",
    )
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("2025-")]
    nodes = [line.split()[2] for line in lines if "[" in line]
    assert nodes[:4] == ["node-a", "node-b", "node-a", "node-b"]
    assert "-- custody: event" in out
    assert "[ok]" in out


def test_timeline_files_and_their_custody(
    capsys: pytest.CaptureFixture[str], populated: dict[str, Any], tmp_path: Path
) -> None:
    for fmt, name in (
        ("timesketch", "t.jsonl"),
        ("csv", "t.csv"),
        ("html", "t.html"),
        ("json", "t.json"),
    ):
        target = tmp_path / name
        code, _out, err = run(
            capsys,
            "forensics",
            "timeline",
            *populated["db"],
            "--agent",
            "A-12345",
            "--log",
            populated["log"],
            "--format",
            fmt,
            "-o",
            target,
        )
        assert code == 0, err
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest in err
    first = orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[0])
    assert {"message", "datetime", "timestamp_desc"} <= set(first)
    doc = orjson.loads((tmp_path / "t.json").read_bytes())
    assert doc["custody"]["result_sha256"]
    code, out, _ = run(
        capsys,
        "audit",
        "search",
        *populated["db"],
        "--clearance",
        "5",
        "--action",
        "forensic_custody",
        "--json",
    )
    assert code == 0
    assert out.count('"forensic_custody"') >= 8  # a reconstruction and a file each time


def _tamper_seq_1(populated: dict[str, Any]) -> None:
    """Rewrite the bytes of seq 1 behind the store's back (index columns untouched)."""
    if populated["sqlite"] is not None:
        conn = sqlite3.connect(populated["sqlite"])
        (line,) = conn.execute("SELECT line FROM entries WHERE seq = 1").fetchone()
        forged = bytes(line).replace(b'"d1"', b'"d7"')
        conn.execute("UPDATE entries SET line = ? WHERE seq = 1", (forged,))
        conn.commit()
        conn.close()
        return
    import psycopg
    from psycopg import sql

    url, schema = populated["db"][1], populated["db"][-1]
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        row = pg.execute("SELECT line FROM entries WHERE seq = 1").fetchone()
        assert row is not None
        forged = bytes(row[0]).replace(b'"d1"', b'"d7"')
        pg.execute("UPDATE entries SET line = %s WHERE seq = 1", (forged,))


def test_strict_fails_on_a_tampered_database(
    capsys: pytest.CaptureFixture[str], populated: dict[str, Any]
) -> None:
    code, _out, err = run(capsys, "forensics", "timeline", *populated["db"], "--strict")
    assert code == 0, err
    _tamper_seq_1(populated)
    code, out, _ = run(capsys, "forensics", "timeline", *populated["db"], "--strict")
    assert code == 1
    assert "[!!]" in out
    assert "inclusion proof of seq 1" in out
    assert "modified after it was recorded" in out


def test_patterns_correlate_report(
    capsys: pytest.CaptureFixture[str], populated: dict[str, Any], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "forensics",
        "patterns",
        *populated["db"],
        "--agent",
        "A-12345",
        "--end",
        "2025-10-15",
        "--json",
    )
    assert code == 0, err
    (report,) = orjson.loads(out)
    assert report["agent_id"] == "A-12345"
    assert report["baseline"]["events"] >= 4

    code, out, err = run(capsys, "forensics", "correlate", *populated["db"], "--json")
    assert code == 0, err
    kinds = {f["kind"] for f in orjson.loads(out)["findings"]}
    assert "clearance_probe" in kinds

    code, out, err = run(
        capsys,
        "forensics",
        "report",
        *populated["db"],
        "-o",
        tmp_path / "rep",
        "--agent",
        "A-12345",
        "--log",
        populated["log"],
    )
    assert code == 0, err
    assert (tmp_path / "rep" / "report.html").exists()
    for png in (
        "heatmap_actor_resource",
        "heatmap_hour_weekday",
        "activity_timeline",
        "anomaly_scores",
    ):
        assert (tmp_path / "rep" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_incident_commands(capsys: pytest.CaptureFixture[str], populated: dict[str, Any]) -> None:
    db = populated["db"]
    code, out, err = run(
        capsys,
        "forensics",
        "incident",
        "open",
        *db,
        "Data theft",
        "--agent",
        "A-12345",
        "--id",
        "INC-20251015-001",
        "--tag",
        "exfil",
        "--json",
    )
    assert code == 0, err
    assert orjson.loads(out)["status"] == "open"
    event = populated["ids"][1]
    assert (
        run(
            capsys,
            "forensics",
            "incident",
            "note",
            *db,
            "INC-20251015-001",
            "found it",
            "--event",
            event,
        )[0]
        == 0
    )
    assert (
        run(
            capsys, "forensics", "incident", "tag", *db, "INC-20251015-001", "key", "--event", event
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "forensics",
            "incident",
            "update",
            *db,
            "INC-20251015-001",
            "--status",
            "contained",
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "forensics", "incident", "show", *db, "INC-20251015-001", "--json")
    shown = orjson.loads(out)
    assert shown["status"] == "contained"
    assert shown["event_tags"] == {event: ["key"]}
    code, out, _ = run(capsys, "forensics", "incident", "list", *db)
    assert "INC-20251015-001 [contained, medium] Data theft" in out
    code, out, _ = run(capsys, "forensics", "timeline", *db, "--incident", "INC-20251015-001")
    assert code == 0
    assert "found it" in out
    assert "tags: key" in out
    code, _, err = run(capsys, "forensics", "incident", "note", *db, "INC-NONE", "x")
    assert code == 2
    assert "no incident" in err


def test_missing_database_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "forensics", "timeline", "--db", tmp_path / "none.db")
    assert code == 2
    assert "no audit database" in err
