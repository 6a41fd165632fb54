"""Alerts: every alert is recorded as an audit event, then handed to every handler.

An alert is recorded first — ``event_type`` ``system``, ``action``
``anomaly_alert``, ``actor`` the detector's id, ``resource``
``<detector>:<key>``, classified at the highest clearance of its evidence (a
reader who may not see the evidence does not see the alert) — with the score,
severity, detector, explanation, evidence event ids and seqs, and the numbers
behind it in ``details``. Then each registered handler is called with the
alert's dict (a copy each). A handler that raises is reported as an
``alert_handler_failure`` event (handler name, error) and the remaining
handlers still run; nothing a handler does can undo or stop the recording.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.store import AuditStore
from logging_audit.detection.model import Finding, severity
from logging_audit.errors import ConfigError, Error
from logging_audit.persistence.models import ClearanceLevel

__all__ = [
    "ALERT_ACTION",
    "HANDLER_FAILURE_ACTION",
    "AlertHandler",
    "AlertRecorder",
    "alert_dict",
    "fingerprint",
]

ALERT_ACTION = "anomaly_alert"
HANDLER_FAILURE_ACTION = "alert_handler_failure"

AlertHandler = Callable[[dict[str, Any]], object]
"""A callable that receives one alert dict (see :func:`alert_dict`)."""

_log = logging.getLogger(__name__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fingerprint(finding: Finding) -> str:
    """Identifies one incident: detector, key and the oldest evidence event."""
    first = finding.evidence[0] if finding.evidence else ""
    text = f"{finding.detector}\n{finding.key}\n{first}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def alert_dict(
    finding: Finding,
    *,
    alert_id: str | None = None,
    context: Mapping[str, Any] | None = None,
    sensitivity: str | None = None,
    alert_threshold: float | None = None,
) -> dict[str, Any]:
    """The alert's stable dict shape (what handlers and ``analyze_current_activity`` return)::

    {"alert_id", "fingerprint", "detector", "category", "score", "severity",
     "explanation", "key", "actor", "source_ip", "evidence", "evidence_seqs",
     "first_seen", "last_seen", "facts", "context", "sensitivity", "alert_threshold"}
    """
    return {
        "alert_id": alert_id,
        "fingerprint": fingerprint(finding),
        "detector": finding.detector,
        "category": finding.category,
        "score": finding.score,
        "severity": severity(finding.score),
        "explanation": finding.explanation,
        "key": finding.key,
        "actor": finding.actor,
        "source_ip": finding.source_ip,
        "evidence": list(finding.evidence),
        "evidence_seqs": list(finding.evidence_seqs),
        "first_seen": _iso(finding.first_ts),
        "last_seen": _iso(finding.last_ts),
        "facts": dict(finding.facts),
        "context": dict(context or {}),
        "sensitivity": sensitivity,
        "alert_threshold": alert_threshold,
    }


def _handler_name(handler: AlertHandler) -> str:
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None)
    return f"{module}.{name}" if module else str(name)


class AlertRecorder:
    """Records alerts in an audit store and dispatches them to handlers."""

    def __init__(self, store: AuditStore | None, actor: str = "anomaly-detector") -> None:
        """``store=None`` records nothing (evaluation); handlers still run."""
        self.store = store
        self.actor = actor
        self.handlers: list[AlertHandler] = []
        self._seen: OrderedDict[str, str | None] = OrderedDict()
        self.handler_failures = 0

    def register(self, handler: AlertHandler) -> None:
        """Add a handler (called for every alert, in registration order)."""
        if not callable(handler):
            raise ConfigError(f"an alert handler must be callable, got {type(handler).__name__}")
        self.handlers.append(handler)

    def seen(self, fp: str) -> bool:
        """True when this process already recorded the incident ``fp``."""
        return fp in self._seen

    def remember(self, fp: str, alert_id: str | None) -> None:
        """Remember a recorded incident (bounded memory)."""
        self._seen[fp] = alert_id
        if len(self._seen) > 50_000:
            self._seen.popitem(last=False)

    def record(
        self,
        findings: Iterable[Finding],
        *,
        context: Mapping[str, Any] | None = None,
        sensitivity: str | None = None,
        alert_threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """Record each finding as an alert event, then call every handler; return the alerts.

        Findings already recorded by this recorder (same fingerprint) are
        returned again with their alert id but neither re-recorded nor re-sent.
        """
        out: list[dict[str, Any]] = []
        for finding in findings:
            alert = alert_dict(
                finding,
                context=context,
                sensitivity=sensitivity,
                alert_threshold=alert_threshold,
            )
            fp = alert["fingerprint"]
            if fp in self._seen:
                alert["alert_id"] = self._seen[fp]
                out.append(alert)
                continue
            if self.store is not None:
                alert["alert_id"] = self._append(finding, alert)
            self.remember(fp, alert["alert_id"])
            self._dispatch(alert)
            out.append(alert)
        return out

    def _append(self, finding: Finding, alert: dict[str, Any]) -> str:
        assert self.store is not None
        level = finding.facts.get("evidence_clearance", 1)
        details = {k: v for k, v in alert.items() if k != "alert_id"}
        event = AuditEvent(
            event_type="system",
            action=ALERT_ACTION,
            actor=self.actor,
            actor_type="system",
            resource=f"{finding.detector}:{finding.key}"[:256],
            source_node=self.store.node_id,
            clearance=ClearanceLevel.coerce(int(level) if isinstance(level, int) else 1),
            details=details,
            limits=self.store.limits,
        )
        return self.store.append([event])[0].event.event_id

    def _dispatch(self, alert: dict[str, Any]) -> None:
        for handler in list(self.handlers):
            try:
                handler(copy.deepcopy(alert))
            except Exception as exc:  # a handler's failure is reported, never propagated
                self.handler_failures += 1
                self._report_failure(handler, alert, exc)

    def _report_failure(self, handler: AlertHandler, alert: dict[str, Any], exc: Exception) -> None:
        name = _handler_name(handler)
        _log.warning("alert handler %s failed on alert %s: %r", name, alert["alert_id"], exc)
        if self.store is None:
            return
        try:
            self.store.append(
                [
                    AuditEvent(
                        event_type="system",
                        action=HANDLER_FAILURE_ACTION,
                        actor=self.actor,
                        actor_type="system",
                        outcome="failure",
                        resource=name[:256],
                        source_node=self.store.node_id,
                        details={
                            "alert_id": alert["alert_id"],
                            "detector": alert["detector"],
                            "handler": name,
                            "error": f"{type(exc).__name__}: {exc}"[:2000],
                        },
                        limits=self.store.limits,
                    )
                ]
            )
        except Error:
            _log.exception("could not record the failure of alert handler %s", name)
