"""``logaudit forensics timeline|patterns|correlate|report|incident`` over an audit store.

``--db`` names the audit store (SQLite path or URL, or a ``postgresql://`` URL
with ``--key-dir``); without it, ``$LOGAUDIT_DB``, then ``$LOGAUDIT_AUDIT_DB``,
then ``AuditService``'s default database. The analyst is ``--as`` (default: the
login name) at ``--clearance`` (default LEVEL_5: an investigation sees
everything; pass less to investigate with less). Every read is recorded in
the audit trail, every reconstruction and every file written gets a custody
record there. ``timeline --strict`` exits 1 when an entry failed or could not
be verified.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from logging_audit._cli.audit import open_store
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError
from logging_audit.forensics._common import default_database, requestor_for
from logging_audit.forensics.correlation import QueryCorrelator
from logging_audit.forensics.incidents import STATUSES, Incident, IncidentLog
from logging_audit.forensics.integrity import IntegrityState
from logging_audit.forensics.outputs import FORMATS, write_timeline
from logging_audit.forensics.pattern_analyzer import PatternAnalyzer
from logging_audit.forensics.report import build_report
from logging_audit.forensics.timeline import Gap, LogSource, TimelineAnalyzer

__all__ = ["forensics"]

_PATH = click.Path(path_type=Path)


def _login() -> str:
    try:
        return getpass.getuser() or "cli"
    except (OSError, KeyError):  # no login name in this environment
        return "cli"


def _dump(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _store(db: str | None, key_dir: Path | None, schema: str) -> AuditStore:
    return open_store(db or default_database(), key_dir, schema)


def _store_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--clearance",
        default="LEVEL_5",
        show_default=True,
        help="The analyst's clearance (1-5 or LEVEL_n); events above it stay invisible.",
    )(f)
    f = click.option("--as", "analyst", help="Who investigates (recorded; default: login name).")(f)
    f = click.option("--schema", default="logaudit", show_default=True, help="PostgreSQL schema.")(
        f
    )
    f = click.option(
        "--key-dir", type=_PATH, help="The stream's key directory (required for PostgreSQL)."
    )(f)
    return click.option(
        "--db",
        envvar="LOGAUDIT_DB",
        help="Audit store: SQLite path or sqlite:///path, or postgresql:// URL "
        "[env LOGAUDIT_DB; default: $LOGAUDIT_AUDIT_DB or audit_service/audit.db].",
    )(f)


def _offsets(items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        node, sep, value = item.partition("=")
        try:
            out[node.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not node.strip():
            raise ConfigError(f"--offset expects NODE=SECONDS, got {item!r}")
    return out


def _text_row(row: Any) -> str:
    if isinstance(row, Gap):
        where = "" if row.first_seq is None else f" seq {row.first_seq}-{row.last_seq}"
        return f"{row.start or '?':27} -- GAP {row.kind}{where}: {row.reason}"
    mark = {"verified": "ok", "not_covered": "..", "failed": "!!", "unverifiable": "??"}
    state = mark.get(row.integrity.state.value, "?")
    line = f"{row.time} [{state}] {row.node:<12} {row.message}"
    if row.integrity.state is not IntegrityState.VERIFIED:
        line += f"\n{'':27}      integrity: {row.integrity.reason}"
    for note in (*row.notes, *row.annotations):
        line += f"\n{'':27}      {note}"
    if row.tags:
        line += f"\n{'':27}      tags: {' '.join(row.tags)}"
    return line


@click.group()
def forensics() -> None:
    """Forensic timelines, behavioural deviations, query intent, reports and incidents."""


@forensics.command()
@_store_options
@click.option("--incident", "incident_id", help="Incident id (its agents, annotations, tags).")
@click.option("--start", help="From this ISO date or datetime.")
@click.option("--end", help="Up to this ISO date (inclusive) or datetime.")
@click.option("--agent", "agents", multiple=True, help="Related agent id; repeat for several.")
@click.option("--user", "users", multiple=True, help="Related user id; repeat for several.")
@click.option("--node", "nodes", multiple=True, help="Only these nodes; repeat for several.")
@click.option(
    "--log", "logs", multiple=True, type=_PATH, help="SecureLogger stream directory to merge."
)
@click.option(
    "--verifier",
    "verifiers",
    multiple=True,
    type=_PATH,
    help="Verifier file (K(0)) of a log stream; repeat for several.",
)
@click.option(
    "--verifier-key", "verifier_keys", multiple=True, help="Audit stream checkpoint key (vkey)."
)
@click.option(
    "--offset",
    "offsets",
    multiple=True,
    metavar="NODE=SECONDS",
    help="Known clock offset of a node (its clock ran that far ahead).",
)
@click.option("--reference-node", help="The node whose clock is the reference.")
@click.option("--no-skew-estimate", is_flag=True, help="Do not estimate offsets from causality.")
@click.option(
    "--gap-threshold",
    type=float,
    default=3600.0,
    show_default=True,
    help="Mark silences longer than this many seconds.",
)
@click.option(
    "--log-scope",
    type=click.Choice(["related", "all"]),
    help="Log records that mention the actors (default with actors) or all.",
)
@click.option("--no-queries", is_flag=True, help="Leave out the actors' searches of the trail.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", *FORMATS]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("-o", "--output", type=_PATH, help="Write to this file (its custody is recorded).")
@click.option("--strict", is_flag=True, help="Exit 1 if any entry failed or is unverifiable.")
def timeline(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    incident_id: str | None,
    start: str | None,
    end: str | None,
    agents: tuple[str, ...],
    users: tuple[str, ...],
    nodes: tuple[str, ...],
    logs: tuple[Path, ...],
    verifiers: tuple[Path, ...],
    verifier_keys: tuple[str, ...],
    offsets: tuple[str, ...],
    reference_node: str | None,
    no_skew_estimate: bool,
    gap_threshold: float,
    log_scope: str | None,
    no_queries: bool,
    fmt: str,
    output: Path | None,
    strict: bool,
) -> None:
    """Reconstruct a timeline across the audit store and SecureLogger streams."""
    who = requestor_for(analyst or _login(), clearance)
    with _store(db, key_dir, schema) as store:
        analyzer = TimelineAnalyzer(
            store,
            log_streams=[LogSource(p) for p in logs],
            verifier_files=verifiers,
            verifier_keys=verifier_keys,
            analyst=who,
            clock_offsets=_offsets(offsets),
            reference_node=reference_node,
            estimate_skew=not no_skew_estimate,
            gap_threshold=gap_threshold,
        )
        result = analyzer.reconstruct(
            incident_id,
            start,
            end,
            list(agents) or None,
            related_users=users,
            nodes=list(nodes) or None,
            log_scope=log_scope,  # type: ignore[arg-type]  # click.Choice checked it
            include_queries=not no_queries,
        )
        if output is not None:
            if fmt == "text":
                raise ConfigError("--output needs --format json, csv, html or timesketch")
            written = write_timeline(result, output, fmt, store=store)
            click.echo(
                f"wrote {written.path} ({written.size} bytes, sha256 {written.sha256}); "
                f"{len(result.events)} entries, {len(result.gaps)} gaps",
                err=True,
            )
        elif fmt == "text":
            for row in result.rows():
                click.echo(_text_row(row))
            counts = ", ".join(f"{k} {v}" for k, v in result.integrity_counts().items())
            click.echo(f"-- {len(result.events)} entries ({counts}), {len(result.gaps)} gaps")
            if result.custody is not None:
                click.echo(
                    f"-- custody: event {result.custody.event_id}, "
                    f"sha256 {result.custody.result_sha256}"
                )
        else:
            from logging_audit.forensics.outputs import render_timeline

            click.echo(render_timeline(result, fmt), nl=False)
    bad = result.integrity_counts()
    if strict and (bad["failed"] or bad["unverifiable"]):
        sys.exit(1)


@forensics.command()
@_store_options
@click.option("--agent", "agents", multiple=True, required=True, help="Actor; repeat for several.")
@click.option("--days", default=30, show_default=True, help="Length of the period in days.")
@click.option("--threshold", default=0.85, show_default=True, help="Significance threshold.")
@click.option("--end", help="End of the period (ISO date or datetime; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def patterns(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    agents: tuple[str, ...],
    days: int,
    threshold: float,
    end: str | None,
    as_json: bool,
) -> None:
    """Score actors' deviations from their own behavioural baselines."""
    who = requestor_for(analyst or _login(), clearance)
    with _store(db, key_dir, schema) as store:
        analyzer = PatternAnalyzer(store, analyst=who)
        reports = [analyzer.analyze(a, days, threshold, end=end) for a in agents]
    if as_json:
        _dump([r.to_dict() for r in reports])
        return
    for rep in reports:
        click.echo(f"{rep.agent_id}: {rep.baseline.events} events in {days} days")
        for note in rep.notes:
            click.echo(f"  note: {note}")
        for d in rep.deviations:
            click.echo(f"  {d.score:.3f} {d.feature:<14} {d.explanation}")
            ids = ", ".join(d.evidence[:5])
            more = f" (+{d.evidence_count - 5})" if d.evidence_count > 5 else ""
            click.echo(f"        evidence: {ids}{more}")
        if not rep.deviations:
            click.echo(f"  no deviation at or above {threshold:g}")


