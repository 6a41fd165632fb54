"""Pattern analysis: an actor's deviations from its own baseline, scored in [0, 1] and explained.

::

    from logging_audit.forensics.pattern_analyzer import PatternAnalyzer

    unusual_patterns = PatternAnalyzer().identify_anomalies(
        agent_id="A-12345", time_period_days=30, significance_threshold=0.85)
    for d in unusual_patterns:
        print(d.score, d.feature, d.explanation, d.evidence[:3])

The period is the ``time_period_days`` 24-hour days ending at ``end`` (default:
now). Each day is compared with the **other days of the same period**
(leave-one-day-out), so an anomaly is found wherever it lies in the period
and does not dilute its own baseline. For each day:

- **volume**: the day's event count against the other days' mean and spread
  (z-score, spread at least Poisson's √mean);
- **hour_of_week**, **resource**, **action**, **source_ip**, **query_shape**:
  for each value seen that day, how many of the day's events had it against
  the rate the other days give it (binomial tail; unseen values get a small
  pseudo-count). An hour of the week is compared with the same weekday's other
  days, shrunk towards the hour of day over all days (so a Thursday is judged
  against Thursdays, and a first Saturday against every day's hours); hours
  are smoothed with their neighbours;
- **new_<feature>**: how many of the day's events used values never seen on
  other days, against the rate of new values the baseline itself shows
  (Good–Turing: the share of values seen only once).

A tail probability *p* becomes a score with Šidák's correction over every
test made for the actor in the period (all days, values and features):
``score = (1 - p) ** tests`` — the chance that nothing in an ordinary period
of this actor would look this unusual. So 0.85 means "rarer than what 85 %
of ordinary periods would show anywhere". The tails assume events are
independent given the baseline; bursty but benign behaviour (a batch job
that runs once a month) scores high, and the explanation says why.
``significance_threshold`` keeps deviations whose score reaches it. Every
deviation carries a plain-language explanation, the observed and expected
numbers, and the ids of the events that make it up (``evidence``, at most
``max_evidence``; ``evidence_count`` says how many there were). Features
need at least ``min_baseline_events`` events on the other days to be scored.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from logging_audit.audit.dates import TimeBound
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.errors import ConfigError
from logging_audit.forensics._common import (
    DEFAULT_ANALYST,
    StoreLike,
    format_us,
    requestor_for,
    store_session,
    time_arg,
    us_to_datetime,
)
from logging_audit.forensics._stats import binomial_sf, normal_sf, sidak
from logging_audit.forensics.baselines import (
    FEATURES,
    WEEKDAYS,
    AgentBaseline,
    Observation,
    build_baseline,
    hour_of_week_label,
    observe,
)
from logging_audit.persistence.models import ClearanceLevel, check_identifier

__all__ = ["Deviation", "PatternAnalyzer", "PatternReport"]

_DAY_US = 86_400_000_000
_ALPHA = 0.5
_NOVELTY = ("resource", "source_ip", "query_shape", "action")
_SHRINK = 10.0


@dataclass(frozen=True)
class Deviation:
    """One way an actor's activity departed from its baseline."""

    agent_id: str
    feature: str
    """``volume``, one of the baseline features, or ``new_<feature>``."""
    value: str
    score: float
    """In [0, 1]; see the module docstring."""
    explanation: str
    evidence: tuple[str, ...]
    """Event ids (at most ``max_evidence`` of them)."""
    evidence_count: int
    window_start: str
    window_end: str
    observed: float
    expected: float
    p_value: float
    tests: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "agent_id": self.agent_id,
            "feature": self.feature,
            "value": self.value,
            "score": self.score,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "evidence_count": self.evidence_count,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "observed": self.observed,
            "expected": self.expected,
            "p_value": self.p_value,
            "tests": self.tests,
        }


