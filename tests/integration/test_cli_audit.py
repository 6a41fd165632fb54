"""``logaudit audit …`` end to end, on SQLite and on PostgreSQL: output, files, exit codes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from logging_audit._cli import main
from logging_audit.audit.export import read_csv_events
from logging_audit.audit.testing import pg_test_url, pg_unavailable_reason, temporary_pg_schema

SECRET = "zanzibar"


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
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The ``--db …`` options of the test's store (a fresh SQLite file or PostgreSQL schema)."""
    if request.param == "sqlite":
        yield ["--db", str(tmp_path / "audit.db")]
        return
    url = pg_test_url()
    reason = pg_unavailable_reason(url)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    with temporary_pg_schema(url, prefix="logaudit_cli") as schema:
        yield ["--db", url, "--key-dir", str(tmp_path / "keys"), "--schema", schema]


def _key_file(db: list[str]) -> Path:
    if "--key-dir" in db:
        return Path(db[db.index("--key-dir") + 1]) / "signing.json"
    path = Path(db[1])
    return path.with_name(path.name + ".keys") / "signing.json"


def _record(capsys: pytest.CaptureFixture[str], db: list[str], *args: str) -> dict[str, object]:
    code, out, err = run(capsys, "audit", "record", *db, "--json", *args)
    assert code == 0, err
    return orjson.loads(out)  # type: ignore[no-any-return]


def _populate(capsys: pytest.CaptureFixture[str], db: list[str]) -> None:
    _record(
        capsys, db, "--type", "authentication", "--action", "login", "--actor", "user123",
        "--source-ip", "192.168.1.1",
        "--details", '{"ip_address": "192.168.1.1", "auth_method": "password"}',
    )  # fmt: skip
    _record(
        capsys, db, "--type", "data_access", "--action", "read", "--actor", "=cmd|' /C calc'!A0",
        "--resource", "document_456", "--clearance", "3",
    )  # fmt: skip
    _record(
        capsys, db, "--type", "administrative", "--action", "role_grant", "--actor", "root",
        "--clearance", "LEVEL_5", "--details", f'{{"word": "{SECRET}"}}',
    )  # fmt: skip


def test_record_prints_the_stored_event(capsys: pytest.CaptureFixture[str], db: list[str]) -> None:
    ev = _record(
        capsys, db, "--type", "system", "--action", "startup", "--actor", "system",
        "--actor-type", "system", "--event-id", "boot-1",
    )  # fmt: skip
    assert ev["event_id"] == "boot-1"
    assert ev["event_type"] == "system"
    assert ev["seq"] == 0
    code, out, _ = run(
        capsys, "audit", "record", *db, "--type", "system", "--action", "x", "--actor", "s"
    )
    assert code == 0
    assert out.startswith("recorded seq ")


def test_search_applies_clearance_and_criteria(
    capsys: pytest.CaptureFixture[str], db: list[str]
) -> None:
    _populate(capsys, db)
    code, out, _ = run(capsys, "audit", "search", *db, "--clearance", "3", "--json")
    assert code == 0
    page = orjson.loads(out)
    assert [e["actor"] for e in page["events"]] == ["user123", "=cmd|' /C calc'!A0"]
    assert SECRET not in out
    code, out, _ = run(
        capsys, "audit", "search", *db, "--clearance", "5", "--type", "administrative", "--json"
    )
    assert [e["action"] for e in orjson.loads(out)["events"]] == ["role_grant"]
    code, out, _ = run(
        capsys, "audit", "search", *db, "--clearance", "5", "--json",
        "--where", "details.auth_method=password", "--criteria", '{"success": true}',
        "--start", "2000-01-01", "--end", "2999-12-31", "--sort", "-ts",
    )  # fmt: skip
    assert code == 0
    assert [e["actor"] for e in orjson.loads(out)["events"]] == ["user123"]
    code, out, err = run(capsys, "audit", "search", *db, "--clearance", "5", "--limit", "1")
    assert code == 0
    assert out.count("\n") == 1
    assert "--cursor" in err


