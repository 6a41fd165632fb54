"""``logaudit detect …`` (anomaly detection) and ``logaudit import …`` (foreign logs).

``detect`` reads an existing audit store (``--db``; a SQLite path or
``sqlite:///``/``postgresql://`` URL, ``--key-dir`` for PostgreSQL) as the
system requestor ``anomaly-detector``; every alert it raises is recorded in
that store. ``import`` writes a file's events into ``--db`` — give it a
database of its own, so that the imported stream stays apart.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson

from logging_audit._cli.audit import open_store
from logging_audit.anomaly_detection import AnomalyDetector
from logging_audit.detection.model import SENSITIVITIES
from logging_audit.detection.sigma import builtin_rules, load_sigma_rules
from logging_audit.errors import ConfigError
from logging_audit.importers import import_auth_log, import_jsonl, parse_assignments

__all__ = ["detect", "import_"]

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(exists=True, path_type=Path)


def _dump(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _store_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--schema", default="logaudit", show_default=True, help="PostgreSQL schema.")(
        f
    )
    f = click.option(
        "--key-dir", type=_PATH, help="The stream's key directory (required for PostgreSQL)."
    )(f)
    return click.option(
        "--db",
        envvar="LOGAUDIT_DB",
        required=True,
        help="SQLite database path (or sqlite:///path) or postgresql:// URL [env LOGAUDIT_DB].",
    )(f)


def _detector_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option(
        "--sigma",
        "sigma_paths",
        multiple=True,
        type=_EXISTING,
        help="Sigma rule file or directory of rules (repeatable).",
    )(f)
    f = click.option(
        "--builtin-rules", is_flag=True, help="Also evaluate the Sigma rules shipped with logaudit."
    )(f)
    f = click.option(
        "--models", type=_PATH, help="Models directory for baselines (default: <db>.models)."
    )(f)
    f = click.option(
        "--baseline-days", type=float, default=30, show_default=True, help="Baseline length."
    )(f)
    f = click.option(
        "--threshold",
        type=float,
        default=0.75,
        show_default=True,
        help="Alert threshold on the 0..1 score scale (0.75: at a detector's own threshold).",
    )(f)
    return click.option(
        "--sensitivity",
        type=click.Choice(list(SENSITIVITIES)),
        default="medium",
        show_default=True,
        help="Detector thresholds (see docs/anomaly-detection.md).",
    )(f)


@contextmanager
def _detector(opts: dict[str, Any]) -> Iterator[AnomalyDetector]:
    store = open_store(opts["db"], opts["key_dir"], opts["schema"])
    try:
        rules = list(builtin_rules()) if opts["builtin_rules"] else []
        rules.extend(load_sigma_rules(str(p) for p in opts["sigma_paths"]))
        detector = AnomalyDetector(
            opts["sensitivity"], store=store, models_dir=opts["models"], sigma_rules=rules
        )
        detector.configure(baseline_days=opts["baseline_days"], alert_threshold=opts["threshold"])
        yield detector
    finally:
        store.close()


def _print_alerts(alerts: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _dump(alerts)
        return
    if not alerts:
        click.echo("no anomalies")
        return
    for a in alerts:
        click.echo(f"{a['score']:.2f} {a['severity']:<8} {a['detector']:<22} {a['explanation']}")
        click.echo(f"     evidence: {len(a['evidence'])} event(s), alert event {a['alert_id']}")


@click.group("detect")
def detect() -> None:
    """Anomaly detection: baselines, per-actor analysis, replays, live following, Sigma rules."""


@detect.command("learn")
@_store_options
@_detector_options
def learn(**opts: Any) -> None:
    """Learn (or relearn) the behavioural baseline now and keep it in the models directory."""
    with _detector(opts) as det:
        baseline = det.learn_baseline()
        summary = baseline.summary()
        summary["file"] = str(det.baseline_file)
        if opts["as_json"]:
            _dump(summary)
        else:
            click.echo(
                f"learned from {summary['events']} events of {summary['actors']} actors "
                f"({summary['window']['start']} .. {summary['window']['end']}), "
                f"tree size {summary['tree_size']}; kept in {summary['file']}"
            )


@detect.command("analyze")
@_store_options
@_detector_options
@click.option("--actor", required=True, help="The user or agent id to analyse.")
@click.option("--window-hours", type=float, default=24, show_default=True, help="Recent window.")
@click.option(
    "--context", "context_items", multiple=True, help="KEY=VALUE carried into each alert."
)
def analyze(actor: str, window_hours: float, context_items: tuple[str, ...], **opts: Any) -> None:
    """Score one actor's recent activity against its baseline; alerts are recorded."""
    context = parse_assignments(context_items, "--context")
    with _detector(opts) as det:
        alerts = det.analyze_current_activity(actor, context, window_hours=window_hours)
    _print_alerts(alerts, opts["as_json"])


