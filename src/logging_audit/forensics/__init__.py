"""Forensics: timelines with integrity status, incidents, custody, behaviour and intent analysis.

- :class:`~logging_audit.forensics.timeline.TimelineAnalyzer` — one ordered
  timeline across audit events and SecureLogger records of several nodes, with
  clock-skew correction, gap marking, per-entry integrity status and a custody
  record in the ledger; output as objects, JSON, CSV, HTML and Timesketch JSONL.
- :class:`~logging_audit.forensics.incidents.IncidentLog` — incidents, notes,
  annotations and tags, append-only in the ledger.
- :class:`~logging_audit.forensics.pattern_analyzer.PatternAnalyzer` — per-actor
  baselines and scored, explained deviations with evidence ids.
- :class:`~logging_audit.forensics.correlation.QueryCorrelator` — enumeration,
  probing above clearance and combined-clearance aggregation in recorded queries.
- :mod:`~logging_audit.forensics.charts` and :func:`~logging_audit.forensics.report.build_report`
  — PNG heatmaps and charts, and a self-contained HTML report.

See docs/forensics.md.
"""

from __future__ import annotations

from logging_audit.forensics.correlation import (
    AggregationRule,
    CorrelationReport,
    Finding,
    QueryCorrelator,
)
from logging_audit.forensics.custody import CustodyRecord, custody_records
from logging_audit.forensics.incidents import Annotation, Incident, IncidentLog, IncidentNote
from logging_audit.forensics.integrity import IntegrityState, IntegrityStatus
from logging_audit.forensics.outputs import OutputFile, write_timeline
from logging_audit.forensics.pattern_analyzer import Deviation, PatternAnalyzer, PatternReport
from logging_audit.forensics.report import ReportResult, build_report
from logging_audit.forensics.skew import ClockReport, NodeClock
from logging_audit.forensics.timeline import (
    Gap,
    LogSource,
    SourceSummary,
    Timeline,
    TimelineAnalyzer,
    TimelineEvent,
)

__all__ = [
    "AggregationRule",
    "Annotation",
    "ClockReport",
    "CorrelationReport",
    "CustodyRecord",
    "Deviation",
    "Finding",
    "Gap",
    "Incident",
    "IncidentLog",
    "IncidentNote",
    "IntegrityState",
    "IntegrityStatus",
    "LogSource",
    "NodeClock",
    "OutputFile",
    "PatternAnalyzer",
    "PatternReport",
    "QueryCorrelator",
    "ReportResult",
    "SourceSummary",
    "Timeline",
    "TimelineAnalyzer",
    "TimelineEvent",
    "build_report",
    "custody_records",
    "write_timeline",
]
