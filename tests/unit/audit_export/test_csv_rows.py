"""CSV rows with NUL: the RFC 4180 path that Python 3.10 needs, tested on every version."""

from __future__ import annotations

import csv
import io
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import logging_audit.audit.csv_rows as csv_rows
from logging_audit.audit.csv_rows import CsvRowWriter, read_rows

CELLS = st.lists(st.text(alphabet=st.sampled_from('ab,"\r\n\x00 é'), max_size=12), min_size=1)


def _round_trip(rows: list[list[str]]) -> list[list[str]]:
    buf = io.StringIO(newline="")
    writer = CsvRowWriter(buf)
    for row in rows:
        writer.writerow(row)
    return list(read_rows(io.StringIO(buf.getvalue(), newline="")))


@given(st.lists(CELLS, min_size=1, max_size=5))
def test_rows_round_trip_with_the_rfc4180_path(rows: list[list[str]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csv_rows, "_NATIVE_NUL", False)
        assert _round_trip(rows) == [list(r) for r in rows]


@given(st.lists(CELLS, min_size=1, max_size=5))
def test_rows_round_trip(rows: list[list[str]]) -> None:
    assert _round_trip(rows) == rows


@pytest.mark.skipif(sys.version_info < (3, 11), reason="csv reads NUL from Python 3.11 on")
@given(st.lists(CELLS, min_size=1, max_size=5))
def test_the_rfc4180_path_writes_what_csv_reads(rows: list[list[str]]) -> None:
    buf = io.StringIO(newline="")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csv_rows, "_NATIVE_NUL", False)
        writer = CsvRowWriter(buf)
        for row in rows:
            writer.writerow(row)
    assert list(csv.reader(io.StringIO(buf.getvalue(), newline=""))) == rows


def test_a_stray_quote_is_an_error_on_the_rfc4180_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_rows, "_NATIVE_NUL", False)
    with pytest.raises(csv.Error, match="after a cell"):
        list(read_rows(io.StringIO('"a"b,c\r\n', newline="")))
