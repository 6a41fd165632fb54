"""``logaudit audit record|search|export|verify|verify-bundle|prune|agents`` for audit stores.

Every command but ``verify-bundle`` (which works offline, on a file) takes
``--db``: a SQLite database path (or ``sqlite:///path``), or a
``postgresql://`` URL (then ``--key-dir`` names the stream's key directory).
``--json`` prints machine-readable output. Library errors exit 2 (via
:func:`logging_audit._cli.main`); a failed verification exits 1.

Reads (``search``, ``export``) run as a requestor: ``--as`` (default: the
login name) with ``--clearance`` (default LEVEL_1: no read-up, so pass the
clearance you hold to see more). Every read is recorded in the audit trail.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import orjson

from logging_audit.audit.dates import parse_time_bound
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.export import ExportFormat, export_events
from logging_audit.audit.factory import is_postgres_url, sqlite_path
from logging_audit.audit.factory import open_store as factory_open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import IntegrityReport, Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError
from logging_audit.persistence.agents import AgentDatabase
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["audit", "open_store"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


def open_store(
    db: str, key_dir: Path | None = None, schema: str = "logaudit", *, create: bool = False
) -> AuditStore:
    """Open the audit store named by ``db`` (SQLite path or URL, or PostgreSQL URL).

    A SQLite database that does not exist is created only with ``create``
    (``record``, ``agents add``); every other command refuses to invent an
    empty one.
    """
    if is_postgres_url(db):
        if key_dir is None:
            raise ConfigError(
                "--key-dir is required with a PostgreSQL --db: the stream's keys live on the "
                "host, not in the database"
            )
        return factory_open_store(db, key_dir=key_dir, schema=schema)
    path = sqlite_path(db)
    if not create and not path.exists():
        raise ConfigError(f"no audit database at {path} (record an event to create one)")
    return factory_open_store(path, key_dir=key_dir)


def _registry_path(db: str, registry: Path | None) -> Path:
    if registry is not None:
        return registry
    if is_postgres_url(db):
        raise ConfigError("--registry is required with a PostgreSQL --db")
    path = sqlite_path(db)
    return path.with_name(path.name + ".agents.db")


def _dump(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _json_object(text: str | None, what: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return obj


def _login() -> str:
    try:
        return getpass.getuser() or "cli"
    except (OSError, KeyError):  # no login name in this environment
        return "cli"


def _to_datetime(value: str, what: str) -> datetime:
    us = parse_time_bound(value, what)
    assert us is not None
    return _EPOCH + timedelta(microseconds=us)


# -- shared options ---------------------------------------------------------------------


def _db_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--schema",
        default="logaudit",
        show_default=True,
        help="PostgreSQL schema of the audit stream.",
    )(f)
    f = click.option(
        "--key-dir",
        type=_PATH,
        help="The stream's key directory (default for SQLite: <db>.keys beside the database; "
        "required for PostgreSQL).",
    )(f)
    return click.option(
        "--db",
        envvar="LOGAUDIT_DB",
        required=True,
        help="SQLite database path (or sqlite:///path) or postgresql:// URL [env LOGAUDIT_DB].",
    )(f)


def _json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


def _reader_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--clearance",
        default="LEVEL_1",
        show_default=True,
        help="The requestor's clearance (1-5 or LEVEL_n): events above it stay invisible.",
    )(f)
    return click.option(
        "--as", "requestor_id", help="Who reads (recorded in the trail; default: login name)."
    )(f)


def _criteria_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--sort", help="Sort field, '-' prefix for descending (e.g. -ts)."),
        click.option("--text", help="Full-text search: every word must occur."),
        click.option("--end", help="Up to this ISO date (inclusive) or datetime."),
        click.option("--start", help="From this ISO date or datetime."),
        click.option("--actor", help="Actor (user or agent id)."),
        click.option(
            "--action", "actions", multiple=True, help="Action; repeat for any of several."
        ),
        click.option(
            "--type", "event_types", multiple=True, help="Event type; repeat for any of several."
        ),
        click.option(
            "--where",
            "wheres",
            multiple=True,
            metavar="FIELD=VALUE",
            help="Equality on any field (details.<path> too); the value is a string.",
        ),
        click.option(
            "--criteria",
            help="Criteria as a JSON object (operators: eq ne in not_in gt gte lt lte contains "
            "exists).",
        ),
    ]
    for option in options:
        f = option(f)
    return f


def _requestor(requestor_id: str | None, clearance: str) -> Requestor:
    return Requestor(requestor_id or _login(), ClearanceLevel.coerce(clearance, "--clearance"))


def _query(
    criteria: str | None,
    wheres: tuple[str, ...],
    event_types: tuple[str, ...],
    actions: tuple[str, ...],
    actor: str | None,
    start: str | None,
    end: str | None,
    text: str | None,
    sort: str | None,
) -> EventQuery:
    crit = _json_object(criteria, "--criteria")

    def put(name: str, value: Any) -> None:
        if name in crit:
            raise ConfigError(f"field {name!r} is given twice (in --criteria and an option)")
        crit[name] = value

    for item in wheres:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--where expects FIELD=VALUE, got {item!r}")
        put(name.strip(), value)
    if event_types:
        put("event_type", list(event_types))
    if actions:
        put("action", list(actions))
    if actor is not None:
        put("actor", actor)
    return EventQuery.build(crit, start=start, end=end, text=text, sort=sort)


@contextlib.contextmanager
def _progress_bar(label: str, total: int | None, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, completed=n)


def _event_line(e: StoredEvent) -> str:
    ev = e.event
    res = f" {ev.resource}" if ev.resource else ""
    return (
        f"#{e.seq} {e.ts} {ev.event_type}/{ev.action} {ev.actor_type}:{ev.actor} "
        f"{ev.outcome}{res} [L{int(ev.clearance)}]"
    )


# -- the group --------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Audit trails in SQLite or PostgreSQL: record, search, export, verify, retain."""


