"""Authentication detectors: brute force, password spraying, first-seen source."""

from __future__ import annotations

from dataclasses import dataclass, field

from logging_audit.detection.baseline import Baseline
from logging_audit.detection.detectors._base import EMIT_RATIO, BuiltinDetector
from logging_audit.detection.detectors._window import KeyedWindows, Window
from logging_audit.detection.features import client_family, network_of
from logging_audit.detection.model import Finding, Obs, Thresholds, score_from_ratio

__all__ = ["EMIT_RATIO", "BruteForceDetector", "FirstSeenSourceDetector", "PasswordSprayDetector"]


def _source_key(obs: Obs) -> str:
    return f"source_ip={obs.source_ip}" if obs.source_ip else f"actor={obs.actor}"


NOT_CREDENTIAL_ATTEMPTS = frozenset(
    {"connect", "disconnect", "logout", "session_open", "session_close"}
)
"""Authentication actions whose failures are not password guesses (scans, hang-ups)."""


def _is_auth_failure(obs: Obs) -> bool:
    return (
        obs.event_type == "authentication"
        and obs.outcome == "failure"
        and obs.action not in NOT_CREDENTIAL_ATTEMPTS
    )


def _accounts(window: Window) -> dict[str, int]:
    counts: dict[str, int] = {}
    for hit in window:
        counts[hit.value] = counts.get(hit.value, 0) + 1
    return counts


def _names(counts: dict[str, int], limit: int = 5) -> str:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    text = ", ".join(f"{name} ({n})" for name, n in top)
    return text + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


class BruteForceDetector(BuiltinDetector):
    """Many failed authentications from one source against few accounts.

    Counts ``authentication`` events with outcome ``failure`` (not of the actions
    in :data:`NOT_CREDENTIAL_ATTEMPTS`: connects, hang-ups) per source address
    (per actor when the event has none) in a sliding window
    (``brute_force_window``, 10 min). Ratio = failures / ``brute_force_failures``
    (10 at medium). When the failures spread over ``spray_accounts`` or more
    accounts it is password spraying instead, and this detector stays silent.
    """

    name = "brute_force"
    category = "credential_access"
    needs_baseline = False

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds``; no baseline needed."""
        super().__init__(thresholds, baseline)
        self.cooldown = max(3600.0, thresholds.brute_force_window)
        self._windows = KeyedWindows(lambda: Window(thresholds.brute_force_window), 2 * 3600)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if not _is_auth_failure(obs):
            return None
        key = _source_key(obs)
        window = self._windows.get(key, obs.ts)
        window.add(obs, obs.actor)
        if self.muted(self.name, key, obs.ts):
            return None
        n = len(window)
        ratio = n / self.t.brute_force_failures
        if ratio < self.min_ratio:
            return None
        accounts = _accounts(window)
        if len(accounts) >= self.t.spray_accounts:
            return None
        ids, seqs = window.evidence()
        minutes = self.t.brute_force_window / 60
        where = f"from {obs.source_ip}" if obs.source_ip else f"for {obs.actor} (no source address)"
        return Finding(
            detector=self.name,
            category=self.category,
            key=key,
            score=score_from_ratio(ratio),
            explanation=(
                f"{n} failed authentications {where} within {minutes:g} min against "
                f"{len(accounts)} account(s): {_names(accounts)}; the threshold at "
                f"{self.t.name} sensitivity is {self.t.brute_force_failures}"
            ),
            evidence=ids,
            evidence_seqs=seqs,
            first_ts=window.first_ts,
            last_ts=window.last_ts,
            actor=obs.actor if len(accounts) == 1 else None,
            source_ip=obs.source_ip,
            facts={
                "failures": n,
                "accounts": sorted(accounts),
                "window_seconds": self.t.brute_force_window,
                "threshold": self.t.brute_force_failures,
            },
        )


class PasswordSprayDetector(BuiltinDetector):
    """Failed authentications from one source against many distinct accounts.

    Counts distinct accounts with a failed ``authentication`` per source address
    in a sliding window (``spray_window``, 60 min). Ratio = accounts /
    ``spray_accounts`` (6 at medium).
    """

    name = "password_spraying"
    category = "credential_access"
    needs_baseline = False

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds``; no baseline needed."""
        super().__init__(thresholds, baseline)
        self.cooldown = max(3600.0, thresholds.spray_window)
        self._windows = KeyedWindows(lambda: Window(thresholds.spray_window), 2 * 3600)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if not _is_auth_failure(obs) or not obs.source_ip:
            return None
        key = f"source_ip={obs.source_ip}"
        window = self._windows.get(key, obs.ts)
        window.add(obs, obs.actor)
        if self.muted(self.name, key, obs.ts):
            return None
        accounts = _accounts(window)
        ratio = len(accounts) / self.t.spray_accounts
        if ratio < self.min_ratio:
            return None
        ids, seqs = window.evidence()
        minutes = self.t.spray_window / 60
        return Finding(
            detector=self.name,
            category=self.category,
            key=key,
            score=score_from_ratio(ratio),
            explanation=(
                f"{len(window)} failed authentications from {obs.source_ip} within "
                f"{minutes:g} min against {len(accounts)} distinct accounts "
                f"({_names(accounts)}); the threshold at {self.t.name} sensitivity is "
                f"{self.t.spray_accounts} accounts"
            ),
            evidence=ids,
            evidence_seqs=seqs,
            first_ts=window.first_ts,
            last_ts=window.last_ts,
            source_ip=obs.source_ip,
            facts={
                "failures": len(window),
                "accounts": sorted(accounts),
                "window_seconds": self.t.spray_window,
                "threshold": self.t.spray_accounts,
            },
        )


