"""CSV rows that may hold NUL, on every supported Python.

Python 3.11's :mod:`csv` reads and writes NUL like any other character; 3.10's
refuses it (``need to escape`` / ``line contains NUL``), yet audit strings may
hold it and a CSV export must give them back exactly. On 3.11 and later these
functions are :mod:`csv` itself; on 3.10 a row with NUL is written, and a file
with NUL is read, by the same RFC 4180 rules here (a cell is quoted when it
holds ``,``, ``"``, CR or LF; quotes are doubled).
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

__all__ = ["CsvRowWriter", "read_rows"]

_NATIVE_NUL = sys.version_info >= (3, 11)
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_CELL = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def _cell(text: str) -> str:
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


class CsvRowWriter:
    """Rows as :func:`csv.writer` writes them (``\\r\\n`` line ends), NUL included."""

    def __init__(self, out: IO[str]) -> None:
        """Write rows to ``out``."""
        self._out = out
        self._csv = csv.writer(out, lineterminator="\r\n")

    def writerow(self, cells: Sequence[str]) -> None:
        """Write one row of text cells."""
        if _NATIVE_NUL or not any("\x00" in c for c in cells):
            self._csv.writerow(cells)
        else:
            self._out.write(",".join(_cell(c) for c in cells) + "\r\n")


def _parse(text: str) -> Iterator[list[str]]:
    """Rows of a whole CSV text (RFC 4180: quoted cells may span lines)."""
    pos, end = 0, len(text)
    while pos < end:
        row: list[str] = []
        while True:
            m = _CELL.match(text, pos)
            assert m is not None  # the second branch matches the empty string
            quoted = m.group(1)
            row.append(quoted.replace('""', '"') if quoted is not None else m.group(2))
            pos = m.end()
            if pos >= end or text[pos] in "\r\n":
                break
            if text[pos] != ",":
                raise csv.Error(f"unexpected {text[pos]!r} after a cell at offset {pos}")
            pos += 1
        if text.startswith("\r\n", pos):
            pos += 2
        elif pos < end:
            pos += 1
        yield row


def read_rows(source: IO[str] | Iterable[str]) -> Iterator[list[str]]:
    """The rows of a CSV file opened with ``newline=""`` (NUL allowed), like :func:`csv.reader`."""
    if _NATIVE_NUL:
        yield from csv.reader(source)
        return
    record = ""
    for line in source:  # a record ends where its quotes balance (one line, or more)
        record += line
        if record.count('"') % 2 == 0:
            yield from _parse(record)
            record = ""
    if record:
        yield from _parse(record)
