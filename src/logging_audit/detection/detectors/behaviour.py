"""Behavioural detectors against the actor's baseline: off-hours, rare resources, volume,
privileged actions."""

from __future__ import annotations

from logging_audit.detection.baseline import ActorProfile, Baseline
from logging_audit.detection.detectors._base import HOUR, BuiltinDetector, hourly_windows
from logging_audit.detection.detectors._window import (
    SumWindow,
    Window,
    actor_window_finding,
)
from logging_audit.detection.features import READ_ACTIONS, collection_of, is_privileged
from logging_audit.detection.model import Finding, Obs, Thresholds, score_from_ratio

__all__ = [
    "OffHoursDetector",
    "PrivilegeEscalationDetector",
    "RareResourceDetector",
    "VolumeSpikeDetector",
]


def _profile(baseline: Baseline | None, obs: Obs, t: Thresholds) -> ActorProfile | None:
    if baseline is None:
        return None
    p = baseline.profile(obs.actor)
    if p is None or p.events < t.min_history_events:
        return None
    return p


class OffHoursDetector(BuiltinDetector):
    """Activity at hours the actor never works (per-actor time-of-week model).

    For actors with at least ``min_history_days`` active days, each event's
    distance in hours to the actor's nearest habitual hour is looked up
    (:meth:`~logging_audit.detection.baseline.ActorProfile.hours_away`: habitual
    hours of the day and of the week). Once ``offhours_min_events`` events of
    the actor fall at least 1 h outside within one hour, ratio = hours away /
    ``offhours_hours_away`` (5 at medium). Actors active around the clock (most
    services) have no off-hours.
    """

    name = "off_hours"
    category = "behaviour"
    needs_baseline = True

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and the actors' hour models from ``baseline``."""
        super().__init__(thresholds, baseline)
        self._windows = hourly_windows(Window)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        p = _profile(self.baseline, obs, self.t)
        if p is None or p.active_days < self.t.min_history_days:
            return None
        away = p.hours_away(obs.ts)
        if away < 1:
            return None
        window = self._windows.get(obs.actor, obs.ts)
        window.add(obs, away)
        if self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        if len(window) < self.t.offhours_min_events:
            return None
        nearest = min(h.value for h in window)
        ratio = nearest / self.t.offhours_hours_away
        if ratio < self.min_ratio:
            return None
        ids, seqs = window.evidence()
        hour = int(obs.ts // 3600 % 24)
        return Finding(
            detector=self.name,
            category=self.category,
            key=f"actor={obs.actor}",
            score=score_from_ratio(ratio),
            explanation=(
                f"{obs.actor} made {len(window)} events within an hour around {hour:02d}:00 UTC, "
                f"at least {nearest:g} h away from the hours it is usually active (learned from "
                f"{p.active_days} active days); {self.t.offhours_hours_away:g} h reach the "
                f"threshold at {self.t.name} sensitivity"
            ),
            evidence=ids,
            evidence_seqs=seqs,
            first_ts=window.first_ts,
            last_ts=window.last_ts,
            actor=obs.actor,
            source_ip=obs.source_ip,
            facts={
                "hours_away": nearest,
                "events": len(window),
                "hour_utc": hour,
                "active_days": p.active_days,
                "threshold": self.t.offhours_hours_away,
            },
        )


class RareResourceDetector(BuiltinDetector):
    """Reads from collections the actor never used that are sensitive or used by few.

    A successful event on a resource whose collection the actor never used in
    the baseline counts when that collection is classified above the highest
    level the actor read in the baseline, or is used by at most 5 % of actors
    (at least 2). Ratio = distinct such resources within one hour /
    ``rare_resources`` (5 at medium). A new project in one's own department at
    one's usual classification does not count.
    """

    name = "rare_resource"
    category = "collection"
    needs_baseline = True

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and collection usage from ``baseline``."""
        super().__init__(thresholds, baseline)
        self._windows = hourly_windows(Window)

    @property
    def few(self) -> float:
        """A collection used by at most this many actors is rare (5 %, at least 2)."""
        return max(2.0, 0.05 * len(self.baseline.actors) if self.baseline is not None else 0.0)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if obs.outcome == "failure" or not obs.resource:
            return None
        p = _profile(self.baseline, obs, self.t)
        if p is None or self.baseline is None:
            return None
        coll = collection_of(obs.resource)
        if coll is None or coll in p.collections:
            return None
        users = self.baseline.collection_actors.get(coll, 0)
        above = obs.clearance > p.max_read_clearance
        if not above and users > self.few:
            return None
        window = self._windows.get(obs.actor, obs.ts)
        window.add(obs, (obs.resource, coll, users, obs.clearance))
        if self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        resources = {h.value[0] for h in window}
        ratio = len(resources) / self.t.rare_resources
        if ratio < self.min_ratio:
            return None
        colls: dict[str, tuple[int, int]] = {}
        for h in window:
            _, c, u, level = h.value
            colls[c] = (u, max(level, colls.get(c, (0, 0))[1]))
        described = "; ".join(
            f"{c} (used by {u} other actor(s), classified up to LEVEL_{lv})"
            for c, (u, lv) in sorted(colls.items())[:5]
        )
        return actor_window_finding(
            self,
            obs,
            window,
            ratio,
            explanation=(
                f"{obs.actor} used {len(resources)} resources within an hour in collections it "
                f"never used before: {described}; it usually reads up to "
                f"LEVEL_{p.max_read_clearance}; {self.t.rare_resources} resources reach the "
                f"threshold at {self.t.name} sensitivity"
            ),
            facts={
                "resources": sorted(resources)[:20],
                "collections": sorted(colls),
                "usual_max_clearance": p.max_read_clearance,
                "threshold": self.t.rare_resources,
            },
        )


class VolumeSpikeDetector(BuiltinDetector):
    """Mass download: far more reads (or bytes) in an hour than the actor ever did.

    Counts successful read-like actions (read, export, download, …) and their
    ``details.bytes`` per actor in a sliding hour. Threshold = the larger of
    ``volume_min`` (50 at medium) and ``volume_factor`` (3 at medium) times the
    actor's largest hourly read count in the baseline; for bytes,
    ``volume_factor`` times its largest hourly byte volume (at least 50 MB).
    Ratio = the larger of count / threshold and bytes / byte threshold.
    """

    name = "volume_spike"
    category = "exfiltration"
    needs_baseline = True

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and the actors' hourly volumes from ``baseline``."""
        super().__init__(thresholds, baseline)
        self._windows = hourly_windows(SumWindow)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if obs.outcome == "failure" or obs.action not in READ_ACTIONS or self.baseline is None:
            return None
        p = self.baseline.actors.get(obs.actor)
        if p is None or p.events < self.t.min_history_events:
            return None
        size = obs.details.get("bytes")
        nbytes = float(size) if type(size) is int or type(size) is float else 0.0
        window = self._windows.get(obs.actor, obs.ts)
        window.add(obs, nbytes)
        if self.muted(self.name, f"actor={obs.actor}", obs.ts):
            return None
        count = len(window)
        limit = max(float(self.t.volume_min), self.t.volume_factor * p.max_hourly_reads)
        byte_limit = max(50e6, self.t.volume_factor * p.max_hourly_bytes)
        total = window.total
        ratio = max(count / limit, total / byte_limit)
        if ratio < self.min_ratio:
            return None
        return actor_window_finding(
            self,
            obs,
            window,
            ratio,
            explanation=(
                f"{obs.actor} read {count} items ({total / 1e6:.1f} MB) within an hour; its "
                f"largest hour in the baseline was {p.max_hourly_reads} items "
                f"({p.max_hourly_bytes / 1e6:.1f} MB); the threshold at {self.t.name} "
                f"sensitivity is {limit:g} items or {byte_limit / 1e6:.0f} MB"
            ),
            facts={
                "reads": count,
                "bytes": total,
                "baseline_max_hourly_reads": p.max_hourly_reads,
                "baseline_max_hourly_bytes": p.max_hourly_bytes,
                "threshold_reads": limit,
                "threshold_bytes": byte_limit,
            },
        )


_HIGH_ROLES = frozenset({"admin", "administrator", "root", "superuser", "owner", "security_admin"})


class PrivilegeEscalationDetector(BuiltinDetector):
    """A privileged or administrative action that is rare for the actor.

    Points: the actor performed no privileged action in the baseline 1.2, or
    never this one 0.6; the action targets the actor itself (``details.target``,
    ``details.user``, ``details.target_user`` or the resource) +0.6; it grants a
    high role (``details.role`` admin/root/…) or clearance 4 or 5
    (``details.clearance_level``/``details.new_clearance``) +0.3. Ratio = points
    × ``privilege_factor`` (0.8 / 1 / 1.25). So at medium a user who never
    administered anything alerts on the first grant; an administrator only
    when a new kind of action also targets itself or grants a high role.
    """

    name = "privilege_escalation"
    category = "privilege_escalation"
    needs_baseline = True

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and the actors' privileged actions from ``baseline``."""
        super().__init__(thresholds, baseline)
        self.cooldown = HOUR

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if obs.outcome == "failure" or not is_privileged(obs.event_type, obs.action):
            return None
        p = _profile(self.baseline, obs, self.t)
        if p is None:
            return None
        if p.privileged.get(obs.action, 0) >= 3:
            return None
        reasons: list[str] = []
        if not p.privileged:
            points = 1.2
            reasons.append(f"{obs.actor} performed no privileged action in the baseline")
        else:
            points = 0.6
            reasons.append(
                f"{obs.actor} performed {obs.action!r} {p.privileged.get(obs.action, 0)} time(s) "
                f"in the baseline (its usual: {', '.join(sorted(p.privileged)[:5])})"
            )
        d = obs.details
        targets = {d.get("target"), d.get("user"), d.get("target_user"), obs.resource}
        if obs.actor in targets or (obs.resource or "").endswith("/" + obs.actor):
            points += 0.6
            reasons.append("it targets the actor itself")
        role = d.get("role")
        level = d.get("new_clearance", d.get("clearance_level"))
        if (isinstance(role, str) and role.lower() in _HIGH_ROLES) or (
            isinstance(level, int) and not isinstance(level, bool) and level >= 4
        ):
            points += 0.3
            reasons.append("it grants a high role or clearance")
        ratio = points * self.t.privilege_factor
        if ratio < self.min_ratio:
            return None
        return Finding(
            detector=self.name,
            category=self.category,
            key=f"actor={obs.actor}",
            score=score_from_ratio(ratio),
            explanation=(
                f"privileged action {obs.action!r} by {obs.actor}"
                + (f" on {obs.resource}" if obs.resource else "")
                + ": "
                + "; ".join(reasons)
                + f" ({points:g} points × {self.t.privilege_factor:g} at {self.t.name} "
                "sensitivity; 1 reaches the threshold)"
            ),
            evidence=(obs.event_id,),
            evidence_seqs=(obs.seq,),
            first_ts=obs.ts,
            last_ts=obs.ts,
            actor=obs.actor,
            source_ip=obs.source_ip,
            facts={
                "action": obs.action,
                "points": points,
                "baseline_privileged": dict(p.privileged),
            },
        )
