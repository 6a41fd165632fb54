"""Compiling an :class:`~logging_audit.audit.query.EventQuery` to SQL for SQLite and PostgreSQL.

Only two things are ever interpolated into SQL text: column names from the
fixed field catalogue, and operators from a fixed table. Every value — and
every JSON path — is a bound parameter (``?``; the PostgreSQL driver turns
them into ``%s``). Every query carries the clearance filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import orjson

from logging_audit.audit.index import KIND_EVENT, index_text
from logging_audit.audit.lexemes import MAX_LEXEME_CHARS, tsquery
from logging_audit.audit.query import Condition, EventQuery, text_terms

__all__ = ["POSTGRES", "SQLITE", "CursorPosition", "Dialect", "compile_query"]

_CMP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class CursorPosition:
    """Where the previous page ended: its last row's sort value and seq."""

    value: Any
    seq: int


class Dialect(ABC):
    """The SQL that differs between SQLite and PostgreSQL (one subclass each)."""

    name = "base"
    bounds_time_windows = False
    """Whether searches with a time range add the seq bounds of ADR 0038. PostgreSQL's
    planner needs them; SQLite's already picks the (column, time) index, and would
    take a seq range over it."""

    @abstractmethod
    def contains(self, expr: str) -> str:
        """SQL testing that the column expression ``expr`` contains the bound parameter."""

    @abstractmethod
    def text_match(self, text: str) -> tuple[str, list[Any]]:
        """SQL and parameters of a full-text match of ``text``."""

    @abstractmethod
    def json_condition(self, cond: Condition) -> tuple[str, list[Any]]:
        """SQL and parameters of a condition on a path inside ``details``."""

    def false(self) -> str:
        return "0"

    def column_condition(self, cond: Condition) -> tuple[str, list[Any]]:
        col = cond.field.column
        assert col is not None
        op, value = cond.op, cond.value
        if op == "eq":
            return f"{col} = ?", [value]
        if op == "ne":
            return f"({col} IS NULL OR {col} <> ?)", [value]
        if op in ("in", "not_in"):
            marks = ", ".join("?" * len(value))
            if op == "in":
                return f"{col} IN ({marks})", list(value)
            return f"({col} IS NULL OR {col} NOT IN ({marks}))", list(value)
        if op in _CMP:
            return f"{col} {_CMP[op]} ?", [value]
        if op == "contains":
            return self.contains(col), [value]
        if op == "exists":
            return f"{col} IS {'NOT ' if value else ''}NULL", []
        raise AssertionError(op)  # pragma: no cover

    def condition(self, cond: Condition) -> tuple[str, list[Any]]:
        if cond.field.kind == "json":
            return self.json_condition(cond)
        return self.column_condition(cond)


class SqliteDialect(Dialect):
    """SQLite: JSON1 over the stored line, FTS5 for text."""

    name = "sqlite"
    _DOC = "CAST(line AS TEXT)"

    def contains(self, expr: str) -> str:
        return f"instr({expr}, ?) > 0"

    def text_match(self, text: str) -> tuple[str, list[Any]]:
        # as in PostgreSQL, a word too long to be a lexeme is left out of the search
        terms = [t for t in text_terms(text) if len(t) <= MAX_LEXEME_CHARS]
        if not terms:
            return self.false(), []
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        return "seq IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?)", [match]

    @staticmethod
    def _path(cond: Condition) -> str:
        return "$" + "".join(f'."{p}"' for p in cond.field.path)

    def _typed(self, value: Any) -> tuple[str, list[Any]]:
        doc = self._DOC
        if value is True or value is False:
            return f"json_type({doc}, ?) = '{'true' if value else 'false'}'", []
        kind = "'text'" if isinstance(value, str) else "'integer', 'real'"
        return f"(json_type({doc}, ?) IN ({kind}) AND json_extract({doc}, ?) {{op}} ?)", [value]

    def _eq(self, path: str, value: Any) -> tuple[str, list[Any]]:
        if isinstance(value, str) and "\x00" in value:
            # json_extract() stops at NUL; ``->`` returns the exact JSON text (SQLite >= 3.38)
            return f"({self._DOC} -> ?) = ?", [path, orjson.dumps(value).decode()]
        sql, extra = self._typed(value)
        if "{op}" in sql:
            return sql.replace("{op}", "="), [path, path, *extra]
        return sql, [path]

    def json_condition(self, cond: Condition) -> tuple[str, list[Any]]:
        doc, path, op, value = self._DOC, self._path(cond), cond.op, cond.value
        if op == "exists":
            sql = f"COALESCE(json_type({doc}, ?), 'null') {'<>' if value else '='} 'null'"
            return sql, [path]
        if op == "eq":
            return self._eq(path, value)
        if op in ("in", "not_in", "ne"):
            values = value if op != "ne" else (value,)
            parts = [self._eq(path, v) for v in values if v is not None]
            sql = " OR ".join(f"({p})" for p, _ in parts) or "0"
            params = [x for _, ps in parts for x in ps]
            if any(v is None for v in values):
                sql += f" OR COALESCE(json_type({doc}, ?), 'null') = 'null'"
                params.append(path)
            if op == "in":
                return f"({sql})", params
            return f"NOT COALESCE(({sql}), 0)", params
        if op in _CMP:
            sql, extra = self._typed(value)
            return sql.replace("{op}", _CMP[op]), [path, path, *extra]
        if op == "contains":
            if "\x00" in value:
                needle = orjson.dumps(value).decode()[1:-1]
                sql = f"(json_type({doc}, ?) = 'text' AND instr({doc} -> ?, ?) > 0)"
                return sql, [path, path, needle]
            sql = f"(json_type({doc}, ?) = 'text' AND instr(json_extract({doc}, ?), ?) > 0)"
            return sql, [path, path, value]
        raise AssertionError(op)  # pragma: no cover