@detect.command("scan")
@_store_options
@_detector_options
@click.option("--since", help="Start (ISO date or datetime); default: the beginning.")
@click.option("--until", help="End (ISO date or datetime, inclusive); default: now.")
@click.option(
    "--no-baseline",
    is_flag=True,
    help="Run only detectors that need no baseline (and Sigma): e.g. for an imported stream.",
)
def scan(since: str | None, until: str | None, no_baseline: bool, **opts: Any) -> None:
    """Replay a period through every detector in order (as streaming would); record alerts."""
    with _detector(opts) as det:
        alerts = det.scan(since, until, use_baseline=not no_baseline)
    _print_alerts(alerts, opts["as_json"])


def _echo_alert(alert: dict[str, Any]) -> None:
    click.echo(orjson.dumps(alert).decode())
    sys.stdout.flush()


@detect.command("follow")
@_store_options
@_detector_options
@click.option("--interval", type=float, default=5.0, show_default=True, help="Poll every N s.")
@click.option("--from-seq", type=int, help="Start at this seq (default: new events only).")
@click.option("--polls", type=int, help="Stop after N polls (default: until interrupted).")
def follow(interval: float, from_seq: int | None, polls: int | None, **opts: Any) -> None:
    """Score events as they are recorded (polls the store); print each alert as a JSON line."""
    with _detector(opts) as det:
        det.register_alert_handler(_echo_alert)
        follower = det.follow(poll_interval=interval, from_seq=from_seq)
        with contextlib.suppress(KeyboardInterrupt):
            follower.run(max_polls=polls)
        click.echo(
            f"followed {follower.events} events, {follower.alerts} alerts, "
            f"{follower.errors} failed polls",
            err=True,
        )


@detect.command("check-rules")
@click.argument("paths", nargs=-1, type=_EXISTING, required=True)
def check_rules(paths: tuple[Path, ...]) -> None:
    """Parse Sigma rules and list them; unsupported features are reported as errors."""
    for rule in load_sigma_rules(str(p) for p in paths):
        click.echo(f"{rule.rule_id}  {rule.level:<13} {rule.title}")


@click.group("import")
def import_() -> None:
    """Import logs of other systems as audit events (in a stream of their own)."""


@import_.command("auth-log")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_options
@click.option("--year", type=int, help="Year of syslog times without one (default: file's).")
@click.option("--tz", default="UTC", show_default=True, help="Zone of times without one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def import_auth_log_cmd(
    file: Path, db: str, key_dir: Path | None, schema: str, year: int | None, tz: str, as_json: bool
) -> None:
    """Import OpenSSH lines of a syslog / auth.log file as authentication events."""
    store = open_store(db, key_dir, schema, create=True)
    try:
        report = import_auth_log(file, store, year=year, tz=tz)
    finally:
        store.close()
    _report(report.to_dict(), as_json)


@import_.command("jsonl")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_options
@click.option(
    "--map",
    "maps",
    multiple=True,
    help="FIELD=PATH: an audit field from a dotted path of each object (e.g. actor=user.name).",
)
@click.option("--set", "sets", multiple=True, help="FIELD=VALUE: a constant audit field.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def import_jsonl_cmd(
    file: Path,
    db: str,
    key_dir: Path | None,
    schema: str,
    maps: tuple[str, ...],
    sets: tuple[str, ...],
    as_json: bool,
) -> None:
    """Import a JSON Lines file with a field mapping given by --map and --set."""
    mapping = parse_assignments(maps, "--map")
    constants = parse_assignments(sets, "--set")
    if not mapping and not constants:
        raise ConfigError("give the field mapping with --map FIELD=PATH (and --set FIELD=VALUE)")
    store = open_store(db, key_dir, schema, create=True)
    try:
        report = import_jsonl(file, store, mapping, constants=constants)
    finally:
        store.close()
    _report(report.to_dict(), as_json)


def _report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _dump(report)
        return
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(report["skipped"].items())) or "none"
    click.echo(
        f"imported {report['imported']} of {report['lines']} lines from {report['source_file']} "
        f"({report['digest']}) into {report['origin']}; skipped: {skipped}"
    )
