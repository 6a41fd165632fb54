"""``AnomalyDetector``: behavioural anomaly detection over the audit trail (the seed's API).

::

    detector = AnomalyDetector(sensitivity="medium")          # embedded default store
    detector.configure(baseline_days=30, update_frequency_hours=24, alert_threshold=0.75)
    anomalies = detector.analyze_current_activity(
        agent_id="A-12345", context={"operation_type": "information_retrieval"})
    detector.register_alert_handler(alert_handler_function)

``AnomalyDetector()`` reads the database ``AuditService()`` uses
(``$LOGAUDIT_AUDIT_DB`` or ``audit_service/audit.db``); pass a path or
``sqlite:///``/``postgresql://`` URL (PostgreSQL needs ``key_dir``), or an open
:class:`~logging_audit.audit.store.AuditStore` as ``store=``.

It reads through the store's query API as the system requestor ``anomaly-detector`` at
LEVEL_5 (so every read is itself recorded) and never scores its own events or the
importers' bookkeeping records. Baselines are learned over ``baseline_days`` (ending one
analysis window before the learning time, so the activity being judged is not part of
its own baseline), refreshed every ``update_frequency_hours``, and kept under
``models_dir`` (default ``<database>.models/`` beside a SQLite database,
``$LOGAUDIT_MODELS_DIR`` if set) as versioned JSON recording the stream's tree size and
newest checkpoint at learning time.

``sensitivity`` (``low``/``medium``/``high``) sets the detectors' thresholds;
``alert_threshold`` cuts on the common score scale (0.75: at a detector's
threshold). See docs/anomaly-detection.md for both tables.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from logging_audit.audit.factory import is_postgres_url, open_store, sqlite_path
from logging_audit.audit.limits import normalize_details
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.audit_service import DEFAULT_DATABASE
from logging_audit.detection.alerts import ALERT_ACTION, AlertHandler, AlertRecorder
from logging_audit.detection.baseline import (
    Baseline,
    BaselineBuilder,
    baseline_path,
    load_baseline,
    save_baseline,
)
from logging_audit.detection.detectors import DETECTORS, build_detectors
from logging_audit.detection.engine import DetectionEngine, check_threshold
from logging_audit.detection.features import PRIVILEGED_ACTIONS, READ_ACTIONS
from logging_audit.detection.model import Obs, Thresholds, obs_from_stored, thresholds_for
from logging_audit.detection.sigma import SIGMA_ACTION, SigmaDetector, SigmaRule, parse_sigma
from logging_audit.detection.streaming import StoreFollower, StreamingScorer
from logging_audit.errors import ConfigError
from logging_audit.importers._common import IMPORTER_ACTOR
from logging_audit.iso_time import parse_iso_datetime
from logging_audit.persistence.agents import AgentDatabase
from logging_audit.persistence.models import ClearanceLevel, Rule, check_identifier

__all__ = ["OPERATION_ACTIONS", "AnomalyDetector"]

OPERATION_ACTIONS: dict[str, frozenset[str]] = {
    "information_retrieval": READ_ACTIONS,
    "data_modification": frozenset({"write", "update", "create", "delete", "upload", "import"}),
    "administration": PRIVILEGED_ACTIONS,
    "authentication": frozenset({"login", "logout", "mfa", "session_open", "session_close"}),
}
"""``context["operation_type"]`` → the actions that operation consists of. Evidence
actions outside it are listed in each alert's ``facts["outside_operation_type"]``."""

_MAX_SOURCES = 10


def _to_ts(when: datetime) -> float:
    return when.timestamp()


def _from_iso(text: str) -> float | None:
    try:
        return parse_iso_datetime(text).timestamp()
    except ValueError:
        return None


