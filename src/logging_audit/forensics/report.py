"""Self-contained HTML: a timeline page, and the forensic report with its charts.

Pages carry everything inline — CSS in a ``<style>`` element, charts as
``data:image/png;base64`` URIs — and a Content-Security-Policy that forbids
loading anything else, so a page opened from an evidence folder (or mailed)
shows the same thing everywhere and fetches nothing. Every value shown is
HTML-escaped.

:func:`build_report` runs a timeline reconstruction, pattern analysis of
each actor and query correlation over one store, writes the charts as PNG
files and one ``report.html`` (the same charts embedded), and records the
report's custody (its SHA-256 and every PNG's) in the ledger.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from logging_audit.audit.dates import TimeBound
from logging_audit.audit.records import Requestor
from logging_audit.forensics._common import (
    DEFAULT_ANALYST,
    StoreLike,
    TimeArg,
    requestor_for,
    sha256_hex,
    store_session,
)
from logging_audit.persistence.models import ClearanceLevel

if TYPE_CHECKING:
    from logging_audit.forensics.correlation import AggregationRule, CorrelationReport
    from logging_audit.forensics.custody import CustodyRecord
    from logging_audit.forensics.pattern_analyzer import PatternReport
    from logging_audit.forensics.timeline import LogSource, Timeline

__all__ = ["ReportResult", "build_report", "timeline_html"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_MAX_ROWS = 5000

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#212121}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}
.verified{background:#e8f5e9}.failed{background:#ffebee}.unverifiable{background:#fff3e0}
.not_covered{background:#fafafa}.gap{background:#eceff1;font-style:italic}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;color:#fff}
.b-verified{background:#2e7d32}.b-failed{background:#c62828}.b-unverifiable{background:#ef6c00}
.b-not_covered{background:#757575}
code{font-size:11px;word-break:break-all}img{max-width:100%;border:1px solid #eee}
.kv td:first-child{width:14rem;font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{body}</body></html>\n"
    )


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<p><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></p>'


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], classes: Iterable[str] | None = None
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    cls = iter(classes) if classes is not None else None
    body = []
    for row in rows:
        c = next(cls, "") if cls is not None else ""
        attr = f' class="{_e(c)}"' if c else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _timeline_sections(timeline: Timeline, *, chart: bool = True, middle: str = "") -> str:
    from logging_audit.forensics.charts import activity_timeline_chart
    from logging_audit.forensics.timeline import Gap

    parts = ["<h2>Summary</h2>"]
    counts = timeline.integrity_counts()
    parts.append(
        _kv(
            [
                ("incident", timeline.incident_id or "—"),
                (
                    "window",
                    f"{timeline.start or 'open'} — {timeline.end or 'open'} (end exclusive)",
                ),
                ("related actors", ", ".join(timeline.related) or "all"),
                ("analyst", timeline.analyst),
                ("generated at", timeline.generated_at),
                ("entries", len(timeline.events)),
                ("gaps", len(timeline.gaps)),
                ("integrity", ", ".join(f"{k}: {v}" for k, v in counts.items())),
                ("result SHA-256", timeline.digest()),
                (
                    "custody record",
                    "not recorded"
                    if timeline.custody is None
                    else f"event {timeline.custody.event_id} (seq {timeline.custody.seq}) at "
                    f"{timeline.custody.recorded_at}",
                ),
            ]
        )
    )
    for note in timeline.notes:
        parts.append(f"<p><strong>Note:</strong> {_e(note)}</p>")
    if timeline.incident is not None:
        inc = timeline.incident
        parts.append("<h2>Incident</h2>")
        parts.append(
            _kv(
                [
                    ("title", inc.title),
                    ("status", inc.status),
                    ("severity", inc.severity),
                    ("related agents", ", ".join(inc.related_agents)),
                    ("tags", " ".join(inc.tags)),
                    ("opened", f"{inc.opened_at} by {inc.opened_by}"),
                ]
            )
        )
        if inc.notes:
            parts.append(
                "<ul>"
                + "".join(f"<li>{_e(n.at)} {_e(n.author)}: {_e(n.text)}</li>" for n in inc.notes)
                + "</ul>"
            )
    parts.append("<h2>Sources and clocks</h2>")
    parts.append(
        _table(
            [
                "stream",
                "kind",
                "location",
                "read",
                "shown",
                "verifier",
                "checkpoints valid / matching",
                "problems",
            ],
            (
                [
                    _e(s.origin),
                    _e(s.kind),
                    f"<code>{_e(s.location)}</code>",
                    _e(s.entries_read),
                    _e(s.entries_shown),
                    _e(s.verifier),
                    _e(
                        f"{s.integrity.get('checkpoints_valid')} / "
                        f"{s.integrity.get('checkpoints_matching')}"
                    ),
                    _e("; ".join(s.integrity.get("problems", [])) or "—"),
                ]
                for s in timeline.sources
            ),
        )
    )
    clocks = timeline.clocks
    parts.append(
        f"<p>Reference clock: <strong>{_e(clocks.reference or '—')}</strong>; "
        f"{len(clocks.links)} causal link(s); links running backwards: "
        f"{clocks.violations_before} before correction, {clocks.violations_after} after.</p>"
    )
    parts.append(
        _table(
            ["node", "offset (s, ahead of reference)", "method", "how"],
            (
                [_e(c.node), _e(f"{c.offset_seconds:+.6f}"), _e(c.method), _e(c.note)]
                for c in sorted(clocks.clocks.values(), key=lambda c: c.node)
            ),
        )
    )
    if chart:
        parts.append("<h2>Activity</h2>")
        parts.append(_img(activity_timeline_chart(timeline), "activity timeline"))
    parts.append(middle)
    parts.append("<h2>Timeline</h2>")
    rows: list[list[str]] = []
    classes: list[str] = []
    shown = 0
    for row in timeline.rows():
        if shown >= _MAX_ROWS:
            break
        shown += 1
        if isinstance(row, Gap):
            classes.append("gap")
            rows.append(
                [
                    "",
                    _e(row.start or ""),
                    _e(row.source),
                    _e("" if row.first_seq is None else f"{row.first_seq}-{row.last_seq}"),
                    _e(f"gap: {row.kind}"),
                    _e(row.reason + (f" (until {row.end})" if row.end else "")),
                    "",
                ]
            )
            continue
        classes.append(row.integrity.state.value)
        extra = "".join(f"<br><em>{_e(n)}</em>" for n in (*row.notes, *row.annotations))
        tags = "".join(f' <span class="badge b-not_covered">{_e(t)}</span>' for t in row.tags)
        rows.append(
            [
                _e(row.position),
                _e(row.time)
                + (
                    f"<br><small>recorded {_e(row.recorded_time)}</small>"
                    if row.clock_offset_seconds
                    else ""
                ),
                _e(row.node) + f"<br><small>{_e(row.source)}</small>",
                _e(row.seq),
                f"<code>{_e(row.event_id)}</code>",
                _e(row.message) + tags + extra,
                _badge(row.integrity.state.value)
                + f"<br><small>{_e(row.integrity.reason)}</small>",
            ]
        )
    parts.append(
        _table(
            ["#", "time (corrected)", "node / stream", "seq", "event", "what", "integrity"],
            rows,
            classes,
        )
    )
    total = len(timeline.events) + len(timeline.gaps)
    if total > shown:
        parts.append(f"<p>Showing {shown} of {total} rows; the JSON and CSV outputs hold all.</p>")
    return "".join(parts)


def _badge(state: str) -> str:
    return f'<span class="badge b-{_e(state)}">{_e(state)}</span>'


def timeline_html(timeline: Timeline) -> str:
    """A self-contained HTML page of the timeline (summary, clocks, chart, every row)."""
    title = f"Timeline {timeline.incident_id}" if timeline.incident_id else "Timeline"
    return _page(title, _timeline_sections(timeline))


def _deviations_html(reports: Sequence[PatternReport]) -> str:
    parts = []
    for rep in reports:
        parts.append(f"<h3>{_e(rep.agent_id)}</h3>")
        base = rep.baseline.to_dict()
        parts.append(
            _kv(
                [
                    ("period", f"{base['start']} + {base['days']} days"),
                    ("events", base["events"]),
                    ("busiest hour of week", base["busiest_hour_of_week"]),
                    (
                        "top resources",
                        ", ".join(f"{k} ({v})" for k, v in base["resources"].items()),
                    ),
                    (
                        "source addresses",
                        ", ".join(f"{k} ({v})" for k, v in base["source_ips"].items()),
                    ),
                ]
            )
        )
        for note in rep.notes:
            parts.append(f"<p><em>{_e(note)}</em></p>")
        if not rep.deviations:
            parts.append(f"<p>No deviation at or above {rep.threshold:g}.</p>")
            continue
        parts.append(
            _table(
                ["score", "feature", "window", "explanation", "evidence"],
                (
                    [
                        _e(f"{d.score:.3f}"),
                        _e(d.feature),
                        _e(d.window_start),
                        _e(d.explanation),
                        "<code>"
                        + _e(", ".join(d.evidence[:10]))
                        + (f" … ({d.evidence_count})" if d.evidence_count > 10 else "")
                        + "</code>",
                    ]
                    for d in rep.deviations
                ),
            )
        )
    return "".join(parts)


def _findings_html(report: CorrelationReport) -> str:
    if not report.findings:
        return (
            f"<p>No finding among {report.queries} recorded queries of "
            f"{report.requestors} requestors.</p>"
        )
    return f"<p>{report.queries} recorded queries of {report.requestors} requestors.</p>" + _table(
        ["score", "kind", "requestors", "explanation", "evidence"],
        (
            [
                _e(f"{f.score:.3f}"),
                _e(f.kind),
                _e(", ".join(f.requestors)),
                _e(f.explanation),
                "<code>"
                + _e(", ".join(f.evidence[:10]))
                + (f" … ({len(f.evidence)})" if len(f.evidence) > 10 else "")
                + "</code>",
            ]
            for f in report.findings
        ),
    )


@dataclass
class ReportResult:
    """What :func:`build_report` wrote and found."""

    html_path: Path
    sha256: str
    images: dict[str, Path]
    image_sha256: dict[str, str]
    timeline: Timeline
    patterns: list[PatternReport]
    correlation: CorrelationReport
    custody: CustodyRecord | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "html": str(self.html_path),
            "sha256": self.sha256,
            "images": {k: str(v) for k, v in self.images.items()},
            "image_sha256": dict(self.image_sha256),
            "timeline_events": len(self.timeline.events),
            "deviations": sum(len(p.deviations) for p in self.patterns),
            "findings": len(self.correlation.findings),
            "custody": None if self.custody is None else self.custody.to_dict(),
        }


def build_report(
    output_dir: str | os.PathLike[str],
    store: StoreLike = None,
    *,
    agents: Sequence[str] = (),
    incident_id: str | None = None,
    start_time: TimeArg = None,
    end_time: TimeArg = None,
    time_period_days: int = 30,
    significance_threshold: float = 0.85,
    log_streams: Iterable[str | os.PathLike[str] | LogSource] = (),
    aggregation_rules: Iterable[AggregationRule | str] = (),
    clock_offsets: Mapping[str, float] | None = None,
    analyst: str | Requestor = DEFAULT_ANALYST,
    clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_5,
    key_dir: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> ReportResult:
    """Write ``report.html`` and the PNG charts into ``output_dir``; see the module docstring.

    The pattern analysis covers ``time_period_days`` ending at ``end_time``
    (default: now) for each of ``agents`` (default: the timeline's actors).
    """
    from logging_audit.forensics.charts import (
        accesses_from,
        activity_timeline_chart,
        agent_resource_heatmap,
        anomaly_scores_chart,
        hour_weekday_heatmap,
    )
    from logging_audit.forensics.correlation import QueryCorrelator
    from logging_audit.forensics.custody import record_custody
    from logging_audit.forensics.outputs import write_bytes_atomic
    from logging_audit.forensics.pattern_analyzer import PatternAnalyzer
    from logging_audit.forensics.timeline import TimelineAnalyzer

    out = Path(output_dir)
    who = requestor_for(analyst, clearance)
    with store_session(store, key_dir=key_dir) as opened:
        timeline = TimelineAnalyzer(
            opened, log_streams=log_streams, analyst=who, clock_offsets=clock_offsets
        ).reconstruct(incident_id, start_time, end_time, list(agents) or None)
        actors = list(agents) or sorted(
            {
                e.actor
                for e in timeline.events
                if e.source_kind == "audit" and e.actor and e.event_type != "query"
            }
        )
        end: TimeBound | None = None if isinstance(end_time, EllipsisType) else end_time
        analyzer = PatternAnalyzer(opened, analyst=who)
        patterns = [
            analyzer.analyze(a, time_period_days, significance_threshold, end=end)
            for a in actors[:50]
        ]
        correlation = QueryCorrelator(
            opened, analyst=who, aggregation_rules=aggregation_rules
        ).analyze(start_time, end_time)
        accesses = accesses_from(
            e for e in timeline.events if e.source_kind == "audit" and e.event_type != "query"
        )
        images = {
            "heatmap_actor_resource": agent_resource_heatmap(accesses),
            "heatmap_hour_weekday": hour_weekday_heatmap(accesses),
            "activity_timeline": activity_timeline_chart(timeline),
            "anomaly_scores": anomaly_scores_chart(
                [d for p in patterns for d in p.scored], significance_threshold
            ),
        }
        paths: dict[str, Path] = {}
        digests: dict[str, str] = {}
        for name, png in images.items():
            path = out / f"{name}.png"
            write_bytes_atomic(path, png)
            paths[name] = path
            digests[name] = sha256_hex(png)
        heading = title or (f"Forensic report {incident_id}" if incident_id else "Forensic report")
        middle = (
            "<h2>Charts</h2>"
            + _img(images["activity_timeline"], "activity timeline")
            + _img(images["heatmap_actor_resource"], "actor by resource heatmap")
            + _img(images["heatmap_hour_weekday"], "weekday by hour heatmap")
            + _img(images["anomaly_scores"], "anomaly scores over time")
            + "<h2>Behavioural deviations</h2>"
            + _deviations_html(patterns)
            + "<h2>Query correlation and intent</h2>"
            + _findings_html(correlation)
        )
        body = _timeline_sections(timeline, chart=False, middle=middle)
        page = _page(heading, body).encode()
        html_path = out / "report.html"
        write_bytes_atomic(html_path, page)
        digest = sha256_hex(page)
        custody = record_custody(
            opened,
            who,
            operation="forensic_report",
            subject=incident_id or "report",
            parameters={
                "output_dir": str(out),
                "agents": actors,
                "time_period_days": time_period_days,
                "significance_threshold": significance_threshold,
                "timeline_sha256": timeline.digest(),
                "timeline_custody_event_id": None
                if timeline.custody is None
                else timeline.custody.event_id,
                "aggregation_rules": [r.to_dict() for r in correlation.rules],
            },
            result_sha256=digest,
            summary={
                "images": digests,
                "deviations": sum(len(p.deviations) for p in patterns),
                "findings": len(correlation.findings),
            },
        )
    return ReportResult(html_path, digest, paths, digests, timeline, patterns, correlation, custody)
