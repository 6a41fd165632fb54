"""Query correlation and intent analysis over the audit trail's own ``query`` events.

Every search, count, iteration and export of the audit data is recorded as a
``query`` event: the requestor (``actor``), the clearance it read with
(``clearance``), the criteria (``details.criteria.conditions`` as
``[field, op, value]``) and the number of results. :class:`QueryCorrelator`
reads them (and, to know what exists, the other events' resources and
classifications) and looks for intent:

``sequential_enumeration``
    One requestor naming targets (``resource``, ``event_id``, ``actor``) whose
    numeric suffixes run consecutively (``doc-0001``, ``doc-0002`` …) — a walk
    of the id space. Score: logistic in the run length, 0.5 at
    ``sequential_run`` and ≈0.98 at twice it.
``exhaustive_enumeration``
    One requestor naming at least ``min_distinct`` distinct resources of one
    family (the same name before a trailing number: ``doc-…``) that together
    cover a large share of that family's resources known in the store. Score:
    the share covered (reported from 0.5).
``paging_scrape``
    One requestor paging through results (continued searches) or exporting
    many times (reported from half of ``page_limit``). Score: logistic in the
    number of pages, 0.5 at ``page_limit``.
``clearance_probe``
    Criteria that can only match events classified above the requestor's own
    clearance (``clearance gte 4`` read at LEVEL_2), or that name such a level
    explicitly. With no read-up these return nothing: asking is the signal.
``target_probe``
    Criteria naming a resource, event or actor whose every known event is
    classified above the requestor's clearance.
    Probe score: ``1 - exp(-sum(level gaps) / 2)`` over the requestor's probes
    (one probe one level above: 0.39; three such, or one three levels above: 0.78).
``aggregation`` / ``combined_clearance``
    An :class:`AggregationRule` says that holding ``min_distinct`` of the
    resources matching a pattern needs a clearance (the classic aggregation
    problem: individually harmless records, sensitive together). A requestor
    below that clearance who alone named that many is an ``aggregation``
    finding; **several requestors, each below it and each short of the limit,
    whose targets together reach it** are a ``combined_clearance`` finding —
    nobody was cleared for what the group assembled. The group is the smallest
    set found greedily (largest contribution first). Score: 0.5 + 0.3 × how
    disjoint their targets are (a partition of the work is typical of a
    coordinated split) + 0.2 × how far past the limit they went.

Every finding names its requestors, the evidence (ids of the query events),
its time span and a plain explanation. The analyst's own reads are left out.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.errors import ConfigError
from logging_audit.forensics._common import (
    DEFAULT_ANALYST,
    StoreLike,
    TimeArg,
    format_us,
    requestor_for,
    store_session,
    time_arg,
    ts_us,
    us_to_datetime,
)
from logging_audit.forensics._stats import logistic
from logging_audit.persistence.models import ClearanceLevel, check_identifier

__all__ = ["AggregationRule", "CorrelationReport", "Finding", "QueryCorrelator"]

_TARGET_FIELDS = ("resource", "event_id", "actor")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_LEVELS = frozenset(range(1, 6))


@dataclass(frozen=True)
class AggregationRule:
    """Holding ``min_distinct`` resources matching ``pattern`` needs ``clearance``.

    ``pattern`` is a shell-style pattern (``customer-*``). Text form (CLI):
    ``PATTERN:MIN_DISTINCT:LEVEL`` e.g. ``customer-*:20:LEVEL_4``.
    """

    pattern: str
    min_distinct: int
    clearance: ClearanceLevel
    name: str = ""

    def __post_init__(self) -> None:
        check_identifier(self.pattern, "aggregation pattern")
        if type(self.min_distinct) is not int or self.min_distinct < 2:
            raise ConfigError("an aggregation rule's min_distinct must be an integer >= 2")
        object.__setattr__(self, "clearance", ClearanceLevel.coerce(self.clearance))
        if not self.name:
            object.__setattr__(self, "name", f"{self.pattern} x{self.min_distinct}")

    @classmethod
    def parse(cls, text: str) -> AggregationRule:
        """Parse ``PATTERN:MIN_DISTINCT:LEVEL``."""
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            raise ConfigError(f"aggregation rule {text!r} is not PATTERN:MIN_DISTINCT:LEVEL")
        return cls(parts[0], int(parts[1]), ClearanceLevel.coerce(parts[2], "rule clearance"))

    def matches(self, resource: str) -> bool:
        """True when ``resource`` falls under the rule."""
        return fnmatchcase(resource, self.pattern)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "pattern": self.pattern,
            "min_distinct": self.min_distinct,
            "clearance_level": int(self.clearance),
        }


@dataclass(frozen=True)
class Finding:
    """One suspected intent, scored in [0, 1], with its evidence."""

    kind: str
    requestors: tuple[str, ...]
    score: float
    explanation: str
    evidence: tuple[str, ...]
    start: str
    end: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "requestors": list(self.requestors),
            "score": self.score,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "start": self.start,
            "end": self.end,
            "details": dict(self.details),
        }


@dataclass
class CorrelationReport:
    """Findings over a window of query events."""

    start: str | None
    end: str | None
    queries: int
    requestors: int
    findings: list[Finding]
    rules: list[AggregationRule]

    def of_kind(self, kind: str) -> list[Finding]:
        """Findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "start": self.start,
            "end": self.end,
            "queries_analyzed": self.queries,
            "requestors": self.requestors,
            "rules": [r.to_dict() for r in self.rules],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True, eq=False)  # identity: conditions hold lists
