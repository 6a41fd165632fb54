"""Streaming mode: score events as they are recorded.

The audit store has no hook that tells observers about appends, so streaming
works two ways:

- **fed**: whoever records events passes the returned
  :class:`~logging_audit.audit.records.StoredEvent` objects to
  ``AnomalyDetector.observe`` (or :meth:`StreamingScorer.observe`) — no read,
  no delay;
- **followed**: a :class:`StoreFollower` polls the store by ``seq``: when the
  stream grew (``store.size``, a read of the ledger state that is not an audit
  event) it reads the new events with ``iter_events`` (``seq > last``), which
  the store records as one ``query`` event per poll that found something.

Both feed one :class:`StreamingScorer`: detectors with their sliding state,
the alert threshold and cooldowns, and the recorder that writes alerts and
calls handlers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor, StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.detection.alerts import AlertRecorder
from logging_audit.detection.baseline import Baseline
from logging_audit.detection.engine import DetectionEngine
from logging_audit.detection.model import Obs, obs_from_stored
from logging_audit.errors import ConfigError, Error

__all__ = ["StoreFollower", "StreamingScorer"]

_log = logging.getLogger(__name__)


class StreamingScorer:
    """Scores events one by one and records the alerts they raise."""

    def __init__(
        self,
        engine: DetectionEngine,
        recorder: AlertRecorder,
        *,
        sensitivity: str | None = None,
    ) -> None:
        """Score with ``engine``; record and dispatch with ``recorder``."""
        self.engine = engine
        self.recorder = recorder
        self.sensitivity = sensitivity

    def set_baseline(self, baseline: Baseline) -> None:
        """Give every baseline-using detector a refreshed baseline (their state is kept)."""
        for det in self.engine.detectors:
            if hasattr(det, "baseline"):
                det.baseline = baseline

    def observe(self, events: Iterable[StoredEvent | Obs]) -> list[dict[str, Any]]:
        """Score events (in recording order); return the alerts raised, recorded and sent."""
        alerts: list[dict[str, Any]] = []
        for item in events:
            obs = item if isinstance(item, Obs) else obs_from_stored(item)
            found = self.engine.process(obs)
            if found:
                alerts.extend(
                    self.recorder.record(
                        found,
                        sensitivity=self.sensitivity,
                        alert_threshold=self.engine.alert_threshold,
                    )
                )
        return alerts


class StoreFollower:
    """Polls an audit store for new events and feeds them to a scorer."""

    def __init__(
        self,
        store: AuditStore,
        observe: Callable[[Sequence[StoredEvent]], list[dict[str, Any]]],
        requestor: Requestor,
        *,
        poll_interval: float = 5.0,
        from_seq: int | None = None,
        batch_size: int = 2000,
    ) -> None:
        """Follow ``store`` from ``from_seq`` (default: only events recorded from now on)."""
        if poll_interval <= 0:
            raise ConfigError(f"poll_interval must be positive, got {poll_interval!r}")
        self.store = store
        self._observe = observe
        self.requestor = requestor
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        size = store.size
        self.last_seq = (size - 1) if from_seq is None else from_seq - 1
        self._seen_size = size if from_seq is None else -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events = 0
        self.alerts = 0
        self.errors = 0

    def poll_once(self) -> list[dict[str, Any]]:
        """Read and score what was recorded since the last poll; return its alerts."""
        size = self.store.size
        if size == self._seen_size:
            return []
        query = EventQuery.build({"seq": {"gt": self.last_seq}})
        alerts: list[dict[str, Any]] = []
        batch: list[StoredEvent] = []
        for stored in self.store.iter_events(
            query, self.requestor, purpose="detect_follow", batch_size=self.batch_size
        ):
            batch.append(stored)
            if len(batch) >= self.batch_size:
                alerts.extend(self._score(batch))
                batch = []
        if batch:
            alerts.extend(self._score(batch))
        self._seen_size = self.store.size
        return alerts

    def _score(self, batch: list[StoredEvent]) -> list[dict[str, Any]]:
        self.last_seq = batch[-1].seq
        self.events += len(batch)
        found = self._observe(batch)
        self.alerts += len(found)
        return found

    def run(self, *, max_polls: int | None = None) -> None:
        """Poll until :meth:`stop` (or ``max_polls`` polls); store errors are logged and retried."""
        polls = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Error:
                self.errors += 1
                _log.exception("streaming detection: poll failed; retrying")
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return
            self._stop.wait(self.poll_interval)

    def start(self) -> threading.Thread:
        """Run in a daemon thread; return it."""
        if self._thread is not None and self._thread.is_alive():
            raise ConfigError("the follower is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="logaudit-detect", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until a poll finds nothing new (for tests and tools); True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.size == self._seen_size:
                return True
            time.sleep(min(0.05, self.poll_interval))
        return False