class AnomalyDetector:
    """Detectors, baselines, Sigma rules and alerting over one audit store."""

    def __init__(
        self,
        sensitivity: str = "medium",
        database_url: str | os.PathLike[str] | None = None,
        *,
        store: AuditStore | None = None,
        key_dir: str | os.PathLike[str] | None = None,
        schema: str = "logaudit",
        models_dir: str | os.PathLike[str] | None = None,
        registry: AgentDatabase | None = None,
        sigma_rules: Iterable[SigmaRule | str] = (),
        detectors: Iterable[str] | None = None,
        requestor_id: str = "anomaly-detector",
        window_hours: float = 24.0,
    ) -> None:
        """Open the store (or use ``store``); see the module docstring for the defaults.

        ``registry``: Sigma rules kept there as policy records are evaluated too.
        ``detectors``: names of the built-in detectors to run (default: all).
        """
        self._thresholds: Thresholds = thresholds_for(sensitivity)
        self.sensitivity = self._thresholds.name
        if store is not None and database_url is not None:
            raise ConfigError("give database_url or store, not both")
        database = None
        if store is None:
            database = database_url or os.environ.get("LOGAUDIT_AUDIT_DB") or DEFAULT_DATABASE
            store = open_store(database, key_dir=key_dir, schema=schema)
            self._own_store = True
        else:
            self._own_store = False
        self.store = store
        models = Path(models_dir) if models_dir is not None else self._default_models(database)
        self.models_dir = models.absolute()
        self.requestor_id = check_identifier(requestor_id, "requestor_id")
        self._requestor = Requestor(requestor_id, ClearanceLevel.LEVEL_5, actor_type="system")
        self._detector_names = list(DETECTORS) if detectors is None else list(detectors)
        build_detectors(self._thresholds, None, self._detector_names)  # validates the names
        self._sigma: list[SigmaRule] = []
        for rule in sigma_rules:
            self._sigma.extend(parse_sigma(rule) if isinstance(rule, str) else [rule])
        if registry is not None:
            self._sigma.extend(
                SigmaRule.from_rule(r)
                for r in registry.list_rules()
                if r.enabled and SIGMA_ACTION in r.action_types
            )
        self.baseline_days = 30.0
        self.update_frequency_hours = 24.0
        self.alert_threshold = 0.75
        self.window_hours = self._positive(window_hours, "window_hours")
        self._recorder = AlertRecorder(store, requestor_id)
        self._baseline: Baseline | None = None
        self._scorer: StreamingScorer | None = None
        self._lock = threading.RLock()

    # -- configuration -------------------------------------------------------------------

    def _default_models(self, database: str | os.PathLike[str] | None) -> Path:
        env = os.environ.get("LOGAUDIT_MODELS_DIR")
        if env:
            return Path(env)
        if database is not None and not is_postgres_url(database):
            path = sqlite_path(database)
            return path.with_name(path.name + ".models")
        db_path = getattr(self.store.driver, "path", None)
        if isinstance(db_path, Path):
            return db_path.with_name(db_path.name + ".models")
        return Path("logaudit-models")

    @staticmethod
    def _positive(value: object, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{what} must be a positive number, got {value!r}")
        return float(value)

    def configure(
        self,
        baseline_days: float = 30,
        update_frequency_hours: float = 24,
        alert_threshold: float = 0.75,
    ) -> None:
        """Set the baseline length, its refresh period and the alert threshold (0..1).

        A changed ``baseline_days`` makes the stored baseline stale (relearned
        when next needed); a changed threshold applies from the next event.
        """
        days = self._positive(baseline_days, "baseline_days")
        hours = self._positive(update_frequency_hours, "update_frequency_hours")
        threshold = check_threshold(alert_threshold)
        with self._lock:
            if days != self.baseline_days:
                self._baseline = None
            self.baseline_days, self.update_frequency_hours = days, hours
            self.alert_threshold = threshold
            if self._scorer is not None:
                self._scorer.engine.alert_threshold = threshold

    def register_alert_handler(self, handler: AlertHandler) -> None:
        """Call ``handler(alert_dict)`` for every alert (after it is recorded).

        A handler that raises is reported (an ``alert_handler_failure`` event)
        and does not stop the other handlers or the recording.
        """
        self._recorder.register(handler)

    def add_sigma_rule(
        self, rule: str | SigmaRule | Rule, *, registry: AgentDatabase | None = None
    ) -> SigmaRule:
        """Evaluate a Sigma rule (YAML text, parsed rule or policy record) from now on.

        With ``registry`` the rule is also kept there as a policy
        :class:`~logging_audit.persistence.models.Rule` record (replacing one with the same id).
        """
        if isinstance(rule, Rule):
            parsed = SigmaRule.from_rule(rule)
        elif isinstance(rule, str):
            rules = parse_sigma(rule)
            if len(rules) != 1:
                raise ConfigError("add_sigma_rule takes one rule; the text holds several")
            parsed = rules[0]
        else:
            parsed = rule
        with self._lock:
            self._sigma = [r for r in self._sigma if r.rule_id != parsed.rule_id] + [parsed]
            self._scorer = None  # rebuilt with the rule on the next observe()
        if registry is not None:
            registry.add_rule(parsed.to_rule(), replace=True)
        return parsed

    @property
    def sigma_rules(self) -> list[SigmaRule]:
        """The Sigma rules evaluated."""
        return list(self._sigma)

    @property
    def thresholds(self) -> Thresholds:
        """The detectors' thresholds at the configured sensitivity."""
        return self._thresholds

    # -- baselines -------------------------------------------------------------------------

    @property
    def baseline_file(self) -> Path:
        """Where this stream's baseline is kept."""
        return baseline_path(self.models_dir, self.store.origin)

    def _stale(self, baseline: Baseline, now: float) -> bool:
        if baseline.origin != self.store.origin or baseline.baseline_days != self.baseline_days:
            return True
        learned = _from_iso(baseline.learned_at)
        return learned is None or now - learned >= self.update_frequency_hours * 3600

    def get_baseline(self) -> Baseline:
        """The current baseline: kept in memory, else loaded, else (or when stale) learned."""
        with self._lock:
            now = _to_ts(self.store.now())
            b = self._baseline
            if b is None:
                b = load_baseline(self.baseline_file)
            if b is None or self._stale(b, now):
                b = self.learn_baseline()
            self._baseline = b
            return b

    def learn_baseline(self) -> Baseline:
        """Learn the baseline now from the store, keep it in ``models_dir``, and return it."""
        with self._lock:
            now = self.store.now()
            end = now - timedelta(hours=self.window_hours)
            start = end - timedelta(days=self.baseline_days)
            cp = self.store.checkpoint()  # sign the tree head the baseline is learned up to
            tree_size = cp.size
            builder = BaselineBuilder(_to_ts(start), _to_ts(end), self.baseline_days)
            query = EventQuery.build(start=start, end=end)
            for stored in self.store.iter_events(
                query, self._requestor, purpose="baseline_learn", batch_size=5000
            ):
                if stored.event.actor not in (self.requestor_id, IMPORTER_ACTOR):
                    builder.add(obs_from_stored(stored))
            baseline = builder.build(
                origin=self.store.origin,
                learned_at=now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                tree_size=tree_size,
                checkpoint={
                    "size": cp.size,
                    "root_hash": base64.b64encode(cp.root_hash).decode(),
                    "checkpoint_id": cp.checkpoint_id,
                },
            )
            save_baseline(baseline, self.baseline_file)
            self._baseline = baseline
            if self._scorer is not None:
                self._scorer.set_baseline(baseline)
            return baseline

    # -- analysis --------------------------------------------------------------------------

    def _engine(self, baseline: Baseline | None) -> DetectionEngine:
        detectors = build_detectors(self._thresholds, baseline, self._detector_names)
        if self._sigma:
            detectors.append(SigmaDetector(self._thresholds, baseline, self._sigma))
        ignore = {self.requestor_id, IMPORTER_ACTOR}
        return DetectionEngine(detectors, self.alert_threshold, ignore_actors=ignore)

    def _read(
        self, criteria: Mapping[str, Any], start: datetime, end: datetime, **extra: Any
    ) -> list[StoredEvent]:
        query = EventQuery.build(criteria, start=start, end=end)
        return list(
            self.store.iter_events(query, self._requestor, purpose="detect_analyze", details=extra)
        )

    def analyze_current_activity(
        self,
        agent_id: str,
        context: Mapping[str, Any] | None = None,
        *,
        window_hours: float | None = None,
    ) -> list[dict[str, Any]]:
        """Score the actor's last ``window_hours`` (default 24) against its baseline.

        Reads the actor's events (any actor type) and, for sources that failed
        to authenticate in them, those sources' authentication events too (so
        brute force and spraying aimed at the actor are seen). Every anomaly
        scoring at least ``alert_threshold`` is recorded as an alert event and
        sent to the handlers (once per incident); all are returned, highest
        score first, as alert dicts (see :func:`~logging_audit.detection.alerts.alert_dict`).
        ``context`` (JSON values) is carried into each alert; a known
        ``operation_type`` (:data:`OPERATION_ACTIONS`) also lists evidence
        actions outside it in ``facts["outside_operation_type"]``.
        """
        check_identifier(agent_id, "agent_id")
        ctx = normalize_details(context or {}, self.store.limits)
        hours = (
            self.window_hours
            if window_hours is None
            else self._positive(window_hours, "window_hours")
        )
        baseline = self.get_baseline()
        now = self.store.now()
        start = now - timedelta(hours=hours)
        stored = self._read({"actor": agent_id}, start, now, agent_id=agent_id, context=ctx)
        by_id = {s.event.event_id: s for s in stored}
        sources = []
        for s in stored:
            e = s.event
            failed = e.event_type == "authentication" and e.outcome == "failure"
            if failed and e.source_ip and e.source_ip not in sources:
                sources.append(e.source_ip)
        for ip in sources[:_MAX_SOURCES]:
            for s in self._read({"source_ip": ip, "event_type": "authentication"}, start, now):
                by_id.setdefault(s.event.event_id, s)
        observations = sorted(
            (obs_from_stored(s) for s in by_id.values()), key=lambda o: (o.ts, o.seq)
        )
        findings = self._engine(baseline).run(observations)
        if not findings:
            return []
        op = ctx.get("operation_type")
        allowed = OPERATION_ACTIONS.get(op) if isinstance(op, str) else None
        if allowed is not None:
            actions = {o.event_id: o.action for o in observations}
            findings = [
                replace(
                    f,
                    facts={
                        **f.facts,
                        "outside_operation_type": sorted(
                            {actions[e] for e in f.evidence if e in actions} - allowed
                        ),
                    },
                )
                for f in findings
            ]
        self._load_recorded(now)
        alerts = self._recorder.record(
            findings,
            context=ctx,
            sensitivity=self.sensitivity,
            alert_threshold=self.alert_threshold,
        )
        return sorted(alerts, key=lambda a: -a["score"])

    def _load_recorded(self, now: datetime) -> None:
        """Learn which incidents earlier runs already alerted on (last two days)."""
        criteria = {"actor": self.requestor_id, "action": ALERT_ACTION}
        for s in self._read(criteria, now - timedelta(days=2), now):
            fp = s.event.details.get("fingerprint")
            if isinstance(fp, str) and not self._recorder.seen(fp):
                self._recorder.remember(fp, s.event.event_id)

    def scan(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        criteria: Mapping[str, Any] | None = None,
        use_baseline: bool = True,
    ) -> list[dict[str, Any]]:
        """Replay a period (default: the whole stream) through every detector, in order.

        Alerts are recorded and dispatched as in streaming mode; returns them.
        ``use_baseline=False`` runs only the detectors that need none (and Sigma),
        e.g. on an imported stream.
        """
        baseline = self.get_baseline() if use_baseline else None
        engine = self._engine(baseline)
        scorer = StreamingScorer(engine, self._recorder, sensitivity=self.sensitivity)
        query = EventQuery.build(criteria, start=start, end=end)
        observations = [
            obs_from_stored(s)
            for s in self.store.iter_events(query, self._requestor, purpose="detect_scan")
            if s.event.actor not in (self.requestor_id, IMPORTER_ACTOR)
        ]
        observations.sort(key=lambda o: (o.ts, o.seq))
        return scorer.observe(observations)

    # -- streaming -------------------------------------------------------------------------

    def _streaming(self) -> StreamingScorer:
        with self._lock:
            baseline = self.get_baseline()
            if self._scorer is None:
                self._scorer = StreamingScorer(
                    self._engine(baseline), self._recorder, sensitivity=self.sensitivity
                )
            return self._scorer

    def observe(self, events: Iterable[StoredEvent | Obs]) -> list[dict[str, Any]]:
        """Streaming mode: score just-recorded events (e.g. what ``store.append`` returned).

        Keeps sliding state across calls; the baseline is refreshed when due.
        Returns the alerts raised (already recorded and sent to the handlers).
        """
        with self._lock:  # a follower thread and direct calls share one engine state
            return self._streaming().observe(events)

    def follow(self, *, poll_interval: float = 5.0, from_seq: int | None = None) -> StoreFollower:
        """A follower polling the store into :meth:`observe` (``start()`` it, or ``run()``)."""
        self._streaming()
        return StoreFollower(
            self.store,
            self.observe,
            self._requestor,
            poll_interval=poll_interval,
            from_seq=from_seq,
        )

    def close(self) -> None:
        """Close the store if this detector opened it."""
        if self._own_store:
            self.store.close()

    def __enter__(self) -> AnomalyDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnomalyDetector(sensitivity={self.sensitivity!r}, store={self.store!r})"
