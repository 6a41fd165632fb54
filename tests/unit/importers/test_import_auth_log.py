"""OpenSSH syslog lines → authentication events, marked with their source."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from logging_audit.audit.factory import open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.store import AuditStore
from logging_audit.detection.model import obs_from_stored
from logging_audit.errors import ConfigError
from logging_audit.importers import AuthLogParser, import_auth_log
from logging_audit.importers.auth_log import ParsedLine, parse_tz

READER = Requestor("t", 5)


def parse(line: str, year: int = 2024) -> ParsedLine | str:
    return AuthLogParser(year=year).parse(line)


@pytest.mark.parametrize(
    ("line", "kind", "user", "host", "outcome"),
    [
        (
            "Mar  4 10:00:01 web1 sshd[101]: Failed password for alice from 192.0.2.4 "
            "port 5022 ssh2",
            "failed",
            "alice",
            "192.0.2.4",
            "failure",
        ),
        (
            "Mar  4 10:00:01 web1 sshd[101]: Failed password for invalid user admin from 192.0.2.4 "
            "port 5022 ssh2",
            "failed",
            "admin",
            "192.0.2.4",
            "failure",
        ),
        (
            "Mar  4 10:00:01 web1 sshd[101]: Accepted publickey for bob from 2001:db8::7 "
            "port 50 ssh2: "
            "ED25519 SHA256:abc",
            "accepted",
            "bob",
            "2001:db8::7",
            "success",
        ),
        (
            "Mar  4 10:00:01 web1 sshd[101]: Invalid user oracle from ::ffff:192.0.2.9 port 4",
            "invalid",
            "oracle",
            "192.0.2.9",
            "failure",
        ),
        (
            "Mar  4 10:00:01 web1 sshd[101]: User root from 192.0.2.4 not allowed because "
            "not listed "
            "in AllowUsers",
            "not_allowed",
            "root",
            "192.0.2.4",
            "failure",
        ),
        (
            "2024-03-04T10:00:01.5+01:00 web1 sshd[7]: pam_unix(sshd:auth): "
            "authentication failure; "
            "logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.5  user=carol",
            "pam_unix",
            "carol",
            "192.0.2.5",
            "failure",
        ),
        (
            "<38>1 2024-03-04T10:00:01Z web1 sshd 99 - - Failed password for dan from 192.0.2.6 "
            "port 1 ssh2",
            "failed",
            "dan",
            "192.0.2.6",
            "failure",
        ),
        (
            "Mar  4 10:00:01 [sshd]: error: PAM: Authentication failure for erin from host.example",
            "pam",
            "erin",
            "host.example",
            "failure",
        ),
        (
            "Mar  4 10:00:01 web1 sshd[5]: Did not receive identification string from 192.0.2.8",
            "no_ident",
            None,
            "192.0.2.8",
            "failure",
        ),
    ],
)
def test_messages(line: str, kind: str, user: str | None, host: str, outcome: str) -> None:
    got = parse(line)
    assert isinstance(got, ParsedLine), got
    assert (got.kind, got.user, got.host, got.outcome) == (kind, user, host, outcome)


def test_a_user_name_cannot_inject_a_source() -> None:
    line = (
        "Mar  4 10:00:01 h sshd[1]: Failed password for invalid user x from 10.0.0.1 port 1 ssh2 "
        "from 192.0.2.200 port 2 ssh2"
    )
    got = parse(line)
    assert isinstance(got, ParsedLine)
    assert got.host == "192.0.2.200"
    assert got.user == "x from 10.0.0.1 port 1 ssh2"
    info = (
        "Mar  4 10:00:01 h sshd[1]: Failed password for u from 192.0.2.7 port 9 ssh2: from 10.9.9.9"
    )
    got = parse(info)
    assert isinstance(got, ParsedLine)
    assert got.host == "192.0.2.7"


def test_host_of_a_pid_carries_over() -> None:
    p = AuthLogParser(year=2024)
    assert (
        p.parse("Mar  4 10:00:00 h sshd[42]: Connection from 192.0.2.9 port 5 on 10.0.0.1 port 22")
        == "connection_bookkeeping"
    )
    got = p.parse(
        "Mar  4 10:00:03 h sshd[42]: Disconnecting: Too many authentication failures [preauth]"
    )
    assert isinstance(got, ParsedLine)
    assert got.host == "192.0.2.9"
    assert got.outcome == "failure"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "blank"),
        ("# comment", "comment"),
        ("garbage", "not_syslog"),
        (
            "Dez 31 11:59:59 [sshd] error: PAM: Authentication failure for k from 192.0.2.1",
            "unparsable_time",
        ),
        ("Mar  4 10:00:01 web1 cron[3]: job started", "not_sshd"),
        (
            "Mar  4 10:00:01 web1 sshd[3]: Server listening on 0.0.0.0 port 22.",
            "unrecognised_sshd_message",
        ),
    ],
)
def test_skip_reasons(line: str, reason: str) -> None:
    assert parse(line) == reason


def test_year_and_zone() -> None:
    p = AuthLogParser(
        year=2024, tz=parse_tz("+02:00"), reference=datetime(2024, 2, 1, tzinfo=timezone.utc)
    )
    got = p.parse("Dec 31 23:00:00 h sshd[1]: Failed password for u from 192.0.2.1 port 1 ssh2")
    assert isinstance(got, ParsedLine)
    assert got.when == datetime(2023, 12, 31, 21, 0, tzinfo=timezone.utc)  # the year before
    with pytest.raises(ConfigError, match="time zone"):
        parse_tz("Mars/Olympus")


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return open_store(tmp_path / "imported.db", synchronous="NORMAL")


def test_import_marks_source_and_digest(tmp_path: Path, store: AuditStore) -> None:
    log = tmp_path / "auth.log"
    log.write_text(
        "Mar  4 10:00:01 web1 sshd[1]: Failed password for alice from 192.0.2.4 port 1 ssh2\n"
        "Mar  4 10:00:02 web1 sshd[1]: Accepted password for alice from 192.0.2.4 port 1 ssh2\n"
        "Mar  4 10:00:03 web1 CRON[2]: pam_unix(cron:session): session opened for user root\n"
    )
    report = import_auth_log(log, store, year=2024)
    assert (report.lines, report.imported, dict(report.skipped)) == (3, 2, {"not_sshd": 1})
    events = list(store.iter_events(EventQuery.build({"event_type": "authentication"}), READER))
    assert [e.event.outcome for e in events] == ["failure", "success"]
    d = events[0].event.details
    assert d["source_file"] == "auth.log"
    assert d["source_digest"] == report.digest
    assert d["line"] == 1
    assert d["event_time"] == "2024-03-04T10:00:01.000000Z"
    assert events[0].event.source_node == "web1"
    assert (
        obs_from_stored(events[0]).ts
        == datetime(2024, 3, 4, 10, 0, 1, tzinfo=timezone.utc).timestamp()
    )
    header = list(store.iter_events(EventQuery.build({"action": "import_source"}), READER))
    assert header[0].event.details["source_digest"] == report.digest
    with pytest.raises(ConfigError, match="already imported"):
        import_auth_log(log, store, year=2024)
    store.close()