_PG_TYPE = "jsonb_typeof(details #> ?)"
_PG_STRING = f"(CASE WHEN {_PG_TYPE} = 'string' THEN details #>> ? END)"


class PostgresDialect(Dialect):
    """PostgreSQL: the JSONB ``details`` column (containment uses its GIN index), tsvector text.

    Paths are ``details.<path>``: the column holds the details, so SQL paths
    start after ``details``.
    """

    name = "postgres"
    bounds_time_windows = True

    def false(self) -> str:
        return "false"

    def contains(self, expr: str) -> str:
        return f"strpos({expr}, ?) > 0"

    def text_match(self, text: str) -> tuple[str, list[Any]]:
        query = tsquery(text_terms(text))
        if query is None:  # every word too long to be a lexeme: nothing holds it
            return self.false(), []
        return "tsv @@ ?::tsquery", [query]

    @staticmethod
    def _doc(cond: Condition, value: Any) -> str:
        doc: Any = value
        for part in reversed(cond.field.path[1:]):
            doc = {index_text(part): doc}
        return orjson.dumps(doc).decode()

    def _eq(self, cond: Condition, value: Any) -> tuple[str, list[Any]]:
        if isinstance(value, str):
            value = index_text(value)
        return "details @> ?::jsonb", [self._doc(cond, value)]

    def json_condition(self, cond: Condition) -> tuple[str, list[Any]]:
        path = [index_text(p) for p in cond.field.path[1:]]
        op, value = cond.op, cond.value
        if op == "exists":
            return f"COALESCE({_PG_TYPE}, 'null') {'<>' if value else '='} 'null'", [path]
        if op == "eq":
            return self._eq(cond, value)
        if op in ("in", "not_in", "ne"):
            values = value if op != "ne" else (value,)
            parts = [self._eq(cond, v) for v in values if v is not None]
            sql = " OR ".join(p for p, _ in parts) or "false"
            params = [x for _, ps in parts for x in ps]
            if any(v is None for v in values):
                sql += f" OR COALESCE({_PG_TYPE}, 'null') = 'null'"
                params.append(path)
            if op == "in":
                return f"({sql})", params
            return f"NOT COALESCE(({sql}), false)", params
        if op in _CMP:
            if isinstance(value, str):
                expr = _PG_STRING
                return f'{expr} COLLATE "C" {_CMP[op]} ?', [path, path, index_text(value)]
            expr = f"(CASE WHEN {_PG_TYPE} = 'number' THEN (details #>> ?)::numeric END)"
            return f"{expr} {_CMP[op]} ?", [path, path, value]
        if op == "contains":
            expr = _PG_STRING
            return f"strpos({expr}, ?) > 0", [path, path, index_text(value)]
        raise AssertionError(op)  # pragma: no cover


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()


def compile_query(
    query: EventQuery,
    clearance: int,
    dialect: Dialect,
    *,
    after: CursorPosition | None = None,
    seq_range: tuple[int | None, int | None] | None = None,
) -> tuple[str, list[Any]]:
    """Return ``(where_sql, params)`` selecting the events a reader of ``clearance`` may see.

    The clearance filter (``clearance <= ?``) and ``kind = 'event'`` are always
    part of it; ``after`` continues a sorted listing after a cursor position;
    ``seq_range`` (from :func:`~logging_audit.audit.time_order.seq_window`)
    bounds the seqs the time range can hold, so that the database reads only them.
    """
    parts = [f"kind = '{KIND_EVENT}'", "clearance <= ?"]
    params: list[Any] = [int(clearance)]
    if seq_range is not None:
        first, last = seq_range
        if first is not None:
            parts.append("seq >= ?")
            params.append(first)
        if last is not None:
            parts.append("seq <= ?")
            params.append(last)
    if query.start_us is not None:
        parts.append("ts_us >= ?")
        params.append(query.start_us)
    if query.end_us is not None:
        parts.append("ts_us < ?")
        params.append(query.end_us)
    for cond in query.conditions:
        sql, ps = dialect.condition(cond)
        parts.append(f"({sql})")
        params.extend(ps)
    if query.text is not None:
        sql, ps = dialect.text_match(query.text)
        parts.append(sql)
        params.extend(ps)
    if after is not None:
        col = sort_column(query)
        cmp = "<" if query.sort.descending else ">"
        if col == "seq":
            parts.append(f"seq {cmp} ?")
            params.append(after.seq)
        else:
            parts.append(f"({col} {cmp} ? OR ({col} = ? AND seq {cmp} ?))")
            params.extend([after.value, after.value, after.seq])
    return " AND ".join(parts), params


def sort_column(query: EventQuery) -> str:
    """The column a query sorts by (``ts`` sorts by ``ts_us``)."""
    return "ts_us" if query.sort.field == "ts" else query.sort.field


def order_by(query: EventQuery) -> str:
    """The ORDER BY clause of a query: its sort column, then seq, same direction."""
    direction = "DESC" if query.sort.descending else "ASC"
    col = sort_column(query)
    if col == "seq":
        return f"ORDER BY seq {direction}"
    return f"ORDER BY {col} {direction}, seq {direction}"
