"""PNG charts are valid images; the report is one self-contained page with custody."""

from __future__ import annotations

import hashlib
import re
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

from forensics_helpers import two_nodes

from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import FakeClock
from logging_audit.audit_service import AuditService
from logging_audit.forensics.charts import (
    PNG_SIGNATURE,
    Access,
    activity_timeline_chart,
    agent_resource_heatmap,
    anomaly_scores_chart,
    hour_weekday_heatmap,
)
from logging_audit.forensics.custody import custody_records
from logging_audit.forensics.report import build_report
from logging_audit.forensics.timeline import TimelineAnalyzer
from logging_audit.persistence.models import ClearanceLevel


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    return width, height


def _accesses() -> list[Access]:
    t = datetime(2025, 10, 13, 9, tzinfo=timezone.utc)
    return [Access(f"A-{i % 3}", f"doc-{i % 5}", t + timedelta(hours=i % 30)) for i in range(60)]


def test_heatmaps_are_pngs() -> None:
    for data in (agent_resource_heatmap(_accesses()), hour_weekday_heatmap(_accesses())):
        width, height = _png_size(data)
        assert width >= 600
        assert height >= 300
        assert len(data) > 5000


def test_empty_inputs_still_give_an_image() -> None:
    width, height = _png_size(agent_resource_heatmap([]))
    assert width > 0
    assert height > 0
    _png_size(anomaly_scores_chart([], 0.85))


def test_timeline_chart(service: AuditService, clock: FakeClock, tmp_path: Path) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    timeline = TimelineAnalyzer(service, log_streams=[scenario.log]).reconstruct()
    width, height = _png_size(activity_timeline_chart(timeline))
    assert width == 1100
    assert height > 100


def test_report_writes_pngs_and_one_self_contained_page(
    service: AuditService, clock: FakeClock, tmp_path: Path
) -> None:
    scenario = two_nodes(service, clock, tmp_path / "logs-b")
    service.store.checkpoint()
    service.query_events(criteria={"clearance": {"gte": 4}}, requestor_id="A-12345")
    result = build_report(
        tmp_path / "report",
        service,
        incident_id="INC-20251015-001",
        agents=["A-12345"],
        log_streams=[scenario.log],
        end_time="2025-10-15",
    )
    assert set(result.images) == {
        "heatmap_actor_resource",
        "heatmap_hour_weekday",
        "activity_timeline",
        "anomaly_scores",
    }
    for name, path in result.images.items():
        data = path.read_bytes()
        _png_size(data)
        assert hashlib.sha256(data).hexdigest() == result.image_sha256[name]
    page = result.html_path.read_text(encoding="utf-8")
    assert hashlib.sha256(page.encode()).hexdigest() == result.sha256
    assert page.count("data:image/png;base64,") == 4
    assert not re.search(r"https?://", page)
    for attr in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page):
        assert attr.startswith("data:")
    assert "Behavioural deviations" in page
    assert "Query correlation and intent" in page
    assert "clearance_probe" in page
    assert result.custody is not None
    assert result.custody.result_sha256 == result.sha256
    assert result.custody.summary["images"] == result.image_sha256
    kept = custody_records(
        service.store, Requestor("x", ClearanceLevel.LEVEL_5), "INC-20251015-001"
    )
    assert {r.operation for r in kept} == {"timeline_reconstruction", "forensic_report"}
