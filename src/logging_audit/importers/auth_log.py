"""OpenSSH lines of syslog / ``auth.log`` files → ``authentication`` audit events.

Syslog headers understood: RFC 3164 (``Feb 25 14:34:10 host sshd[31602]: …``,
the host optional, ``[sshd]`` as the program too), ISO 8601 (rsyslog's
``2015-04-16T18:02:50.321974+00:00 host sshd[2716]: …``), RFC 5424
(``<38>1 2019-07-08T17:40:16-04:00 host sshd 57915 - - …``), ``2005/08/14
11:57:00 [sshd] …`` and epoch seconds. RFC 3164 has no year: ``year``
(default: the file's modification year, minus one for months after it) and
``tz`` (default UTC) complete it. Lines whose month is not an English
abbreviation are skipped as ``unparsable_time``.

Messages of ``sshd`` mapped (others are skipped, and counted by reason):

=========================================================  =========================================
message                                                    event (action, outcome)
=========================================================  =========================================
``Failed <method> for [invalid user] U from H port P``     ``login``, failure (``method``)
``Accepted <method> for U from H port P``                  ``login``, success
``Invalid user U from H`` / ``illegal user``               ``login``, failure (``invalid_user``)
``User U from H not allowed because …``                    ``login``, failure (``reason``)
``error: PAM: Authentication failure for U from H``        ``login``, failure
``pam_unix(sshd:auth): authentication failure; … rhost=H``  ``login``, failure
``maximum authentication attempts exceeded for U from H``  ``login``, failure
``ROOT LOGIN REFUSED FROM H``                              ``login``, failure, user root
``Disconnecting: Too many authentication failures [for U]`` ``login``, failure (host from the pid)
``Received disconnect from H: …: Auth fail``               ``login``, failure
``Received disconnect from H: 11: Bye Bye [preauth]``      ``login``, failure (tool's goodbye)
``Disconnecting invalid user U H port P: Change of user…`` ``login``, failure
``refused connect from NAME (H)`` (TCP wrappers)           ``connect``, failure
``Did not receive identification string from H`` …        ``connect``, failure (``reason``)
``Connection closed/reset by … H … [preauth]``             ``disconnect``, unknown
``pam_unix(sshd:session): session opened/closed for U``    ``session_open`` / ``session_close``
=========================================================  =========================================

Parsing is anchored as fail2ban's filter is: the host is the *last* ``from H
[port P] [sshN]`` before an optional ``: auth info``, so a user name like
``x from 10.0.0.1`` cannot inject a source. ``::ffff:`` is stripped from
IPv4-mapped addresses. A message without a host takes the host last seen
for the same ``sshd`` pid (``Connection from H``, earlier failures).

Every event is ``authentication``, actor = the user (``unknown`` if none),
``source_ip`` = the host, ``source_node`` = the syslog host, and ``details``
holds ``event_time``, ``source_file``, ``source_digest``, ``line``, ``raw``
(the line, at most 1 KiB), ``program``, ``pid`` and what the message said.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError, StorageError
from logging_audit.importers._common import ImportReport, event_id_for, file_digest, write_import
from logging_audit.iso_time import parse_iso_datetime
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["AuthLogParser", "ParsedLine", "import_auth_log", "parse_tz"]

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_PROG = r"(?:\[(?P<bprog>[\w./-]+)\]|(?P<prog>[\w./-]+?)(?:\[(?P<pid>\d+)\])?)"
_HOST = r"(?P<host>[^\s\[\]:]+)"
_BSD = re.compile(
    r"^(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)?\s+"
    rf"(?:{_HOST}\s+)?{_PROG}:?\s+(?P<msg>.*)$"
)
_ISO = re.compile(
    r"^(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+"
    rf"(?:{_HOST}\s+)?{_PROG}:?\s+(?P<msg>.*)$"
)
_SLASH = re.compile(
    r"^(?P<ymd>\d{4}/\d{2}/\d{2})\s+(?P<time>\d{2}:\d{2}:\d{2})\s+"
    rf"(?:{_HOST}\s+)?{_PROG}:?\s+(?P<msg>.*)$"
)
_EPOCH = re.compile(rf"^(?P<epoch>\d{{9,10}}(?:\.\d+)?)\s+(?:{_HOST}\s+)?{_PROG}:?\s+(?P<msg>.*)$")
_RFC5424 = re.compile(
    r"^<\d{1,3}>1\s+(?P<iso>\S+)\s+(?P<host>\S+)\s+(?P<prog>\S+)\s+(?P<pid>\S+)\s+\S+\s+"
    r'(?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+)\s?(?P<msg>.*)$'
)
_SOLARIS = re.compile(r"^\[ID \d+ [\w.]+\]\s*")

_TAIL = r"(?: port (?P<port>\d+))?(?: (?P<proto>ssh\d?))?(?:: .*)?$"
_INV = r"(?P<invalid>(?:invalid|illegal) user )?"
_PAM_WHAT = (
    r"(?:[Aa]uthentication (?:failure|error)"
    r"|User not known to the underlying authentication module)"
)
_PRE = r"(?: \[preauth\])?\s*$"
_PORT = r"(?: port (?P<port>\d+))?"
_PATTERN_TEXT: tuple[tuple[str, str], ...] = (
    ("failed", rf"^(?:error: )?Failed (?P<method>\S+) for {_INV}(?P<user>.*?) "
               rf"from (?P<h>\S+?){_TAIL}"),
    ("accepted", rf"^Accepted (?P<method>\S+) for (?P<user>.*?) from (?P<h>\S+?){_TAIL}"),
    ("invalid", rf"^(?:error: )?(?:[Ii]nvalid|[Ii]llegal) user (?P<user>.*?) "
                rf"from (?P<h>\S+?){_PORT}\s*$"),
    ("not_allowed", r"^User (?P<user>\S+) from (?P<h>\S+) not allowed because (?P<why>.+)$"),
    ("pam", rf"^(?:error: )?PAM: {_PAM_WHAT} for {_INV}(?P<user>.*?) from (?P<h>\S+?)"
            r"(?: via \S+)?\s*$"),
    ("pam_unix", r"^pam_unix\(sshd:auth\): authentication failure;.*?\bruser=(?P<ruser>\S*)\s+"
                 r"rhost=(?P<h>\S+)(?:\s+user=(?P<user>\S+))?"),
    ("max_attempts", rf"^(?:error: )?maximum authentication attempts exceeded for {_INV}"
                     rf"(?P<user>.*?) from (?P<h>\S+?){_PORT}(?: ssh\d?)?{_PRE}"),
    ("root_refused", rf"^ROOT LOGIN REFUSED FROM (?P<h>\S+?){_PORT}{_PRE}"),
    ("too_many", r"^(?:error: )?Disconnecting(?: (?:invalid|illegal) user (?P<user2>\S+) "
                 r"(?P<h>\S+) port \d+)?: "
                 rf"Too many authentication failures(?: for {_INV}(?P<user>\S+))?{_PRE}"),
    ("auth_fail_disconnect", rf"^(?:error: )?Received disconnect from (?P<h>\S+?){_PORT}:\s*\d+: "
                             rf".*Auth fail{_PRE}"),
    ("bye_preauth", rf"^(?:error: )?Received disconnect from (?P<h>\S+?){_PORT}:\s*11: "
                    rf"(?:Bye Bye|Normal Shutdown, Thank you for playing){_PRE}"),
    ("change_user", rf"^(?:error: )?Disconnecting {_INV}(?P<user>\S+) (?P<h>\S+) port \d+: "
                    r"Change of username or service not allowed"),
    ("refused_connect", r"^refused connect from \S+ \((?P<h>[^)\s]+)\)\s*$"),
    ("no_ident", rf"^Did not receive identification string from (?P<h>\S+?){_PORT}\s*$"),
    ("bad_protocol", rf"^Bad protocol version identification .* from (?P<h>\S+?){_PORT}\s*$"),
    ("negotiate", rf"^(?:fatal: )?Unable to negotiate with (?P<h>\S+?){_PORT}: .*$"),
    ("preauth_close", r"^(?:Connection (?:closed|reset) by|Disconnected from"
                      r"|Received disconnect from)"
                      r"(?: (?:authenticating|invalid) user (?P<user>.*?))? "
                      rf"(?P<h>[0-9a-fA-F:.]+|\S+?){_PORT}(?::.*?)?{_PRE}"),
    ("session_open", r"^pam_unix\(sshd:session\): session opened for user (?P<user>\S+)"),
    ("session_close", r"^pam_unix\(sshd:session\): session closed for user (?P<user>\S+)"),
    ("connection", r"^Connection from (?P<h>\S+?) port (?P<port>\d+)"),
)  # fmt: skip
_PATTERNS = [(kind, re.compile(text)) for kind, text in _PATTERN_TEXT]

_OUTCOMES: dict[str, tuple[str, str]] = {
    "failed": ("login", "failure"),
    "accepted": ("login", "success"),
    "invalid": ("login", "failure"),
    "not_allowed": ("login", "failure"),
    "pam": ("login", "failure"),
    "pam_unix": ("login", "failure"),
    "max_attempts": ("login", "failure"),
    "root_refused": ("login", "failure"),
    "too_many": ("login", "failure"),
    "auth_fail_disconnect": ("login", "failure"),
    "bye_preauth": ("login", "failure"),
    "change_user": ("login", "failure"),
    "refused_connect": ("connect", "failure"),
    "no_ident": ("connect", "failure"),
    "bad_protocol": ("connect", "failure"),
    "negotiate": ("connect", "failure"),
    "preauth_close": ("disconnect", "unknown"),
    "session_open": ("session_open", "success"),
    "session_close": ("session_close", "success"),
}
_SSHD = re.compile(r"^sshd(?:-session|-auth)?$")
_MAX_RAW = 1024


def parse_tz(value: str | None) -> tzinfo:
    """``UTC`` (default), ``+02:00`` / ``-0500``, or an IANA name (``Europe/Berlin``)."""
    if value is None or value.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", value)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(delta if m.group(1) == "+" else -delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(value)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"unknown time zone {value!r}") from exc


def _clean_host(host: str) -> str:
    host = host.strip().rstrip(",;")
    if host.lower().startswith("::ffff:") and "." in host:
        return host[7:]
    return host


@dataclass
class ParsedLine:
    """One recognised ``sshd`` message."""

    when: datetime
    kind: str
    action: str
    outcome: str
    user: str | None
    host: str | None
    node: str | None
    program: str
    pid: str | None
    facts: dict[str, Any] = field(default_factory=dict)


class AuthLogParser:
    """Parses lines in order (it remembers each sshd pid's host)."""

    def __init__(self, *, year: int, tz: tzinfo = timezone.utc, reference: datetime | None = None):
        """``year`` completes RFC 3164 times; a month after ``reference`` means the year before."""
        self.year = year
        self.tz = tz
        self.reference = reference
        self._pid_host: dict[tuple[str | None, str], str] = {}

    def _time(self, m: re.Match[str]) -> datetime | None:
        groups = m.groupdict()
        try:
            if groups.get("mon"):
                month = _MONTHS.get(groups["mon"].title())
                if month is None:
                    return None
                hh, mm, ss = (int(x) for x in groups["time"].split(":"))
                year = self.year
                if self.reference is not None and month > self.reference.month:
                    year -= 1
                return datetime(year, month, int(groups["day"]), hh, mm, ss, tzinfo=self.tz)
            if groups.get("iso"):
                when = parse_iso_datetime(groups["iso"])
                return when if when.tzinfo is not None else when.replace(tzinfo=self.tz)
            if groups.get("ymd"):
                when = datetime.strptime(f"{groups['ymd']} {groups['time']}", "%Y/%m/%d %H:%M:%S")
                return when.replace(tzinfo=self.tz)
            if groups.get("epoch"):
                return datetime.fromtimestamp(float(groups["epoch"]), timezone.utc)
        except (ValueError, OverflowError):
            return None
        return None

    def parse(self, line: str) -> ParsedLine | str:
        """A :class:`ParsedLine`, or the reason the line is skipped."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return "blank"
        if text.lstrip().startswith("#"):
            return "comment"
        m = None
        for rx in (_RFC5424, _BSD, _ISO, _SLASH, _EPOCH):
            m = rx.match(text)
            if m:
                break
        if m is None:
            return "not_syslog"
        when = self._time(m)
        if when is None:
            return "unparsable_time"
        g = m.groupdict()
        program = g.get("bprog") or g.get("prog") or ""
        if not _SSHD.match(program):
            return "not_sshd"
        pid, node = g.get("pid"), g.get("host")
        if pid == "-":
            pid = None
        msg = _SOLARIS.sub("", g["msg"]).strip()
        for kind, rx in _PATTERNS:
            pm = rx.match(msg)
            if pm:
                return self._event(kind, pm, when, node, program, pid)
        return "unrecognised_sshd_message"

    def _event(
        self,
        kind: str,
        m: re.Match[str],
        when: datetime,
        node: str | None,
        program: str,
        pid: str | None,
    ) -> ParsedLine | str:
        g = m.groupdict()
        host = _clean_host(g["h"]) if g.get("h") else None
        key = (node, pid) if pid else None
        if kind == "connection":
            if key and host:
                self._pid_host[key] = host
            return "connection_bookkeeping"
        if host and key:
            self._pid_host[key] = host
        elif host is None and key:
            host = self._pid_host.get(key)
        user = g.get("user") or g.get("user2") or g.get("ruser")
        if kind == "root_refused":
            user = "root"
        action, outcome = _OUTCOMES[kind]
        facts: dict[str, Any] = {"message_kind": kind}
        for name in ("method", "port", "proto", "why"):
            if g.get(name):
                facts["reason" if name == "why" else name] = g[name]
        if g.get("invalid") or kind == "invalid":
            facts["invalid_user"] = True
        if host is not None and not re.fullmatch(r"[0-9a-fA-F:.]+", host):
            facts["source_is_name"] = True
        return ParsedLine(
            when, kind, action, outcome, user or None, host, node, program, pid, facts
        )


def _events(
    lines: Iterable[str],
    parser: AuthLogParser,
    report: ImportReport,
    source: str,
    clearance: ClearanceLevel,
) -> Iterator[AuditEvent]:
    for n, line in enumerate(lines, 1):
        report.lines = n
        parsed = parser.parse(line)
        if isinstance(parsed, str):
            report.skip(n, parsed, line)
            continue
        iso = parsed.when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        report.saw_time(iso)
        details: dict[str, Any] = {
            "event_time": iso,
            "source_file": source,
            "source_digest": report.digest,
            "line": n,
            "raw": line.rstrip("\r\n")[:_MAX_RAW],
            "program": parsed.program,
            **parsed.facts,
        }
        if parsed.pid:
            details["pid"] = parsed.pid
        yield AuditEvent(
            event_type="authentication",
            action=parsed.action,
            actor=(parsed.user or "unknown")[:256],
            actor_type="user",
            outcome=parsed.outcome,
            source_ip=parsed.host[:256] if parsed.host else None,
            source_node=parsed.node[:256] if parsed.node else None,
            clearance=clearance,
            details=details,
            event_id=event_id_for(report.digest, n),
        )


def import_auth_log(
    path: str | os.PathLike[str],
    store: AuditStore,
    *,
    year: int | None = None,
    tz: str | tzinfo | None = None,
    clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_2,
) -> ImportReport:
    """Import an OpenSSH syslog / auth.log file into ``store`` (use a stream of its own).

    Returns the report (lines, imported, skipped by reason, digest, ids).
    """
    source = Path(path)
    digest, size = file_digest(source)
    try:
        mtime = datetime.fromtimestamp(source.stat().st_mtime, timezone.utc)
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc}") from exc
    zone = tz if isinstance(tz, tzinfo) else parse_tz(tz)
    parser = AuthLogParser(
        year=year if year is not None else mtime.year,
        tz=zone,
        reference=None if year is not None else mtime,
    )
    report = ImportReport(str(source.resolve()), digest, size, "auth_log")
    level = ClearanceLevel.coerce(clearance)
    options = {"year": parser.year, "tz": str(zone), "clearance": int(level)}
    try:
        with open(source, encoding="utf-8", errors="replace") as f:
            return write_import(
                store, report, _events(f, parser, report, source.name, level), options=options
            )
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc}") from exc
