"""Clock skew between nodes: per-node offsets, given by the analyst or estimated from causality.

Each node stamps its entries with its own clock. A node's **offset** is how
far its clock was ahead of the reference clock; a timeline places an entry at
``recorded time - offset of its node``. One offset per node: a stream's own
order is never changed by it (and the timeline merge keeps every stream's
order anyway, see :mod:`~logging_audit.forensics.timeline`).

Offsets come from, in this order of precedence:

1. **The analyst** (``clock_offsets={"node-b": 120.0}``: node-b ran 120 s fast),
   e.g. from NTP logs or a known-good time source.
2. **Causal links** found in the data: an entry that names another as its
   cause happened after it. An entry's identifiers are its audit ``event_id``
   and the ``span_id`` / ``message_id`` fields of its details (audit events)
   or extra fields (log records); it names a cause with ``caused_by``,
   ``parent_span_id`` or ``in_reply_to`` (OpenTelemetry-style span ids work as
   they are). A link from node X (cause, raw time tx) to node Y (effect, ty)
   is the constraint ``off(Y) - off(X) <= ty - tx`` (the effect happened
   after its cause). All links together bound each node's offset relative to
   the anchored nodes, directly or through other nodes (shortest paths in the
   constraint graph, Bellman-Ford). Nodes are then fixed one at a time — the
   one with most links first — each at the midpoint of its bounds (NTP's
   estimate when links run both ways: it assumes latency is the same both
   ways), or, with a bound on one side only, at the smallest correction that
   restores causality (the effect lands 1 µs after its cause; zero if
   causality already holds). Bounds that contradict each other (lower >
   upper: drifting clocks, or wrong links) are reported, and the midpoint is
   still used.
3. **Nothing**: a node with no link to an anchored node keeps offset 0, and
   the report says it was not estimated.

The anchors are the reference node (offset 0; by default the node with the
most entries) and every node the analyst gave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from logging_audit.errors import ConfigError

__all__ = [
    "CAUSE_ID_FIELDS",
    "CAUSE_REF_FIELDS",
    "CausalItem",
    "CausalLink",
    "ClockReport",
    "NodeClock",
    "estimate_clocks",
    "find_links",
]

CAUSE_ID_FIELDS = ("span_id", "message_id")
"""Fields (besides an audit event's ``event_id``) that identify an entry for causal links."""

CAUSE_REF_FIELDS = ("caused_by", "parent_span_id", "in_reply_to")
"""Fields by which an entry names the entry that caused it."""

_US = 1_000_000


@dataclass(frozen=True)
class CausalItem:
    """What skew estimation needs of one entry."""

    node: str
    recorded_us: int
    label: str
    ids: tuple[str, ...]
    refs: tuple[str, ...]


@dataclass(frozen=True)
class CausalLink:
    """A cause on one node and its effect on another, at their raw recorded times."""

    cause_node: str
    effect_node: str
    cause_us: int
    effect_us: int
    cause: str
    effect: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cause_node": self.cause_node,
            "effect_node": self.effect_node,
            "cause": self.cause,
            "effect": self.effect,
            "raw_delta_seconds": (self.effect_us - self.cause_us) / _US,
        }


@dataclass(frozen=True)
class NodeClock:
    """One node's clock offset and how it was obtained."""

    node: str
    offset_us: int
    method: str
    """``reference``, ``given``, ``estimated`` or ``not_estimated``."""
    links: int = 0
    note: str = ""

    @property
    def offset_seconds(self) -> float:
        """The offset in seconds (positive: the node's clock ran ahead)."""
        return self.offset_us / _US

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "node": self.node,
            "offset_seconds": self.offset_seconds,
            "method": self.method,
            "links": self.links,
            "note": self.note,
        }


@dataclass
class ClockReport:
    """The offsets used for a timeline and the evidence they rest on."""

    reference: str | None
    clocks: dict[str, NodeClock] = field(default_factory=dict)
    links: list[CausalLink] = field(default_factory=list)
    violations_before: int = 0
    """Causal links whose effect was recorded before its cause, on raw times."""
    violations_after: int = 0
    """… and after correction (0 unless the evidence contradicts itself)."""

    def offset_us(self, node: str) -> int:
        """The offset of ``node`` in microseconds (0 when unknown)."""
        clock = self.clocks.get(node)
        return 0 if clock is None else clock.offset_us

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "reference": self.reference,
            "clocks": [self.clocks[n].to_dict() for n in sorted(self.clocks)],
            "causal_links": len(self.links),
            "violations_before": self.violations_before,
            "violations_after": self.violations_after,
        }


def find_links(items: Iterable[CausalItem]) -> list[CausalLink]:
    """Links between entries on different nodes where one names the other as its cause."""
    materialised = list(items)
    by_id: dict[str, CausalItem] = {}
    for item in materialised:
        for ident in item.ids:
            by_id.setdefault(ident, item)
    links: list[CausalLink] = []
    for item in materialised:
        for ref in item.refs:
            cause = by_id.get(ref)
            if cause is None or cause.node == item.node:
                continue
            links.append(
                CausalLink(
                    cause.node,
                    item.node,
                    cause.recorded_us,
                    item.recorded_us,
                    cause.label,
                    item.label,
                )
            )
    return links