@audit.command()
@_db_options
@click.option("--type", "event_type", required=True, help="Event type (authentication, …).")
@click.option("--action", required=True, help="Action (login, read, config_change, …).")
@click.option("--actor", required=True, help="Who acted (user or agent id).")
@click.option("--actor-type", default="user", show_default=True, help="user, agent or system.")
@click.option("--outcome", default="success", show_default=True, help="success, failure, …")
@click.option("--resource", help="What was acted on.")
@click.option("--source-ip", help="Where the action came from.")
@click.option("--source-node", help="The node that saw it.")
@click.option("--clearance", default="LEVEL_1", show_default=True, help="Classification.")
@click.option("--details", help="Details as a JSON object.")
@click.option("--event-id", help="Event id (default: a random one).")
@_json_option
def record(
    db: str,
    key_dir: Path | None,
    schema: str,
    event_type: str,
    action: str,
    actor: str,
    actor_type: str,
    outcome: str,
    resource: str | None,
    source_ip: str | None,
    source_node: str | None,
    clearance: str,
    details: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record one audit event (creates a SQLite database on first use)."""
    extra: dict[str, Any] = {} if event_id is None else {"event_id": event_id}
    event = AuditEvent(
        event_type=event_type,
        action=action,
        actor=actor,
        actor_type=actor_type,
        outcome=outcome,
        resource=resource,
        source_ip=source_ip,
        source_node=source_node,
        clearance=ClearanceLevel.coerce(clearance, "--clearance"),
        details=_json_object(details, "--details"),
        **extra,
    )
    with open_store(db, key_dir, schema, create=True) as store:
        stored = store.append([event])[0]
    if as_json:
        _dump(stored.to_dict())
    else:
        click.echo(f"recorded seq {stored.seq} event {stored.event.event_id}")


@audit.command()
@_db_options
@_reader_options
@_criteria_options
@click.option("--limit", default=100, show_default=True, help="Events per page (max 10000).")
@click.option("--cursor", help="Continue from a previous page's next cursor.")
@_json_option
def search(
    db: str,
    key_dir: Path | None,
    schema: str,
    requestor_id: str | None,
    clearance: str,
    criteria: str | None,
    wheres: tuple[str, ...],
    event_types: tuple[str, ...],
    actions: tuple[str, ...],
    actor: str | None,
    start: str | None,
    end: str | None,
    text: str | None,
    sort: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Search events the requestor may see; one page, with a cursor for the next."""
    query = _query(criteria, wheres, event_types, actions, actor, start, end, text, sort)
    requestor = _requestor(requestor_id, clearance)
    with open_store(db, key_dir, schema) as store:
        page = store.search(query, requestor, limit=limit, cursor=cursor)
    if as_json:
        _dump(page.to_dict())
        return
    for e in page.events:
        click.echo(_event_line(e))
    click.echo(f"{len(page.events)} event(s)", err=True)
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}", err=True)


