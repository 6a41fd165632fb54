"""ISO date-times read alike on every supported Python (3.10's fromisoformat is stricter)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from logging_audit.iso_time import parse_iso_datetime

PLUS_ONE = timezone(timedelta(hours=1))
CASES = [
    ("2024-03-04T10:00:01.5+01:00", datetime(2024, 3, 4, 10, 0, 1, 500000, PLUS_ONE)),
    ("2024-03-04T10:00:01.123456789Z", datetime(2024, 3, 4, 10, 0, 1, 123456, timezone.utc)),
    ("2024-03-04 10:00:01,25", datetime(2024, 3, 4, 10, 0, 1, 250000)),
    ("2024-03-04T10:00+0100", datetime(2024, 3, 4, 10, 0, tzinfo=PLUS_ONE)),
    ("2024-03-04T10:00:00z", datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)),
    ("2024-03-04T10:00:00.000001+01", datetime(2024, 3, 4, 10, 0, 0, 1, PLUS_ONE)),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_iso_forms_parse_alike(text: str, expected: datetime) -> None:
    assert parse_iso_datetime(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00", "2024-03-04T10:00:00+25:00"])
def test_non_dates_are_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_datetime(text)