class _Query:
    event_id: str
    requestor: str
    clearance: int
    time_us: int
    action: str
    conditions: tuple[tuple[str, str, Any], ...]
    result_count: int | None
    continued: bool

    def targets(self, name: str) -> list[str]:
        out: list[str] = []
        for fld, op, value in self.conditions:
            if fld != name:
                continue
            if op == "eq" and isinstance(value, str):
                out.append(value)
            elif op == "in" and isinstance(value, list):
                out.extend(v for v in value if isinstance(v, str))
        return out


def _parse(stored: StoredEvent) -> _Query | None:
    e = stored.event
    d = e.details
    crit = d.get("criteria")
    conditions: list[tuple[str, str, Any]] = []
    if isinstance(crit, Mapping) and isinstance(crit.get("conditions"), list):
        for cond in crit["conditions"]:
            if (
                isinstance(cond, list)
                and len(cond) == 3
                and all(isinstance(c, str) for c in cond[:2])
            ):
                conditions.append((cond[0], cond[1], cond[2]))
    count = d.get("result_count")
    return _Query(
        e.event_id,
        e.actor,
        int(e.clearance),
        ts_us(stored.ts),
        e.action,
        tuple(conditions),
        count if isinstance(count, int) and not isinstance(count, bool) else None,
        bool(d.get("continued")),
    )


def _levels(op: str, value: Any) -> set[int]:
    """The clearance levels a condition on ``clearance`` can match."""
    if op in ("in", "not_in"):
        vals = {v for v in value if isinstance(v, int)} if isinstance(value, list) else set()
        return set(vals & _LEVELS if op == "in" else _LEVELS - vals)
    if not isinstance(value, int) or isinstance(value, bool):
        return set(_LEVELS)
    by_op: dict[str, set[int]] = {
        "eq": {value} & _LEVELS,
        "ne": set(_LEVELS - {value}),
        "gt": {v for v in _LEVELS if v > value},
        "gte": {v for v in _LEVELS if v >= value},
        "lt": {v for v in _LEVELS if v < value},
        "lte": {v for v in _LEVELS if v <= value},
    }
    return by_op.get(op, set(_LEVELS))


def _span(queries: Sequence[_Query]) -> tuple[str, str]:
    times = [q.time_us for q in queries]
    return format_us(min(times)), format_us(max(times))


def _family(value: str) -> str:
    """``doc-`` for ``doc-0042``; the value itself when it ends in no number."""
    m = _NUMBERED.match(value)
    return value if m is None else m.group(1)


