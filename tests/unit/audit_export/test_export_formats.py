"""Export formats: each round-trips to the stable result shape; files appear only when complete."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_export_helpers import AUDITOR, populate
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_audit.audit.csv_rows import read_rows
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.export import (
    CSV_COLUMNS,
    ExportFormat,
    Sink,
    _CsvWriter,
    csv_cell,
    export_events,
    read_csv_events,
)
from logging_audit.audit.json_export import write_json_array
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import StoredEvent
from logging_audit.audit.store import AuditStore
from logging_audit.errors import ConfigError, FormatError

ALL = EventQuery.build({"event_type": {"ne": "query"}})
"""Every sample event, none of the query events the reads themselves record."""


def _expected(store: AuditStore, query: EventQuery = ALL) -> list[dict[str, Any]]:
    return [e.to_dict() for e in store.iter_events(query, AUDITOR)]


def test_json_is_an_array_of_result_shapes(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    result = export_events(store, ALL, AUDITOR, tmp_path / "out.json")
    data = (tmp_path / "out.json").read_bytes()
    assert orjson.loads(data) == _expected(store)
    assert result.count == len(_expected(store)) == 15
    assert result.format == "json"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes_written == len(data)
    assert result.output == str(tmp_path / "out.json")


def test_json_matches_the_seed_export_byte_for_byte(store: AuditStore, tmp_path: Path) -> None:
    """``--format json`` writes exactly what ``AuditTrailService.export_logs`` writes."""
    populate(store)
    export_events(store, ALL, AUDITOR, tmp_path / "ours.json")
    write_json_array(tmp_path / "seed.json", store.iter_events(ALL, AUDITOR))
    assert (tmp_path / "ours.json").read_bytes() == (tmp_path / "seed.json").read_bytes()


def test_jsonl_one_result_shape_per_line(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    export_events(store, ALL, AUDITOR, tmp_path / "out.jsonl", format="jsonl")
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x) for x in lines] == _expected(store)


def test_csv_round_trips_exactly(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    export_events(store, ALL, AUDITOR, tmp_path / "out.csv", format=ExportFormat.CSV)
    assert list(read_csv_events(tmp_path / "out.csv")) == _expected(store)
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(",".join(CSV_COLUMNS).encode() + b"\r\n")
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'quoted", "''quoted"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        ({"b": 1, "a": "=x"}, '{"a":"=x","b":1}'),
    ],
)
def test_csv_cells_defuse_formulas(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_no_cell_starts_a_formula(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    export_events(store, ALL, AUDITOR, tmp_path / "out.csv", format="csv")
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows[1:] for c in row]
    assert any(c.startswith("'=") for c in cells)  # the sample holds formula-looking values
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_csv_reader_rejects_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\r\n1,2\r\n", encoding="utf-8")
    with pytest.raises(FormatError, match="header"):
        list(read_csv_events(tmp_path / "x.csv"))
    bad = ",".join(CSV_COLUMNS) + "\r\nnot-an-int" + "," * (len(CSV_COLUMNS) - 1) + "\r\n"
    with pytest.raises(FormatError, match="seq"):
        list(read_csv_events(io.StringIO(bad, newline="")))


def test_ocsf_is_an_array_of_ocsf_events(store: AuditStore, tmp_path: Path) -> None:
    populate(store)
    result = export_events(store, ALL, AUDITOR, tmp_path / "out.ocsf.json", format="ocsf")
    events = orjson.loads((tmp_path / "out.ocsf.json").read_bytes())
    assert len(events) == result.count == 15
    expected = _expected(store)
    for ocsf, plain in zip(events, expected, strict=True):
        assert ocsf["metadata"]["uid"] == plain["event_id"]
        assert ocsf["metadata"]["sequence"] == plain["seq"]
        assert ocsf["type_uid"] == ocsf["class_uid"] * 100 + ocsf["activity_id"]
        assert ocsf["unmapped"]["logging_audit"]["details"] == plain["details"]


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat])
def test_empty_exports_are_valid_documents(store: AuditStore, tmp_path: Path, fmt: str) -> None:
    nothing = EventQuery.build({"actor": "nobody"})
    out = tmp_path / f"empty.{fmt}"
    result = export_events(store, nothing, AUDITOR, out, format=fmt)
    assert result.count == 0
    data = out.read_bytes()
    if fmt in ("json", "ocsf"):
        assert orjson.loads(data) == []
    elif fmt == "jsonl":
        assert data == b""
    else:
        assert list(read_csv_events(out)) == []


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat])
def test_export_to_a_stream(store: AuditStore, fmt: str) -> None:
    populate(store)
    buf = io.BytesIO()
    result = export_events(store, ALL, AUDITOR, buf, format=fmt)
    assert result.output is None
    assert result.count == 15
    assert result.sha256 == hashlib.sha256(buf.getvalue()).hexdigest()
    assert result.bytes_written == len(buf.getvalue())


def test_progress_reports_counts(store: AuditStore, tmp_path: Path) -> None:
    store.append(AuditEvent("system", "tick", "system", details={"i": i}) for i in range(2500))
    seen: list[int] = []
    q = EventQuery.build({"action": "tick"})
    result = export_events(
        store, q, AUDITOR, tmp_path / "t.jsonl", format="jsonl", progress=seen.append
    )
    assert result.count == 2500
    assert seen == [1000, 2000, 2500]


def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(
    store: AuditStore, tmp_path: Path
) -> None:
    populate(store)
    (tmp_path / "exports").mkdir()
    out = tmp_path / "exports" / "out.json"
    out.write_bytes(b"previous export")

    def boom(n: int) -> None:
        raise RuntimeError("disk on fire")

    store.append(AuditEvent("system", "tick", "system") for _ in range(1500))
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_events(store, EventQuery.build({}), AUDITOR, out, progress=boom)
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json"]
    # the abandoned read is recorded as incomplete; no custody record was made
    reads = store.search(EventQuery.build({"action": "export"}), AUDITOR).events
    assert reads[-1].event.details["complete"] is False
    custody = store.search(EventQuery.build({"action": "export_custody"}), AUDITOR).events
    assert custody == []


def test_overwrite_false_refuses_an_existing_file(store: AuditStore, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(b"keep")
    with pytest.raises(ConfigError, match="exists"):
        export_events(store, ALL, AUDITOR, out, overwrite=False)
    assert out.read_bytes() == b"keep"


def test_bad_arguments_are_config_errors(store: AuditStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="formats: json, jsonl, csv, ocsf"):
        export_events(store, ALL, AUDITOR, tmp_path / "x", format="xml")
    with pytest.raises(ConfigError, match="'json' or 'jsonl'"):
        export_events(store, ALL, AUDITOR, tmp_path / "x", format="csv", bundle=True)
    with pytest.raises(ConfigError, match="directory"):
        export_events(store, ALL, AUDITOR, tmp_path)
    with pytest.raises(ConfigError, match="binary stream"):
        export_events(store, ALL, AUDITOR, 42)  # type: ignore[arg-type]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_export_files_are_private(store: AuditStore, tmp_path: Path) -> None:
    export_events(store, ALL, AUDITOR, tmp_path / "out.json")
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o600


def test_memory_stays_flat_with_the_number_of_events(store: AuditStore, tmp_path: Path) -> None:
    """Exporting 8x the events needs about the same peak memory (streamed, not collected)."""
    detail = {"payload": "x" * 400}
    q_small = EventQuery.build({"action": "small"})
    q_big = EventQuery.build({"action": "big"})
    store.append(AuditEvent("system", "small", "system", details=detail) for _ in range(2000))
    for _ in range(4):
        store.append(AuditEvent("system", "big", "system", details=detail) for _ in range(4000))
    peaks = []
    for q, name in ((q_small, "small"), (q_big, "big")):
        tracemalloc.start()
        try:
            export_events(store, q, AUDITOR, tmp_path / f"{name}.jsonl", format="jsonl")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    big_file = (tmp_path / "big.jsonl").stat().st_size
    assert big_file > 7_000_000
    assert peaks[1] < peaks[0] * 1.5 + 1_000_000, peaks
    assert peaks[1] < big_file / 2, (peaks, big_file)


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
_INT = st.integers(-(2**63), 2**63 - 1)  # the store keeps integers of 64 bits


@settings(max_examples=200, deadline=None)
@given(
    actor=_TEXT,
    resource=st.none() | _TEXT,
    details=st.dictionaries(_TEXT, st.none() | st.booleans() | _INT | _TEXT, max_size=4),
)
def test_csv_round_trips_any_strings(
    actor: str, resource: str | None, details: dict[str, Any]
) -> None:
    """Whatever the strings — formulas, quotes, newlines, NUL, emoji — CSV reads back exactly."""
    event = AuditEvent("data_access", "read", actor, resource=resource, details=details)
    stored = StoredEvent(3, "2026-11-29T10:00:00.000001Z", b"", event)
    buf = io.BytesIO()
    sink = Sink(buf, "buffer")
    writer = _CsvWriter(sink)
    writer.begin()
    writer.event(stored)
    sink.flush()
    text = buf.getvalue().decode("utf-8")
    assert list(read_csv_events(io.StringIO(text, newline=""))) == [stored.to_dict()]
    for row in read_rows(io.StringIO(text, newline="")):  # csv.reader, or 3.10's NUL-safe path
        assert not [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