@dataclass
class _Seen:
    judged: set[str] = field(default_factory=set)
    failures: dict[str, float] = field(default_factory=dict)


class FirstSeenSourceDetector(BuiltinDetector):
    """An actor succeeding from a network it never used, judged by how unfamiliar it is.

    Judged once per actor and network (IPv4 /24, IPv6 /48), on the first
    successful event from it, for actors with a baseline history. Points:
    network new for the actor 1; new for every actor in the baseline 0.5;
    client family (``details.user_agent`` without versions) new for the actor 1;
    failed authentications for the actor from that network in the hour before
    0.5. Ratio = points / ``first_seen_points`` (2 at medium): a traveller on
    a hotel network with their usual laptop scores 1.5; a script from an
    unknown network with someone's password scores 2.5.
    """

    name = "first_seen_source"
    category = "initial_access"
    needs_baseline = True

    def __init__(self, thresholds: Thresholds, baseline: Baseline | None = None) -> None:
        """Use ``thresholds`` and the actors' known networks and clients from ``baseline``."""
        super().__init__(thresholds, baseline)
        self.cooldown = 3600.0
        self._state = KeyedWindows(_Seen, 30 * 86400, sweep_every=1_000_000)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event."""
        if self.baseline is None or not obs.source_ip:
            return None
        net = network_of(obs.source_ip)
        if net is None:
            return None
        state = self._state.get(obs.actor, obs.ts)
        if obs.outcome == "failure":
            if obs.event_type == "authentication":
                state.failures[net] = obs.ts
            return None
        if net in state.judged:
            return None
        profile = self.baseline.profile(obs.actor)
        if profile is None or profile.events < self.t.min_history_events:
            return None
        state.judged.add(net)
        if net in profile.networks:
            return None
        points = 1.0
        reasons = [f"network {net} was never used by {obs.actor} in the baseline"]
        if net not in self.baseline.networks:
            points += 0.5
            reasons.append("nor by any other actor")
        fam = client_family(obs.details.get("user_agent"))
        if fam is not None and profile.clients and fam not in profile.clients:
            points += 1.0
            reasons.append(f"client {fam!r} is new for the actor")
        failed_at = state.failures.get(net)
        if failed_at is not None and obs.ts - failed_at <= 3600:
            points += 0.5
            reasons.append("authentication had failed from there within the hour before")
        ratio = points / self.t.first_seen_points
        if ratio < self.min_ratio:
            return None
        return Finding(
            detector=self.name,
            category=self.category,
            key=f"actor={obs.actor}",
            score=score_from_ratio(ratio),
            explanation=(
                f"{obs.actor} acted from {obs.source_ip}: "
                + "; ".join(reasons)
                + f" ({points:g} unfamiliarity points; {self.t.first_seen_points:g} reach the "
                f"threshold at {self.t.name} sensitivity)"
            ),
            evidence=(obs.event_id,),
            evidence_seqs=(obs.seq,),
            first_ts=obs.ts,
            last_ts=obs.ts,
            actor=obs.actor,
            source_ip=obs.source_ip,
            facts={
                "network": net,
                "points": points,
                "known_networks": len(profile.networks),
                "client": fam,
                "threshold": self.t.first_seen_points,
            },
        )
