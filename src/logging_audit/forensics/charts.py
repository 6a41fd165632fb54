"""Charts for people who would rather look than read: PNG bytes, drawn with matplotlib (Agg).

- :func:`agent_resource_heatmap`: data accesses per actor × resource (the most
  active actors and most used resources; the rest folded into ``(other)``);
- :func:`hour_weekday_heatmap`: activity per hour of day × weekday (UTC);
- :func:`activity_timeline_chart`: a timeline's entries over time, one lane per
  stream and node, coloured by integrity state, gaps shaded;
- :func:`anomaly_scores_chart`: deviation scores over time, per feature, with the
  significance threshold.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot
state, no GUI backend, safe in threads); PNG metadata carries no timestamp.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from logging_audit.forensics.baselines import WEEKDAYS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from logging_audit.forensics.pattern_analyzer import Deviation
    from logging_audit.forensics.timeline import Timeline

__all__ = [
    "PNG_SIGNATURE",
    "Access",
    "accesses_from",
    "activity_timeline_chart",
    "agent_resource_heatmap",
    "anomaly_scores_chart",
    "hour_weekday_heatmap",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first eight bytes of every PNG file."""

_STATE_COLOURS = {
    "verified": "#2e7d32",
    "not_covered": "#9e9e9e",
    "failed": "#c62828",
    "unverifiable": "#ef6c00",
}


@dataclass(frozen=True)
class Access:
    """One event as the heatmaps see it."""

    actor: str
    resource: str | None
    when: datetime


def _dates() -> Any:
    """``matplotlib.dates`` (it ships no type information: used through ``Any``)."""
    import importlib

    return importlib.import_module("matplotlib.dates")


def _date_axis(ax: Any) -> None:
    mdates = _dates()
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _empty(fig: Figure, title: str) -> bytes:
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return _png(fig)


def _heat(
    fig: Figure,
    grid: list[list[int]],
    rows: Sequence[str],
    cols: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
) -> bytes:
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(len(cols)), labels=list(cols), rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), labels=list(rows), fontsize=7)
    fig.colorbar(image, ax=ax, label="events")
    peak = max((max(r) for r in grid), default=0)
    if len(rows) * len(cols) <= 400 and peak:
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                if value:
                    ax.text(
                        j,
                        i,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if value < peak * 0.6 else "black",
                    )
    return _png(fig)


def agent_resource_heatmap(
    accesses: Iterable[Access], *, max_actors: int = 20, max_resources: int = 30
) -> bytes:
    """PNG: events per actor × resource (events without a resource are left out)."""
    pairs = [(a.actor, a.resource) for a in accesses if a.resource]
    fig = _figure(10, 6)
    title = "Data access: actor × resource"
    if not pairs:
        return _empty(fig, title)
    actors = [a for a, _ in Counter(a for a, _ in pairs).most_common(max_actors)]
    resources = [r for r, _ in Counter(r for _, r in pairs).most_common(max_resources)]
    row_names = [*actors, "(other)"] if len({a for a, _ in pairs}) > len(actors) else actors
    col_names = (
        [*resources, "(other)"] if len({r for _, r in pairs}) > len(resources) else resources
    )
    ri = {a: i for i, a in enumerate(actors)}
    ci = {r: i for i, r in enumerate(resources)}
    grid = [[0] * len(col_names) for _ in row_names]
    for actor, resource in pairs:
        assert resource is not None
        grid[ri.get(actor, len(row_names) - 1)][ci.get(resource, len(col_names) - 1)] += 1
    return _heat(fig, grid, row_names, col_names, title, "resource", "actor")


def hour_weekday_heatmap(
    accesses: Iterable[Access], *, title: str = "Activity: weekday × hour (UTC)"
) -> bytes:
    """PNG: events per weekday × hour of day (UTC)."""
    grid = [[0] * 24 for _ in range(7)]
    n = 0
    for a in accesses:
        grid[a.when.weekday()][a.when.hour] += 1
        n += 1
    fig = _figure(10, 3.6)
    if not n:
        return _empty(fig, title)
    return _heat(
        fig, grid, WEEKDAYS, [f"{h:02d}" for h in range(24)], title, "hour of day (UTC)", "weekday"
    )