@forensics.command()
@_store_options
@click.option("--start", help="From this ISO date or datetime.")
@click.option("--end", help="Up to this ISO date (inclusive) or datetime.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="PATTERN:N:LEVEL",
    help="Aggregation rule: N resources matching PATTERN together need LEVEL.",
)
@click.option("--requestor", "requestors", multiple=True, help="Only these requestors.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def correlate(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    start: str | None,
    end: str | None,
    rules: tuple[str, ...],
    requestors: tuple[str, ...],
    as_json: bool,
) -> None:
    """Find enumeration, probing above clearance and combined-clearance aggregation."""
    who = requestor_for(analyst or _login(), clearance)
    with _store(db, key_dir, schema) as store:
        report = QueryCorrelator(store, analyst=who, aggregation_rules=rules).analyze(
            start, end, requestors=list(requestors) or None
        )
    if as_json:
        _dump(report.to_dict())
        return
    click.echo(f"{report.queries} queries by {report.requestors} requestors")
    for f in report.findings:
        click.echo(f"  {f.score:.3f} {f.kind:<24} {f.explanation}")
    if not report.findings:
        click.echo("  no finding")


@forensics.command()
@_store_options
@click.option("-o", "--output-dir", type=_PATH, required=True, help="Directory for the report.")
@click.option("--incident", "incident_id", help="Incident id.")
@click.option("--agent", "agents", multiple=True, help="Actor to analyse; repeat for several.")
@click.option("--start", help="Timeline from this ISO date or datetime.")
@click.option("--end", help="Timeline up to this ISO date (inclusive) or datetime.")
@click.option("--days", default=30, show_default=True, help="Pattern period in days.")
@click.option("--threshold", default=0.85, show_default=True, help="Significance threshold.")
@click.option("--log", "logs", multiple=True, type=_PATH, help="SecureLogger stream to merge.")
@click.option("--rule", "rules", multiple=True, metavar="PATTERN:N:LEVEL", help="Aggregation rule.")
@click.option("--offset", "offsets", multiple=True, metavar="NODE=SECONDS", help="Clock offset.")
def report(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    output_dir: Path,
    incident_id: str | None,
    agents: tuple[str, ...],
    start: str | None,
    end: str | None,
    days: int,
    threshold: float,
    logs: tuple[Path, ...],
    rules: tuple[str, ...],
    offsets: tuple[str, ...],
) -> None:
    """Write a self-contained HTML report with PNG heatmaps and charts."""
    who = requestor_for(analyst or _login(), clearance)
    with _store(db, key_dir, schema) as store:
        result = build_report(
            output_dir,
            store,
            agents=agents,
            incident_id=incident_id,
            start_time=start,
            end_time=end,
            time_period_days=days,
            significance_threshold=threshold,
            log_streams=logs,
            aggregation_rules=rules,
            clock_offsets=_offsets(offsets),
            analyst=who,
        )
    click.echo(f"wrote {result.html_path} (sha256 {result.sha256})")
    for name, path in result.images.items():
        click.echo(f"wrote {path} ({name})")


