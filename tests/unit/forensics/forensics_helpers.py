"""Data for the forensics tests, made through the public API: audit events and SecureLogger logs.

The two-node scenario: node-a records audit events (its clock is the
reference); node-b writes SecureLogger records with a clock 120 s fast. Each
node-a request event carries ``span_id`` ``s<i>``; node-b handles it 0.5 s
later (true time) in a record with ``parent_span_id`` ``s<i>`` and
``span_id`` ``b<i>``; node-a records the reply 1 s after the request,
``caused_by`` ``b<i>``. True order per i: request, handled, reply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.secure_logger import SecureHandler

T0 = datetime(2025, 10, 15, 10, 0, tzinfo=timezone.utc)
SKEW_B = 120.0


def emit(handler: SecureHandler, when: datetime, msg: str, **extra: Any) -> None:
    """One log record created at ``when`` (as that node's clock says)."""
    record = logging.makeLogRecord(
        {
            "name": "app",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": msg,
            "created": when.timestamp(),
            **extra,
        }
    )
    handler.emit(record)


def write_log(
    log_dir: Path,
    node: str,
    records: Iterable[tuple[datetime, str, Mapping[str, Any]]],
    *,
    name: str = "app",
) -> Path:
    """A closed SecureLogger stream on ``node`` holding ``records``; returns its directory."""
    handler = SecureHandler(name=name, log_dir=log_dir, node_id=node, archive=False)
    try:
        for when, msg, extra in records:
            emit(handler, when, msg, **extra)
    finally:
        handler.close()
    return log_dir / name


@dataclass
class TwoNodes:
    """What :func:`two_nodes` recorded."""

    requests: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    log: Path = Path()


def two_nodes(service: AuditService, clock: FakeClock, log_dir: Path, n: int = 4) -> TwoNodes:
    """The two-node scenario of the module docstring (clock starts at T0)."""
    out = TwoNodes()
    b_records = []
    for i in range(n):
        clock.now = T0 + timedelta(minutes=i)
        out.requests.append(
            service.record_event(
                "A-12345",
                "data_access",
                {"span_id": f"s{i}"},
                2,
                resource=f"doc-{i}",
                source_ip="10.0.0.5",
            )
        )
        true_b = clock.now + timedelta(seconds=0.5)
        b_records.append(
            (
                true_b + timedelta(seconds=SKEW_B),
                f"handled request for A-12345 on doc-{i}",
                {"agent_id": "A-12345", "parent_span_id": f"s{i}", "span_id": f"b{i}"},
            )
        )
        clock.now = T0 + timedelta(minutes=i, seconds=1)
        out.replies.append(
            service.record_event("A-12345", "reply_received", {"caused_by": f"b{i}"}, 2)
        )
    out.log = write_log(log_dir, "node-b", b_records)
    return out