def test_export_every_format(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    _populate(capsys, db)
    base = ["--clearance", "3", "--type", "authentication", "--type", "data_access"]
    for fmt in ("json", "jsonl", "csv", "ocsf"):
        out_file = tmp_path / f"out.{fmt}"
        code, out, err = run(
            capsys, "audit", "export", *db, *base, str(out_file), "--format", fmt, "--json"
        )
        assert code == 0, err
        result = orjson.loads(out)
        data = out_file.read_bytes()
        assert result["count"] == 2
        assert result["sha256"] == hashlib.sha256(data).hexdigest()
        assert SECRET.encode() not in data
    rows = list(read_csv_events(tmp_path / "out.csv"))
    assert rows[1]["actor"] == "=cmd|' /C calc'!A0"
    assert b"'=cmd" in (tmp_path / "out.csv").read_bytes()
    code, out, err = run(capsys, "audit", "export", *db, *base, str(tmp_path / "out.csv"))
    assert code == 2
    assert "exists" in err
    code, out, err = run(
        capsys,
        "audit",
        "export",
        *db,
        *base,
        str(tmp_path / "out.csv"),
        "--force",
        "--format",
        "csv",
    )
    assert code == 0
    assert "exported 2 event(s)" in out
    assert "custody recorded at seq" in out


def test_bundle_export_and_offline_verification(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    _populate(capsys, db)
    bundle = tmp_path / "evidence.jsonl"
    code, out, err = run(
        capsys, "audit", "export", *db, "--clearance", "5", str(bundle), "--format", "jsonl",
        "--bundle",
    )  # fmt: skip
    assert code == 0, err
    assert "evidence bundle" in out
    code, out, _ = run(capsys, "keys", "show", "--key-file", _key_file(db), "--json")
    vkey = orjson.loads(out)["verifier_key"]
    code, out, err = run(capsys, "audit", "verify-bundle", bundle, "--trusted-key", vkey)
    assert code == 0, out + err
    assert out.startswith("OK ")
    assert "key: trusted" in out
    (tmp_path / "vkey.txt").write_text(vkey + "\n", encoding="utf-8")
    code, out, _ = run(
        capsys, "audit", "verify-bundle", bundle, "--trusted-key-file", tmp_path / "vkey.txt",
        "--json",
    )  # fmt: skip
    assert code == 0
    assert orjson.loads(out)["verified"] is True
    # a fresh process, through the console entry point, without --db
    proc = subprocess.run(
        [sys.executable, "-m", "logging_audit", "audit", "verify-bundle", str(bundle), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["key"]["source"] == "bundle"
    # tampered: exit 1 and the failure named
    lines = bundle.read_bytes().splitlines()
    del lines[2]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    code, out, _ = run(capsys, "audit", "verify-bundle", bad)
    assert code == 1
    assert out.startswith("FAIL")
    assert "[events_removed]" in out
    # errors in the arguments: exit 2
    code, _, err = run(capsys, "audit", "verify-bundle", bundle, "--trusted-key", "garbage")
    assert code == 2
    assert "not a verifier key" in err
    code, _, err = run(
        capsys, "audit", "export", *db, str(tmp_path / "x.csv"), "--format", "csv", "--bundle"
    )
    assert code == 2
    assert "json or jsonl" in err


def test_export_shows_progress_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    db: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _populate(capsys, db)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(
        capsys, "audit", "export", *db, "--clearance", "5", tmp_path / "b.json", "--bundle"
    )
    assert code == 0, err
    assert "exported" in out
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, _ = run(capsys, "audit", "verify-bundle", tmp_path / "b.json")
    assert code == 0
    # on a terminal the export first counted the events for its progress bar (recorded)
    code, out, _ = run(
        capsys, "audit", "search", *db, "--clearance", "5", "--action", "count", "--json"
    )
    assert orjson.loads(out)["count"] == 1


def test_export_to_stdout(
    db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _populate(capsys, db)
    proc = subprocess.run(
        [sys.executable, "-m", "logging_audit", "audit", "export", *db, "--clearance", "5",
         "-", "--format", "jsonl"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [orjson.loads(x) for x in proc.stdout.splitlines()]
    assert [e["actor"] for e in events][:3] == ["user123", "=cmd|' /C calc'!A0", "root"]
    assert b"exported" in proc.stderr


def test_verify_and_tampering(
    capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path
) -> None:
    _populate(capsys, db)
    code, out, _ = run(capsys, "audit", "verify", *db)
    assert code == 0, out
    assert out.startswith("OK")
    code, out, _ = run(capsys, "audit", "verify", *db, "--json")
    assert code == 0
    assert orjson.loads(out)["verified"] is True
    if "--key-dir" in db:
        return  # tampering with PostgreSQL rows is covered by the store's own tests
    conn = sqlite3.connect(db[1])
    conn.execute("UPDATE entries SET actor = 'someone' WHERE seq = 0")
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "audit", "verify", *db, "--json")
    assert code == 1
    report = orjson.loads(out)
    assert report["verified"] is False
    assert report["index_errors"][0]["column"] == "actor"


def test_prune(capsys: pytest.CaptureFixture[str], db: list[str]) -> None:
    _populate(capsys, db)
    code, out, _ = run(capsys, "audit", "prune", *db, "--before", "2000-01-01", "--json")
    assert code == 0
    assert orjson.loads(out)["removed"] == 0
    code, out, _ = run(capsys, "audit", "prune", *db, "--older-than-days", "0", "--as", "ops")
    assert code == 0
    assert out.startswith("removed ")
    code, out, _ = run(capsys, "audit", "verify", *db)
    assert code == 0, out
    code, _, err = run(capsys, "audit", "prune", *db)
    assert code == 2
    assert "exactly one of" in err


def test_agents(capsys: pytest.CaptureFixture[str], db: list[str], tmp_path: Path) -> None:
    reg = ["--registry", str(tmp_path / "agents.db")] if "--key-dir" in db else []
    code, out, _ = run(capsys, "audit", "agents", "list", *db, *reg, "--json")
    assert code == 0
    assert orjson.loads(out) == []
    key = "11" * 32
    code, out, err = run(
        capsys, "audit", "agents", "add", *db, *reg, "A-12345", "--clearance", "3",
        "--name", "indexer", "--public-key", key, "--metadata", '{"team": "search"}',
        "--as", "admin", "--json",
    )  # fmt: skip
    assert code == 0, err
    agent = orjson.loads(out)
    assert agent["clearance_level"] == 3
    assert agent["public_key"] == key
    code, out, _ = run(capsys, "audit", "agents", "show", *db, *reg, "A-12345", "--json")
    assert orjson.loads(out)["name"] == "indexer"
    code, out, _ = run(capsys, "audit", "agents", "list", *db, *reg)
    assert out.startswith("A-12345 L3 indexer key ")
    code, _, err = run(capsys, "audit", "agents", "add", *db, *reg, "A-12345", "--clearance", "1")
    assert code == 2
    assert "already registered" in err
    code, _, err = run(capsys, "audit", "agents", "show", *db, *reg, "nobody")
    assert code == 2
    # the registration is in the audit trail
    code, out, _ = run(
        capsys, "audit", "search", *db, "--clearance", "5", "--action", "agent_register", "--json"
    )
    (event,) = orjson.loads(out)["events"]
    assert event["actor"] == "admin"
    assert event["details"]["agent_id"] == "A-12345"


def test_clear_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    code, _, err = run(capsys, "audit", "search", "--db", missing)
    assert code == 2
    assert "no audit database" in err
    assert not missing.exists()
    db = ["--db", str(tmp_path / "a.db")]
    run(capsys, "audit", "record", *db, "--type", "system", "--action", "x", "--actor", "s")
    code, _, err = run(capsys, "audit", "search", *db, "--criteria", "[1]")
    assert (code, "JSON object" in err) == (2, True)
    code, _, err = run(capsys, "audit", "search", *db, "--where", "nofield=1")
    assert (code, "unknown search field" in err) == (2, True)
    code, _, err = run(capsys, "audit", "search", *db, "--start", "yesterday")
    assert (code, "not an ISO date" in err) == (2, True)
    code, _, err = run(capsys, "audit", "search", *db, "--clearance", "9")
    assert code == 2
    code, _, err = run(capsys, "audit", "search", "--db", "postgresql://u@127.0.0.1:1/x")
    assert (code, "--key-dir is required" in err) == (2, True)
    code, _, err = run(capsys, "audit", "agents", "list", "--db", "postgresql://u@127.0.0.1:1/x")
    assert (code, "--registry is required" in err) == (2, True)
    code, _, err = run(
        capsys, "audit", "record", *db, "--type", "system", "--action", "x", "--actor", "s",
        "--details", "{bad json",
    )  # fmt: skip
    assert (code, "--details is not JSON" in err) == (2, True)
