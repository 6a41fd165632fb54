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
   bounds the difference of offsets: ``off(Y) - off(X) <= ty - tx``. Links in
   the other direction give a lower bound. With both bounds the estimate is
   their midpoint (NTP's estimate: it assumes latency is the same both ways);
   with one bound only, the smallest correction that restores causality (the
   effect lands 1 µs after its cause; zero if causality already holds). Bounds
   that contradict each other (lower > upper: drifting clocks, or wrong links)
   are reported, and the midpoint is still used.
3. **Nothing**: a node with no link to an anchored node keeps offset 0, and
   the report says it was not estimated.

Pairwise estimates are chained from the anchors (the reference node at 0 and
every node the analyst gave) along the pairs with the most links first. The
reference node defaults to the node with the most entries.
"""

from __future__ import annotations

import heapq
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


@dataclass
class _Pair:
    upper: int | None = None  # bound on off(b) - off(a)
    lower: int | None = None
    count: int = 0


def _pairs(links: Sequence[CausalLink]) -> dict[tuple[str, str], _Pair]:
    pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
    for link in links:
        a, b = sorted((link.cause_node, link.effect_node))
        pair = pairs[(a, b)]
        pair.count += 1
        if link.cause_node == a:  # a -> b: off(b) - off(a) <= t_b - t_a
            bound = link.effect_us - link.cause_us
            pair.upper = bound if pair.upper is None else min(pair.upper, bound)
        else:  # b -> a: off(a) - off(b) <= t_a - t_b, so off(b) - off(a) >= t_b - t_a
            bound = link.cause_us - link.effect_us
            pair.lower = bound if pair.lower is None else max(pair.lower, bound)
    return pairs


def _delta(pair: _Pair) -> tuple[int, str]:
    """Estimate of off(b) - off(a) for a pair (a, b), and a note."""
    lo, hi = pair.lower, pair.upper
    if lo is not None and hi is not None:
        note = f"links both ways bound the difference to [{lo / _US:.6f}, {hi / _US:.6f}] s"
        if lo > hi:
            note += " — the bounds contradict each other (drifting clock or wrong links)"
        return (lo + hi) // 2, note
    if hi is not None:
        if hi >= 0:
            return 0, "links one way only, already in causal order: no correction"
        return hi - 1, "links one way only: the smallest correction that restores causality"
    assert lo is not None
    if lo <= 0:
        return 0, "links one way only, already in causal order: no correction"
    return lo + 1, "links one way only: the smallest correction that restores causality"


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
    nodes = set(node_counts) | set(given)
    if reference is None and nodes:
        reference = max(sorted(nodes), key=lambda n: node_counts.get(n, 0))
    report = ClockReport(reference, links=list(links))
    offsets: dict[str, int] = {}
    if reference is not None:
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
        _propagate(offsets, report, _pairs(links))
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


def _propagate(
    offsets: dict[str, int], report: ClockReport, pairs: dict[tuple[str, str], _Pair]
) -> None:
    """Chain pairwise estimates out from the anchored nodes, strongest pairs first."""
    neighbours: dict[str, list[tuple[str, str, _Pair]]] = defaultdict(list)
    for (a, b), pair in pairs.items():
        neighbours[a].append((b, "fwd", pair))
        neighbours[b].append((a, "rev", pair))
    heap: list[tuple[int, str, str, str]] = []
    for node in sorted(offsets):
        for other, direction, pair in neighbours[node]:
            heapq.heappush(heap, (-pair.count, node, other, direction))
    while heap:
        _neg, known, other, direction = heapq.heappop(heap)
        if other in offsets:
            continue
        a, b = (known, other) if direction == "fwd" else (other, known)
        pair = pairs[(a, b)]
        delta, note = _delta(pair)  # off(b) - off(a)
        offsets[other] = offsets[known] + (delta if direction == "fwd" else -delta)
        report.clocks[other] = NodeClock(
            other,
            offsets[other],
            "estimated",
            pair.count,
            f"from {pair.count} causal link(s) with {known}: {note}",
        )
        for nxt, nxt_dir, nxt_pair in neighbours[other]:
            if nxt not in offsets:
                heapq.heappush(heap, (-nxt_pair.count, other, nxt, nxt_dir))