def _longest_run(values: Sequence[str]) -> tuple[str, int, list[int]]:
    """Longest run of consecutive numbers under one prefix, in access order."""
    best: tuple[str, int, list[int]] = ("", 0, [])
    runs: dict[str, tuple[int, int, list[int]]] = {}  # prefix -> (last number, length, indices)
    for idx, value in enumerate(values):
        m = _NUMBERED.match(value)
        if m is None:
            continue
        prefix, number = m.group(1), int(m.group(2))
        last = runs.get(prefix)
        if last is not None and number == last[0]:
            continue  # the same target again
        if last is not None and number == last[0] + 1:
            run = (number, last[1] + 1, [*last[2], idx])
        else:
            run = (number, 1, [idx])
        runs[prefix] = run
        if run[1] > best[1]:
            best = (prefix, run[1], run[2])
    return best


class QueryCorrelator:
    """Intent analysis over recorded queries (see the module docstring)."""

    def __init__(
        self,
        store: StoreLike = None,
        *,
        analyst: str | Requestor = DEFAULT_ANALYST,
        clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_5,
        aggregation_rules: Iterable[AggregationRule | str] = (),
        sequential_run: int = 8,
        min_distinct: int = 10,
        page_limit: int = 50,
        key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``store`` as for :class:`~logging_audit.forensics.timeline.TimelineAnalyzer`."""
        for name, value, low in (
            ("sequential_run", sequential_run, 2),
            ("min_distinct", min_distinct, 2),
            ("page_limit", page_limit, 1),
        ):
            if type(value) is not int or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        self._store = store
        self._key_dir = key_dir
        self.analyst = requestor_for(analyst, clearance)
        self.rules = [
            r if isinstance(r, AggregationRule) else AggregationRule.parse(r)
            for r in aggregation_rules
        ]
        self.sequential_run = sequential_run
        self.min_distinct = min_distinct
        self.page_limit = page_limit

    def analyze(
        self,
        start_time: TimeArg = None,
        end_time: TimeArg = None,
        *,
        requestors: Iterable[str] | None = None,
    ) -> CorrelationReport:
        """Read the query events of the window and return every finding, highest score first."""
        start_us = time_arg(start_time, "start_time")
        end_us = time_arg(end_time, "end_time", end=True)
        only = None if requestors is None else frozenset(requestors)
        start = None if start_us is None else us_to_datetime(start_us)
        end = None if end_us is None else us_to_datetime(end_us - 1)
        with store_session(self._store, key_dir=self._key_dir) as store:
            query = EventQuery.build({"event_type": "query"}, start=start, end=end)
            queries = [
                q
                for s in store.iter_events(query, self.analyst, purpose="forensic_correlation")
                if (q := _parse(s)) is not None
                and q.requestor != self.analyst.requestor_id
                and (only is None or q.requestor in only)
            ]
            known = self._known(store, end)
        by_requestor: dict[str, list[_Query]] = defaultdict(list)
        for q in queries:
            by_requestor[q.requestor].append(q)
        findings: list[Finding] = []
        for requestor, qs in sorted(by_requestor.items()):
            findings.extend(self._enumeration(requestor, qs, known))
            findings.extend(self._probing(requestor, qs, known))
        for rule in self.rules:
            findings.extend(self._aggregation(rule, by_requestor))
        findings.sort(key=lambda f: (-f.score, f.kind, f.requestors))
        return CorrelationReport(
            None if start_us is None else format_us(start_us),
            None if end_us is None else format_us(end_us),
            len(queries),
            len(by_requestor),
            findings,
            list(self.rules),
        )

    def _known(self, store: Any, end: Any) -> dict[str, dict[str, int]]:
        """Per target field: value -> lowest classification of its events (what exists)."""
        known: dict[str, dict[str, int]] = {f: {} for f in _TARGET_FIELDS}
        query = EventQuery.build({"event_type": {"ne": "query"}}, end=end)
        for s in store.iter_events(query, self.analyst, purpose="forensic_correlation"):
            e = s.event
            level = int(e.clearance)
            for name, value in (
                ("resource", e.resource),
                ("event_id", e.event_id),
                ("actor", e.actor),
            ):
                if value:
                    seen = known[name].get(value)
                    known[name][value] = level if seen is None else min(seen, level)
        return known

    # -- enumeration and scraping ------------------------------------------------------

    def _enumeration(
        self, requestor: str, qs: list[_Query], known: dict[str, dict[str, int]]
    ) -> list[Finding]:
        out: list[Finding] = []
        for name in _TARGET_FIELDS:
            targets: list[tuple[str, _Query]] = [(t, q) for q in qs for t in q.targets(name)]
            if not targets:
                continue
            prefix, length, idx = _longest_run([t for t, _ in targets])
            if length >= self.sequential_run:
                used = [targets[i] for i in idx]
                evidence = list(dict.fromkeys(q.event_id for _, q in used))
                s, e = _span([q for _, q in used])
                out.append(
                    Finding(
                        "sequential_enumeration",
                        (requestor,),
                        round(logistic(length, self.sequential_run, self.sequential_run / 4), 6),
                        f"{requestor} asked for {length} consecutive {name} ids in order "
                        f"({used[0][0]} … {used[-1][0]}): a walk of the id space",
                        tuple(evidence),
                        s,
                        e,
                        {"field": name, "prefix": prefix, "run_length": length},
                    )
                )
            if name == "resource":
                out.extend(self._exhaustive(requestor, targets, known.get(name, {})))
        pages = [q for q in qs if q.continued or q.action == "export"]
        if len(pages) >= self.page_limit // 2:
            score = logistic(len(pages), self.page_limit, self.page_limit / 4)
            rows = sum(q.result_count or 0 for q in pages)
            s, e = _span(pages)
            out.append(
                Finding(
                    "paging_scrape",
                    (requestor,),
                    round(score, 6),
                    f"{requestor} read {len(pages)} further pages or bulk reads "
                    f"({rows} results in all)",
                    tuple(q.event_id for q in pages),
                    s,
                    e,
                    {"pages": len(pages), "results": rows},
                )
            )
        return out

    def _exhaustive(
        self, requestor: str, targets: list[tuple[str, _Query]], universe: Mapping[str, int]
    ) -> list[Finding]:
        """Coverage of each family of resources (same name before the number) named."""
        named: dict[str, set[str]] = defaultdict(set)
        for target, _ in targets:
            named[_family(target)].add(target)
        known: dict[str, set[str]] = defaultdict(set)
        for value in universe:
            known[_family(value)].add(value)
        out: list[Finding] = []
        for family, values in sorted(named.items()):
            pool = known.get(family, set())
            if len(values) < self.min_distinct or not pool:
                continue
            reached = values & pool
            share = len(reached) / len(pool)
            if share < 0.5:
                continue
            used = [q for t, q in targets if t in values]
            s, e = _span(used)
            out.append(
                Finding(
                    "exhaustive_enumeration",
                    (requestor,),
                    round(share, 6),
                    f"{requestor} named {len(values)} distinct resources {family}…, "
                    f"{len(reached)} of the {len(pool)} known ({share:.0%})",
                    tuple(dict.fromkeys(q.event_id for q in used)),
                    s,
                    e,
                    {"family": family, "distinct": len(values), "known": len(pool)},
                )
            )
        return out

    # -- probing above clearance -------------------------------------------------------

    def _probing(
        self, requestor: str, qs: list[_Query], known: dict[str, dict[str, int]]
    ) -> list[Finding]:
        out: list[Finding] = []
        level_probes: list[tuple[_Query, int, str]] = []
        target_probes: list[tuple[_Query, int, str]] = []
        for q in qs:
            for fld, op, value in q.conditions:
                if fld != "clearance":
                    continue
                levels = _levels(op, value)
                named = (
                    {value}
                    if op == "eq" and isinstance(value, int)
                    else {v for v in value if isinstance(v, int)}
                    if op == "in" and isinstance(value, list)
                    else set()
                )
                above = {v for v in levels | named if v > q.clearance}
                if levels and (min(levels) > q.clearance or {v for v in named if v > q.clearance}):
                    gap = max(above) - q.clearance
                    level_probes.append((q, gap, f"clearance {op} {value}"))
            for name in _TARGET_FIELDS:
                for target in q.targets(name):
                    lowest = known.get(name, {}).get(target)
                    if lowest is not None and lowest > q.clearance:
                        target_probes.append((q, lowest - q.clearance, f"{name} {target!r}"))
        for kind, probes, what in (
            ("clearance_probe", level_probes, "asked only for events classified above"),
            ("target_probe", target_probes, "named targets whose every event is classified above"),
        ):
            if not probes:
                continue
            total_gap = sum(g for _, g, _ in probes)
            score = 1.0 - math.exp(-total_gap / 2.0)
            level = min(q.clearance for q, _, _ in probes)
            examples = ", ".join(dict.fromkeys(d for _, _, d in probes[:5]))
            zero = sum(1 for q, _, _ in probes if q.result_count == 0)
            s, e = _span([q for q, _, _ in probes])
            out.append(
                Finding(
                    kind,
                    (requestor,),
                    round(score, 6),
                    f"{requestor} (clearance LEVEL_{level}) {what} its clearance "
                    f"{len(probes)} time(s), up to {max(g for _, g, _ in probes)} level(s) above "
                    f"({examples}); {zero} of these queries returned nothing",
                    tuple(dict.fromkeys(q.event_id for q, _, _ in probes)),
                    s,
                    e,
                    {"probes": len(probes), "level_gap_total": total_gap},
                )
            )
        return out

    # -- aggregation across requestors -------------------------------------------------

    def _aggregation(
        self, rule: AggregationRule, by_requestor: Mapping[str, list[_Query]]
    ) -> list[Finding]:
        reach: dict[str, set[str]] = {}
        evidence: dict[str, list[_Query]] = {}
        level: dict[str, int] = {}
        for requestor, qs in by_requestor.items():
            hits = [(t, q) for q in qs for t in q.targets("resource") if rule.matches(t)]
            if not hits:
                continue
            top = max(q.clearance for _, q in hits)
            if top >= rule.clearance:
                continue  # cleared for the aggregate: not a violation
            reach[requestor] = {t for t, _ in hits}
            evidence[requestor] = list(dict.fromkeys(q for _, q in hits))
            level[requestor] = top
        out: list[Finding] = []
        for requestor, targets in sorted(reach.items()):
            if len(targets) >= rule.min_distinct:
                s, e = _span(evidence[requestor])
                out.append(
                    Finding(
                        "aggregation",
                        (requestor,),
                        round(min(1.0, 0.5 + 0.5 * len(targets) / (2 * rule.min_distinct)), 6),
                        f"{requestor} (clearance LEVEL_{level[requestor]}) named {len(targets)} "
                        f"resources matching {rule.pattern!r}; {rule.min_distinct} of them "
                        f"together need LEVEL_{int(rule.clearance)}",
                        tuple(q.event_id for q in evidence[requestor]),
                        s,
                        e,
                        {"rule": rule.to_dict(), "distinct": len(targets)},
                    )
                )
        short = {r: t for r, t in reach.items() if len(t) < rule.min_distinct}
        union: set[str] = set()
        group: list[str] = []
        remaining = dict(short)
        while remaining and len(union) < rule.min_distinct:
            best = max(sorted(remaining), key=lambda r: len(remaining[r] - union))
            if not remaining[best] - union:
                break
            group.append(best)
            union |= remaining.pop(best)
        if len(group) >= 2 and len(union) >= rule.min_distinct:
            total = sum(len(short[r]) for r in group)
            disjoint = len(union) / total if total else 0.0
            beyond = min(1.0, (len(union) - rule.min_distinct) / rule.min_distinct)
            score = 0.5 + 0.3 * disjoint + 0.2 * beyond
            qs = [q for r in group for q in evidence[r]]
            s, e = _span(qs)
            parts = ", ".join(f"{r} (LEVEL_{level[r]}, {len(short[r])})" for r in group)
            out.append(
                Finding(
                    "combined_clearance",
                    tuple(group),
                    round(score, 6),
                    f"together {parts} named {len(union)} distinct resources matching "
                    f"{rule.pattern!r}; {rule.min_distinct} of them need LEVEL_"
                    f"{int(rule.clearance)}, which none of them holds and none reached alone",
                    tuple(q.event_id for q in qs),
                    s,
                    e,
                    {
                        "rule": rule.to_dict(),
                        "union": len(union),
                        "contributions": {r: len(short[r]) for r in group},
                        "disjointness": round(disjoint, 6),
                    },
                )
            )
        return out
