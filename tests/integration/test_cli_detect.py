"""``logaudit import …`` and ``logaudit detect …`` end to end."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from logging_audit._cli import cli

RULE = """title: Root login attempt
id: cli-root
level: high
logsource:
  category: authentication
detection:
  sel:
    user: root
  condition: sel
"""


def _auth_log(path: Path) -> Path:
    lines = [
        f"Mar  4 10:{i // 60:02d}:{i % 60:02d} gw sshd[{100 + i}]: Failed password for "
        f"{'root' if i % 3 else 'admin'} from 203.0.113.66 port {4000 + i} ssh2"
        for i in range(15)
    ]
    lines += [
        "Mar  4 11:00:00 gw sshd[900]: Failed password for alice from 198.51.100.2 port 1 ssh2",
        "Mar  4 11:00:05 gw sshd[900]: Accepted password for alice from 198.51.100.2 port 1 ssh2",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_auth_log_then_scan_finds_the_brute_force(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "imported.db")
    log = _auth_log(tmp_path / "auth.log")
    out = runner.invoke(
        cli, ["import", "auth-log", str(log), "--db", db, "--year", "2024", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = orjson.loads(out.output)
    assert report["imported"] == 17
    assert report["digest"].startswith("sha256:")
    again = runner.invoke(cli, ["import", "auth-log", str(log), "--db", db, "--year", "2024"])
    assert again.exit_code != 0
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "root.yml").write_text(RULE)
    out = runner.invoke(
        cli, ["detect", "scan", "--db", db, "--no-baseline", "--sigma", str(rules), "--json"]
    )
    assert out.exit_code == 0, out.output
    alerts = orjson.loads(out.output)
    brute = [a for a in alerts if a["detector"] == "brute_force"]
    assert [a["source_ip"] for a in brute] == ["203.0.113.66"]
    assert any(a["detector"] == "sigma:cli-root" for a in alerts)
    assert all(a["alert_id"] for a in alerts)


def test_import_jsonl_and_detect_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "j.db")
    src = tmp_path / "e.jsonl"
    src.write_bytes(
        b"\n".join(orjson.dumps({"who": "svc", "what": "read", "res": f"kb/{i}"}) for i in range(5))
    )
    out = runner.invoke(
        cli,
        [
            "import",
            "jsonl",
            str(src),
            "--db",
            db,
            "--map",
            "actor=who",
            "--map",
            "action=what",
            "--map",
            "resource=res",
            "--set",
            "event_type=data_access",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "imported 5 of 5 lines" in out.output
    out = runner.invoke(cli, ["detect", "learn", "--db", db, "--json"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.output)["tree_size"] > 0
    out = runner.invoke(cli, ["detect", "analyze", "--db", db, "--actor", "svc"])
    assert out.exit_code == 0, out.output
    assert "no anomalies" in out.output
    out = runner.invoke(cli, ["detect", "follow", "--db", db, "--polls", "1", "--interval", "0.01"])
    assert out.exit_code == 0, out.output
    rule = tmp_path / "r.yml"
    rule.write_text(RULE)
    out = runner.invoke(cli, ["detect", "check-rules", str(rule)])
    assert out.exit_code == 0
    assert "cli-root" in out.output
    bad = tmp_path / "bad.yml"
    bad.write_text(RULE.replace("user: root", "user|base64: root"))
    out = runner.invoke(cli, ["detect", "check-rules", str(bad)])
    assert out.exit_code != 0
    assert "base64" in str(out.exception)
    out = runner.invoke(cli, ["detect", "scan", "--db", str(tmp_path / "missing.db")])
    assert out.exit_code != 0