# -- incidents --------------------------------------------------------------------------


def _show_incident(inc: Incident, as_json: bool) -> None:
    if as_json:
        _dump(inc.to_dict())
        return
    click.echo(f"{inc.incident_id} [{inc.status}, {inc.severity}] {inc.title}")
    click.echo(f"  opened {inc.opened_at} by {inc.opened_by}; updated {inc.updated_at}")
    if inc.related_agents:
        click.echo(f"  agents: {', '.join(inc.related_agents)}")
    if inc.tags:
        click.echo(f"  tags: {' '.join(inc.tags)}")
    for n in inc.notes:
        click.echo(f"  note {n.at} {n.author}: {n.text}")
    for a in inc.annotations:
        click.echo(f"  on {a.target}: {a.text} ({a.author}, {a.at})")
    for target, tags in sorted(inc.event_tags.items()):
        click.echo(f"  tags on {target}: {' '.join(tags)}")


def _log(
    db: str | None, key_dir: Path | None, schema: str, analyst: str | None, clearance: str
) -> tuple[AuditStore, IncidentLog]:
    store = _store(db, key_dir, schema)
    return store, IncidentLog(store, analyst=requestor_for(analyst or _login(), clearance))


@forensics.group()
def incident() -> None:
    """Incidents: every change is an append-only event in the audit ledger."""