def activity_timeline_chart(timeline: Timeline) -> bytes:
    """PNG: the timeline's entries over time, one lane per stream and node, by integrity state."""
    from matplotlib.lines import Line2D

    from logging_audit.forensics._common import ts_us, us_to_datetime

    mdates = _dates()

    fig = _figure(11, 1.6 + 0.45 * max(1, len({(e.source, e.node) for e in timeline.events})))
    title = "Activity timeline" + (f" — {timeline.incident_id}" if timeline.incident_id else "")
    if not timeline.events:
        return _empty(fig, title)
    lanes = sorted({(e.source, e.node) for e in timeline.events})
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    ax = fig.add_subplot()
    by_state: dict[str, tuple[list[datetime], list[int]]] = {}
    for e in timeline.events:
        xs, ys = by_state.setdefault(e.integrity.state.value, ([], []))
        xs.append(e.timestamp.replace(tzinfo=None))
        ys.append(lane_index[(e.source, e.node)])
    for state, (xs, ys) in sorted(by_state.items()):
        ax.scatter(
            mdates.date2num(xs),
            ys,
            s=18,
            c=_STATE_COLOURS.get(state, "#000000"),
            label=state,
            marker="|" if len(xs) > 500 else "o",
        )
    for gap in timeline.gaps:
        if gap.start and gap.end:
            ax.axvspan(
                mdates.date2num(us_to_datetime(ts_us(gap.start)).replace(tzinfo=None)),
                mdates.date2num(us_to_datetime(ts_us(gap.end)).replace(tzinfo=None)),
                color="#ffcdd2" if gap.kind != "silence" else "#eeeeee",
                alpha=0.6,
                zorder=0,
            )
    ax.set_yticks(
        range(len(lanes)),
        labels=[f"{node} · {src.rsplit('/', 1)[-1]}" for src, node in lanes],
        fontsize=7,
    )
    ax.set_ylim(-0.8, len(lanes) - 0.2)
    _date_axis(ax)
    ax.set_title(title)
    ax.set_xlabel("corrected time (UTC)")
    handles = [
        Line2D([], [], marker="o", linestyle="", color=_STATE_COLOURS[s], label=s)
        for s in _STATE_COLOURS
    ]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, title="integrity"
    )
    return _png(fig)


def anomaly_scores_chart(
    deviations: Sequence[Deviation],
    threshold: float | None = None,
    *,
    title: str = "Anomaly scores over time",
) -> bytes:
    """PNG: each deviation's score at the start of its window, per feature; the threshold dashed."""
    mdates = _dates()
    fig = _figure(10, 4)
    if not deviations:
        return _empty(fig, title)
    ax = fig.add_subplot()
    by_feature: dict[str, tuple[list[datetime], list[float]]] = {}
    for d in deviations:
        xs, ys = by_feature.setdefault(d.feature, ([], []))
        xs.append(
            datetime.fromisoformat(d.window_start.replace("Z", "+00:00")).replace(tzinfo=None)
        )
        ys.append(d.score)
    markers = "osD^v<>px*"
    for i, (feature, (xs, ys)) in enumerate(sorted(by_feature.items())):
        ax.scatter(
            mdates.date2num(xs),
            ys,
            label=feature,
            marker=markers[i % len(markers)],
            s=24,
            alpha=0.8,
        )
    if threshold is not None:
        ax.axhline(
            threshold,
            linestyle="--",
            color="#c62828",
            linewidth=1,
            label=f"threshold {threshold:g}",
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("score")
    _date_axis(ax)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    return _png(fig)


def accesses_from(items: Iterable[Any]) -> list[Access]:
    """:class:`Access` records from timeline events or stored audit events."""
    from logging_audit.audit.records import StoredEvent
    from logging_audit.forensics._common import ts_us, us_to_datetime

    out: list[Access] = []
    for item in items:
        if isinstance(item, StoredEvent):
            out.append(
                Access(item.event.actor, item.event.resource, us_to_datetime(ts_us(item.ts)))
            )
        else:
            out.append(Access(item.actor or item.node, item.resource, item.timestamp))
    return out