@dataclass
class PatternReport:
    """A baseline, every scored candidate, and the deviations at or above the threshold."""

    agent_id: str
    threshold: float
    baseline: AgentBaseline
    deviations: list[Deviation]
    scored: list[Deviation]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``scored`` left out: it can be long)."""
        return {
            "agent_id": self.agent_id,
            "significance_threshold": self.threshold,
            "baseline": self.baseline.to_dict(),
            "deviations": [d.to_dict() for d in self.deviations],
            "candidates_scored": len(self.scored),
            "notes": list(self.notes),
        }


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%" if x < 0.1 else f"{100 * x:.1f}%"


class _Scorer:
    def __init__(
        self,
        base: AgentBaseline,
        observations: list[Observation],
        min_events: int,
        max_evidence: int,
    ) -> None:
        self.base = base
        self.min_events = min_events
        self.max_evidence = max_evidence
        self.by_day: list[list[Observation]] = [[] for _ in range(base.days)]
        for obs in observations:
            if 0 <= obs.day < base.days:
                self.by_day[obs.day].append(obs)
        self.out: list[Deviation] = []
        self.notes: list[str] = []
        self.families: dict[str, int] = {}
        """Tests made per feature family (for the correction over all of them)."""

    def finish(self) -> list[Deviation]:
        """Scores corrected over every test of every family, highest first."""
        total = sum(self.families.values())
        rescored = [
            replace(d, score=round(sidak(d.p_value, total), 6), tests=total) for d in self.out
        ]
        return sorted(rescored, key=lambda d: (-d.score, d.window_start, d.feature, d.value))

    def window(self, day: int) -> tuple[str, str]:
        start = self.base.start_us + day * _DAY_US
        return format_us(start), format_us(start + _DAY_US)

    def add(
        self,
        feature: str,
        value: str,
        p: float,
        tests: int,
        day: int,
        explanation: str,
        evidence: Sequence[str],
        observed: float,
        expected: float,
    ) -> None:
        ws, we = self.window(day)
        self.families[feature] = tests
        score = round(sidak(p, tests), 6)
        self.out.append(
            Deviation(
                self.base.agent_id,
                feature,
                value,
                score,
                explanation,
                tuple(evidence[: self.max_evidence]),
                len(evidence),
                ws,
                we,
                observed,
                round(expected, 4),
                p,
                tests,
            )
        )

    def volume(self) -> None:
        daily = self.base.daily
        days = len(daily)
        if days < 2:
            self.notes.append("volume: a period of one day has nothing to compare with")
            return
        for d, n in enumerate(daily):
            others = daily[:d] + daily[d + 1 :]
            if n == 0 or sum(others) < self.min_events:
                continue
            mu = sum(others) / len(others)
            sd = math.sqrt(sum((x - mu) ** 2 for x in others) / len(others))
            sigma = max(sd, math.sqrt(mu), 1.0)
            if n <= mu:
                continue
            z = (n - mu) / sigma
            p = normal_sf(z)
            ws, _ = self.window(d)
            self.add(
                "volume",
                str(n),
                p,
                days,
                d,
                f"{n} events in the day from {ws}, where this actor's other days average "
                f"{mu:.1f} (spread {sigma:.1f}): {z:.1f} standard deviations above its usual "
                "volume",
                [o.event_id for o in self.by_day[d]],
                n,
                mu,
            )

    def categorical(self, feature: str) -> None:
        totals = self.base.counts.get(feature, Counter())
        total = sum(totals.values())
        per_day = [
            Counter(o.values[feature] for o in obs if feature in o.values) for obs in self.by_day
        ]
        tests = sum(len(c) for c in per_day)
        if tests == 0:
            return
        for d, day_counts in enumerate(per_day):
            n_day = sum(day_counts.values())
            n_other = total - n_day
            if n_day == 0:
                continue
            if n_other < self.min_events:
                continue
            for value, k in day_counts.items():
                c_other = totals[value] - k
                context = ""
                if feature == "hour_of_week":
                    p_v, context = self._hour_rate(int(value), totals, day_counts)
                else:
                    p_v = (c_other + _ALPHA) / (n_other + _ALPHA * (len(totals) + 1))
                expected = n_day * p_v
                if k <= expected:
                    continue
                p = binomial_sf(k, n_day, p_v)
                evidence = [o.event_id for o in self.by_day[d] if o.values.get(feature) == value]
                self.add(
                    feature,
                    value,
                    p,
                    tests,
                    d,
                    self._explain(feature, value, k, n_day, c_other, n_other, context, d),
                    evidence,
                    k,
                    expected,
                )

    @staticmethod
    def _hour_rate(slot: int, totals: Counter[str], day: Counter[str]) -> tuple[float, str]:
        """Rate of ``slot`` given its weekday, shrunk towards the hour-of-day rate of all days.

        Counts are the other days' (the scored day left out), each hour smoothed
        with its neighbours. ``p = (s(slot) + B * P(hour)) / (S(weekday) + B)``:
        with little history for that weekday the hour of day decides.
        """

        def other(h: int) -> float:
            key = str(h % 168)
            return totals.get(key, 0) - day.get(key, 0)

        def smooth(h: int) -> float:
            return other(h) + 0.5 * (other(h - 1) + other(h + 1))

        weekday, hour = divmod(slot, 24)
        s_weekday = sum(smooth(weekday * 24 + i) for i in range(24))
        s_all = sum(smooth(i) for i in range(168))
        pooled = sum(smooth(w * 24 + hour) for w in range(7))
        p_hour = (pooled + 0.1) / (s_all + 2.4)
        rate = (smooth(slot) + _SHRINK * p_hour) / (s_weekday + _SHRINK)
        weekday_name = WEEKDAYS[weekday]
        context = (
            f"other {weekday_name}s put {_pct(smooth(slot) / s_weekday)} of their activity in "
            f"that hour"
            if s_weekday
            else f"this actor has no other activity on a {weekday_name}"
        )
        return rate, f"{context}; all other days put {_pct(pooled / s_all if s_all else 0.0)} there"

    def _explain(
        self,
        feature: str,
        value: str,
        k: int,
        n_day: int,
        c_other: int,
        n_other: int,
        context: str,
        d: int,
    ) -> str:
        ws, _ = self.window(d)
        share = c_other / n_other if n_other else 0.0
        if feature == "hour_of_week":
            return (
                f"{k} of {n_day} events in {hour_of_week_label(int(value))} (day from {ws}); "
                f"{context}"
            )
        what = {
            "resource": "accesses to resource",
            "action": "events of action",
            "source_ip": "events from source address",
            "query_shape": "queries shaped",
        }[feature]
        novelty = (
            "never seen on other days"
            if c_other == 0
            else f"{c_other} of {n_other} on other days ({_pct(share)})"
        )
        return f"{k} of {n_day} {what} {value!r} in the day from {ws}; baseline: {novelty}"

    def novelty(self, feature: str) -> None:
        totals = self.base.counts.get(feature, Counter())
        days = self.base.days
        for d, obs in enumerate(self.by_day):
            day_counts = Counter(o.values[feature] for o in obs if feature in o.values)
            n_day = sum(day_counts.values())
            others = Counter({v: totals[v] - day_counts.get(v, 0) for v in totals})
            others = +others
            n_other = sum(others.values())
            if n_day == 0 or n_other < self.min_events:
                continue
            novel = [
                o for o in obs if feature in o.values and others.get(o.values[feature], 0) == 0
            ]
            distinct = {o.values[feature] for o in novel}
            if len(distinct) < 2:
                continue  # one new value is scored by the per-value test
            singletons = sum(1 for c in others.values() if c == 1)
            q = (singletons + 1) / (n_other + 2)
            m = len(novel)
            p = binomial_sf(m, n_day, q)
            ws, _ = self.window(d)
            self.add(
                f"new_{feature}",
                str(len(distinct)),
                p,
                days,
                d,
                f"{m} of {n_day} events in the day from {ws} used {len(distinct)} {feature} "
                f"values never seen on other days; the baseline's own rate of new values is "
                f"{_pct(q)}",
                [o.event_id for o in novel],
                m,
                n_day * q,
            )


class PatternAnalyzer:
    """Per-actor baselines and scored deviations, from the audit store (see the module doc)."""

    def __init__(
        self,
        store: StoreLike = None,
        *,
        analyst: str | Requestor = DEFAULT_ANALYST,
        clearance: ClearanceLevel | int = ClearanceLevel.LEVEL_5,
        min_baseline_events: int = 20,
        max_evidence: int = 50,
        key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``store`` as for :class:`~logging_audit.forensics.timeline.TimelineAnalyzer`."""
        if type(min_baseline_events) is not int or min_baseline_events < 1:
            raise ConfigError("min_baseline_events must be a positive integer")
        if type(max_evidence) is not int or max_evidence < 1:
            raise ConfigError("max_evidence must be a positive integer")
        self._store = store
        self._key_dir = key_dir
        self.analyst = requestor_for(analyst, clearance)
        self.min_baseline_events = min_baseline_events
        self.max_evidence = max_evidence

    def identify_anomalies(
        self,
        agent_id: str,
        time_period_days: int = 30,
        significance_threshold: float = 0.85,
        *,
        end: TimeBound | None = None,
    ) -> list[Deviation]:
        """Deviations scoring at least ``significance_threshold``, highest first."""
        return self.analyze(agent_id, time_period_days, significance_threshold, end=end).deviations

    def analyze(
        self,
        agent_id: str,
        time_period_days: int = 30,
        significance_threshold: float = 0.85,
        *,
        end: TimeBound | None = None,
    ) -> PatternReport:
        """Baseline, all scored candidates and the significant deviations of one actor."""
        check_identifier(agent_id, "agent_id")
        if type(time_period_days) is not int or not 1 <= time_period_days <= 3660:
            raise ConfigError(
                f"time_period_days must be an integer 1..3660, got {time_period_days!r}"
            )
        if (
            isinstance(significance_threshold, bool)
            or not isinstance(significance_threshold, int | float)
            or not 0.0 <= significance_threshold <= 1.0
        ):
            raise ConfigError(
                f"significance_threshold must be in [0, 1], got {significance_threshold!r}"
            )
        with store_session(self._store, key_dir=self._key_dir) as store:
            stop = store.now() if end is None else end
            # an instant ends the period (exclusive); a date includes that whole day
            end_us = time_arg(stop, "end", end=not isinstance(stop, datetime))
            assert end_us is not None
            start_us = end_us - time_period_days * _DAY_US
            query = EventQuery.build(
                {"actor": agent_id},
                start=us_to_datetime(start_us),
                end=us_to_datetime(end_us - 1),
            )
            observations = [
                observe(s, start_us)
                for s in store.iter_events(query, self.analyst, purpose="forensic_patterns")
            ]
        baseline = build_baseline(agent_id, start_us, time_period_days, observations)
        scorer = _Scorer(baseline, observations, self.min_baseline_events, self.max_evidence)
        if baseline.events < self.min_baseline_events:
            scorer.notes.append(
                f"only {baseline.events} events in the period: at least "
                f"{self.min_baseline_events} are needed for a baseline"
            )
        else:
            scorer.volume()
            for feature in FEATURES:
                scorer.categorical(feature)
            for feature in _NOVELTY:
                scorer.novelty(feature)
        scored = scorer.finish()
        deviations = [d for d in scored if d.score >= significance_threshold]
        return PatternReport(
            agent_id, float(significance_threshold), baseline, deviations, scored, scorer.notes
        )

    def baseline(
        self, agent_id: str, time_period_days: int = 30, *, end: TimeBound | None = None
    ) -> AgentBaseline:
        """The actor's baseline over the period."""
        return self.analyze(agent_id, time_period_days, 1.0, end=end).baseline