_INF = float("inf")


def _bounds(
    nodes: Sequence[str], fixed: Mapping[str, int], edges: Sequence[tuple[str, str, int]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Tightest bounds on every free node's offset implied by the fixed ones.

    Each edge ``(cause, effect, w)`` is the constraint ``off(effect) - off(cause) <= w``.
    Upper bounds propagate forward (``hi[e] <= hi[c] + w``), lower bounds backward
    (``lo[c] >= lo[e] - w``): Bellman-Ford, at most one pass per node (a cycle of
    contradicting links stops there instead of running away).
    """
    hi = {n: float(fixed[n]) if n in fixed else _INF for n in nodes}
    lo = {n: float(fixed[n]) if n in fixed else -_INF for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for cause, effect, w in edges:
            if effect not in fixed and hi[cause] + w < hi[effect]:
                hi[effect] = hi[cause] + w
                changed = True
            if cause not in fixed and lo[effect] - w > lo[cause]:
                lo[cause] = lo[effect] - w
                changed = True
        if not changed:
            break
    return lo, hi


def estimate_clocks(
    node_counts: Mapping[str, int],
    links: Sequence[CausalLink],
    *,
    reference: str | None = None,
    given: Mapping[str, float] | None = None,
    estimate: bool = True,
) -> ClockReport:
    """Offsets for every node of ``node_counts`` (entries per node); see the module docstring."""
    given = dict(given or {})
    for node, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"clock offset of node {node!r} must be seconds, got {value!r}")
    nodes = (
        set(node_counts)
        | set(given)
        | {x for link in links for x in (link.cause_node, link.effect_node)}
    )
    if reference is None and nodes:
        reference = max(sorted(nodes), key=lambda n: node_counts.get(n, 0))
    report = ClockReport(reference, links=list(links))
    offsets: dict[str, int] = {}
    if reference is not None:
        nodes.add(reference)
        offsets[reference] = round(given.get(reference, 0.0) * _US)
        report.clocks[reference] = NodeClock(
            reference,
            offsets[reference],
            "given" if reference in given else "reference",
            note="given by the analyst" if reference in given else "the reference clock",
        )
    for node, seconds in given.items():
        offsets[node] = round(seconds * _US)
        report.clocks[node] = NodeClock(node, offsets[node], "given", note="given by the analyst")
    if estimate:
        _solve(sorted(nodes), offsets, report, links)
    for node in sorted(nodes - set(offsets)):
        report.clocks[node] = NodeClock(
            node,
            0,
            "not_estimated",
            note="no causal link to a node of known offset: its own clock is used as it is",
        )
        offsets[node] = 0
    report.violations_before = sum(1 for link in links if link.effect_us < link.cause_us)
    report.violations_after = sum(
        1
        for link in links
        if link.effect_us - offsets[link.effect_node] < link.cause_us - offsets[link.cause_node]
    )
    return report


def _solve(
    nodes: list[str], offsets: dict[str, int], report: ClockReport, links: Sequence[CausalLink]
) -> None:
    """Fix free nodes one at a time, best-constrained first, from the bounds the links give."""
    tightest: dict[tuple[str, str], int] = {}
    degree: dict[str, int] = defaultdict(int)
    for link in links:
        key = (link.cause_node, link.effect_node)
        w = link.effect_us - link.cause_us
        tightest[key] = min(w, tightest.get(key, w))
        degree[link.cause_node] += 1
        degree[link.effect_node] += 1
    edges = [(c, e, w) for (c, e), w in sorted(tightest.items())]
    while True:
        lo, hi = _bounds(nodes, offsets, edges)
        free = [n for n in nodes if n not in offsets and (lo[n] > -_INF or hi[n] < _INF)]
        if not free:
            return
        both = [n for n in free if lo[n] > -_INF and hi[n] < _INF]
        pool = both or free
        node = min(pool, key=lambda n: (-degree[n], hi[n] - lo[n], n))
        low, high = lo[node], hi[node]
        if low > -_INF and high < _INF:
            value = round((low + high) / 2)
            note = f"bounded to [{low / _US:.6f}, {high / _US:.6f}] s: the midpoint"
            if low > high:
                note += " — the bounds contradict each other (drifting clock or wrong links)"
        elif high < _INF:
            value = 0 if high >= 0 else round(high) - 1
            note = f"bounded above by {high / _US:.6f} s only: " + (
                "already in causal order, no correction"
                if high >= 0
                else "the smallest correction that restores causality"
            )
        else:
            value = 0 if low <= 0 else round(low) + 1
            note = f"bounded below by {low / _US:.6f} s only: " + (
                "already in causal order, no correction"
                if low <= 0
                else "the smallest correction that restores causality"
            )
        offsets[node] = value
        report.clocks[node] = NodeClock(
            node,
            value,
            "estimated",
            degree[node],
            f"from {degree[node]} causal link(s), directly or through other nodes: {note}",
        )