@audit.command()
@_db_options
@_reader_options
@_criteria_options
@click.argument("output", type=_PATH)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ExportFormat]),
    default="json",
    show_default=True,
    help="json (the seed's JSON array), jsonl, csv or ocsf (JSON array of OCSF events).",
)
@click.option(
    "--bundle",
    is_flag=True,
    help="Write an evidence bundle (json or jsonl layout) that verify-bundle checks offline.",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@_json_option
def export(
    db: str,
    key_dir: Path | None,
    schema: str,
    requestor_id: str | None,
    clearance: str,
    criteria: str | None,
    wheres: tuple[str, ...],
    event_types: tuple[str, ...],
    actions: tuple[str, ...],
    actor: str | None,
    start: str | None,
    end: str | None,
    text: str | None,
    sort: str | None,
    output: Path,
    fmt: str,
    bundle: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Export matching events to OUTPUT ('-' for stdout); the export is recorded with its digest."""
    query = _query(criteria, wheres, event_types, actions, actor, start, end, text, sort)
    requestor = _requestor(requestor_id, clearance)
    if bundle and fmt not in ("json", "jsonl"):
        raise ConfigError("an evidence bundle is written as --format json or jsonl")
    to_stdout = str(output) == "-"
    show = not as_json and sys.stderr.isatty()
    with open_store(db, key_dir, schema) as store:
        total = store.count(query, requestor) if show else None
        with _progress_bar(f"exporting to {output}", total, show) as progress:
            result = export_events(
                store,
                query,
                requestor,
                sys.stdout.buffer if to_stdout else output,
                format=fmt,
                bundle=bundle,
                progress=progress,
                overwrite=force,
            )
    if as_json:
        _dump(result.to_dict())
        return
    where = "stdout" if to_stdout else str(output)
    lines = [
        f"exported {result.count} event(s) to {where} ({result.format}"
        f"{', evidence bundle' if result.bundle else ''})",
        f"sha256 {result.sha256}  ({result.bytes_written} bytes)",
        f"custody recorded at seq {result.custody_seq} (export {result.export_id})",
    ]
    if result.bundle is not None:
        lines.append(
            f"proofs against checkpoint of size {result.bundle.checkpoint_size}; manifest at seq "
            f"{result.bundle.manifest_seq}"
        )
    click.echo("\n".join(lines), err=to_stdout)


def _integrity_summary(report: IntegrityReport) -> str:
    led = report.ledger
    mark = "OK  " if report.verified else "FAIL"
    span = f"seq {led.first_seq}–{led.last_seq}" if led.first_seq is not None else "empty"
    lines = [
        f"{mark} {led.origin}",
        f"     {led.entries:,} entries ({span}), {led.seals_verified} seals, "
        f"{led.checkpoints_verified} checkpoints verified",
        f"     key material: {report.verifier}",
    ]
    lines.extend(f"     ✗ {f}" for f in led.failures)
    lines.extend(f"     ✗ seq {f.seq} {f.column}: {f.reason}" for f in report.index_failures)
    return "\n".join(lines)


@audit.command()
@_db_options
@click.option(
    "--verifier", type=_EXISTING, help="Verifier file (K(0)) to check every epoch's MACs."
)
@click.option(
    "--checkpoint",
    "trusted",
    type=_EXISTING,
    help="A trusted signed checkpoint (from a witness); catches rollback and truncation.",
)
@_json_option
def verify(
    db: str,
    key_dir: Path | None,
    schema: str,
    verifier: Path | None,
    trusted: Path | None,
    as_json: bool,
) -> None:
    """Verify the stored stream and every index column. Exit 1 on any failure."""
    note = trusted.read_text(encoding="utf-8") if trusted is not None else None
    with open_store(db, key_dir, schema) as store:
        report = store.verify_integrity(
            None if verifier is None else str(verifier), trusted_checkpoint=note
        )
    if as_json:
        _dump(report.to_dict())
    else:
        click.echo(_integrity_summary(report))
    if not report.verified:
        sys.exit(1)


@audit.command("verify-bundle")
@click.argument("bundle_file", type=_EXISTING)
@click.option("--trusted-key", help="The log's verifier key as you know it (name+id+key).")
@click.option("--trusted-key-file", type=_EXISTING, help="A file holding the trusted key.")
@_json_option
def verify_bundle_cmd(
    bundle_file: Path, trusted_key: str | None, trusted_key_file: Path | None, as_json: bool
) -> None:
    """Verify an evidence bundle offline, without the database. Exit 1 on any failure."""
    from logging_audit.audit.bundle import verify_bundle

    if trusted_key is not None and trusted_key_file is not None:
        raise ConfigError("give --trusted-key or --trusted-key-file, not both")
    if trusted_key_file is not None:
        trusted_key = trusted_key_file.read_text(encoding="utf-8").strip()
    show = not as_json and sys.stderr.isatty()
    with _progress_bar(f"verifying {bundle_file.name}", None, show) as progress:
        report = verify_bundle(bundle_file, trusted_key, progress=progress)
    if as_json:
        _dump(report.to_dict())
    else:
        mark = "OK  " if report.verified else "FAIL"
        lines = [
            f"{mark} evidence bundle {bundle_file} ({report.layout or '?'} layout)",
            f"     stream {report.origin}, export {report.export_id}",
            f"     {report.events_verified:,} of {report.events:,} events verified against the "
            f"checkpoint of size {report.checkpoint_size}",
            f"     manifest: {'verified' if report.manifest_verified else 'NOT verified'}"
            f" (seq {report.manifest_seq}, {report.manifest_count} events recorded)",
            f"     key: {report.key_source} ({report.verifier_key}); {report.key_note}",
            "     MACs are not checked offline (they need the stream's secret verifier)",
        ]
        lines.extend(f"     ✗ {f}" for f in report.failures)
        if report.failures_omitted:
            lines.append(f"     … and {report.failures_omitted} more failures")
        click.echo("\n".join(lines))
    if not report.verified:
        sys.exit(1)


@audit.command()
@_db_options
@click.option("--before", help="Remove events recorded before this ISO date or datetime.")
@click.option(
    "--older-than-days", type=click.IntRange(min=0), help="Remove events older than N days."
)
@click.option("--as", "actor", help="Who prunes (recorded; default: login name).")
@_json_option
def prune(
    db: str,
    key_dir: Path | None,
    schema: str,
    before: str | None,
    older_than_days: int | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Apply retention: remove old events (legal holds respected); the stream still verifies."""
    if (before is None) == (older_than_days is None):
        raise ConfigError("give exactly one of --before DATE and --older-than-days N")
    with open_store(db, key_dir, schema) as store:
        cutoff = (
            _to_datetime(before, "--before")
            if before is not None
            else store.now() - timedelta(days=older_than_days or 0)
        )
        result = store.prune(cutoff, actor=actor or _login())
    if as_json:
        _dump(result.to_dict())
        return
    held = f"; held back by {', '.join(result.held_back_by)}" if result.held_back_by else ""
    click.echo(
        f"removed {result.removed} entr{'y' if result.removed == 1 else 'ies'} before "
        f"{result.cutoff}; first kept seq {result.first_kept_seq}{held}"
    )


# -- agents -----------------------------------------------------------------------------


def _registry_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry",
        type=_PATH,
        help="Agent registry file (default for SQLite: <db>.agents.db beside the database).",
    )(f)


@audit.group()
def agents() -> None:
    """The agent registry: agents, their clearance and public keys."""


@agents.command("list")
@_db_options
@_registry_option
@_json_option
def agents_list(
    db: str, key_dir: Path | None, schema: str, registry: Path | None, as_json: bool
) -> None:
    """List registered agents."""
    path = _registry_path(db, registry)
    found = []
    if path.exists():
        with AgentDatabase(path) as reg:
            found = reg.list_agents()
    if as_json:
        _dump([a.to_dict() for a in found])
        return
    for a in found:
        state = "" if a.active else " (inactive)"
        key = f" key {a.key_id}" if a.key_id else ""
        click.echo(f"{a.agent_id} L{int(a.clearance)} {a.name}{key}{state}".rstrip())
    click.echo(f"{len(found)} agent(s)", err=True)


def _public_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    import base64
    import binascii

    value = text.strip()
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ConfigError("--public-key must be 32 raw Ed25519 bytes in hex or base64") from exc
    return raw


@agents.command("add")
@_db_options
@_registry_option
@click.argument("agent_id")
@click.option("--clearance", required=True, help="The agent's clearance (1-5 or LEVEL_n).")
@click.option("--name", default="", help="A readable name.")
@click.option("--public-key", help="The agent's Ed25519 public key (hex or base64 of 32 bytes).")
@click.option("--metadata", help="Metadata as a JSON object.")
@click.option("--replace", is_flag=True, help="Overwrite an existing registration.")
@click.option("--as", "actor", help="Who registers it (recorded; default: login name).")
@_json_option
def agents_add(
    db: str,
    key_dir: Path | None,
    schema: str,
    registry: Path | None,
    agent_id: str,
    clearance: str,
    name: str,
    public_key: str | None,
    metadata: str | None,
    replace: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Register an agent; the registration is recorded in the audit trail."""
    level = ClearanceLevel.coerce(clearance, "--clearance")
    key = _public_key(public_key)
    meta = _json_object(metadata, "--metadata")
    with open_store(db, key_dir, schema, create=True) as store:
        with AgentDatabase(_registry_path(db, registry)) as reg:
            agent = reg.register_agent(
                agent_id, level, name=name, public_key=key, metadata=meta, replace=replace
            )
        store.append(
            [
                AuditEvent(
                    event_type="administrative",
                    action="agent_register",
                    actor=actor or _login(),
                    resource=agent_id,
                    source_node=store.node_id,
                    details={
                        "agent_id": agent_id,
                        "clearance_level": int(level),
                        "key_id": agent.key_id,
                        "name": name,
                        "replaced": replace,
                    },
                )
            ]
        )
    if as_json:
        _dump(agent.to_dict())
    else:
        click.echo(f"registered {agent.agent_id} at L{int(agent.clearance)}")


@agents.command("show")
@_db_options
@_registry_option
@click.argument("agent_id")
@_json_option
def agents_show(
    db: str,
    key_dir: Path | None,
    schema: str,
    registry: Path | None,
    agent_id: str,
    as_json: bool,
) -> None:
    """Show one agent."""
    path = _registry_path(db, registry)
    agent = None
    if path.exists():
        with AgentDatabase(path) as reg:
            agent = reg.get_agent(agent_id)
    if agent is None:
        raise ConfigError(f"agent {agent_id!r} is not registered")
    if as_json:
        _dump(agent.to_dict())
        return
    for k, v in agent.to_dict().items():
        click.echo(f"{k}: {v}")