@incident.command("open")
@_store_options
@click.argument("title")
@click.option("--id", "incident_id", help="Incident id (default INC-<yyyymmdd>-<nnn>).")
@click.option("--agent", "agents", multiple=True, help="Related agent; repeat for several.")
@click.option(
    "--severity", default="medium", show_default=True, help="low, medium, high, critical."
)
@click.option("--tag", "tags", multiple=True, help="Tag; repeat for several.")
@click.option("--note", "notes", multiple=True, help="Initial note.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incident_open(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    title: str,
    incident_id: str | None,
    agents: tuple[str, ...],
    severity: str,
    tags: tuple[str, ...],
    notes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Open an incident."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        inc = log.open(
            title,
            incident_id=incident_id,
            related_agents=agents,
            severity=severity,
            tags=tags,
            notes=notes,
        )
    _show_incident(inc, as_json)


@incident.command("update")
@_store_options
@click.argument("incident_id")
@click.option("--status", type=click.Choice(STATUSES), help="New status.")
@click.option("--title", help="New title.")
@click.option("--severity", help="New severity.")
@click.option("--agent", "agents", multiple=True, help="Add a related agent.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incident_update(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    incident_id: str,
    status: str | None,
    title: str | None,
    severity: str | None,
    agents: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change an incident's status, title, severity or related agents."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        inc = log.update(
            incident_id, status=status, title=title, severity=severity, add_related_agents=agents
        )
    _show_incident(inc, as_json)


@incident.command("note")
@_store_options
@click.argument("incident_id")
@click.argument("text")
@click.option("--event", "event_id", help="Annotate this event instead of the incident.")
def incident_note(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    incident_id: str,
    text: str,
    event_id: str | None,
) -> None:
    """Add a note to an incident, or (with --event) an annotation to one of its events."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        if event_id is None:
            log.add_note(incident_id, text)
        else:
            log.annotate(incident_id, event_id, text)
    click.echo(f"recorded on {incident_id}")


@incident.command("tag")
@_store_options
@click.argument("incident_id")
@click.argument("tags", nargs=-1, required=True)
@click.option("--event", "event_id", help="Tag this event instead of the incident.")
@click.option("--remove", is_flag=True, help="Take the tags off.")
def incident_tag(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    incident_id: str,
    tags: tuple[str, ...],
    event_id: str | None,
    remove: bool,
) -> None:
    """Tag an incident or one of its events (or remove tags)."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        log.tag(incident_id, tags, event_id=event_id, remove=remove)
    click.echo(f"recorded on {incident_id}")


@incident.command("show")
@_store_options
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incident_show(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    incident_id: str,
    as_json: bool,
) -> None:
    """Show an incident as its ledger events say it is."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        inc = log.get(incident_id)
    _show_incident(inc, as_json)


@incident.command("list")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incident_list(
    db: str | None,
    key_dir: Path | None,
    schema: str,
    analyst: str | None,
    clearance: str,
    as_json: bool,
) -> None:
    """List incidents."""
    store, log = _log(db, key_dir, schema, analyst, clearance)
    with store:
        incidents = log.list_incidents()
    if as_json:
        _dump([i.to_dict() for i in incidents])
        return
    for inc in incidents:
        click.echo(f"{inc.incident_id} [{inc.status}, {inc.severity}] {inc.title}")
