"""The SQL that puts a batch of prediction rows into the ``predictions`` table.

The prediction log's writer thread inserts each batch as one multi-row INSERT statement
(:class:`BulkInsert`): ``executemany`` steps the database once per row, and the sqlite3 driver
releases and takes back the GIL around every step, a thousand hand-offs a batch, each stalling the
server's event loop, plus SQLAlchemy's per-row parameter work under the GIL. One statement is
bound in C and stepped once. :func:`insert_statement` is SQLAlchemy's one-row form, for drivers
with another parameter style and for inserting row by row; :func:`not_stored` drops rows a
crashed process had written already.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from mlship.serving.prediction_record import Row
from mlship.store import as_utc
from mlship.store.schema import PREDICTION_FIELDS, predictions

__all__ = ["BulkInsert", "insert_statement", "not_stored"]

_JSON_FIELDS = frozenset(c.name for c in predictions.columns if isinstance(c.type, sa.JSON))
_AT = PREDICTION_FIELDS.index("at")
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_SQLITE_MAX_VALUES = 32_766  # SQLite's default limit of bound values in one statement


def insert_statement(dialect: str) -> sa.Insert:
    """INSERT into ``predictions`` taking the JSON columns as text (serialized once)."""
    values: dict[str, sa.ColumnElement[Any]] = {}
    for name in sorted(_JSON_FIELDS):
        param: sa.ColumnElement[Any] = sa.bindparam(name, type_=sa.Text)
        values[name] = sa.cast(param, JSONB) if dialect == "postgresql" else param
    return sa.insert(predictions).values(**values)


class BulkInsert:
    """Inserts rows as multi-row INSERT statements, executed by the driver.

    Values are bound as SQLAlchemy would bind them (its processor for ``at`` in the dialect);
    JSON columns go in as text (cast to JSONB on PostgreSQL). Drivers with another parameter
    style get ``fallback`` (SQLAlchemy's executemany).
    """

    def __init__(self, dialect: sa.Dialect, fallback: sa.Insert) -> None:
        self._bulk = dialect.paramstyle in _MARKS
        mark = _MARKS.get(dialect.paramstyle, "?")
        json_mark = f"CAST({mark} AS JSONB)" if dialect.name == "postgresql" else mark
        one = ", ".join(json_mark if f in _JSON_FIELDS else mark for f in PREDICTION_FIELDS)
        self._row = f"({one})"
        self._head = f"INSERT INTO {predictions.name} ({', '.join(PREDICTION_FIELDS)}) VALUES "
        width = len(PREDICTION_FIELDS)
        self._max_rows = _SQLITE_MAX_VALUES // width if dialect.name == "sqlite" else 5_000
        processor = predictions.c.at.type.dialect_impl(dialect).bind_processor(dialect)
        self._at: Callable[[Any], Any] | None = processor
        self._pick = itemgetter(*PREDICTION_FIELDS)
        self._sql: dict[int, str] = {}
        self._fallback = fallback

    def insert(self, conn: Connection, rows: list[Row]) -> None:
        if not self._bulk:
            conn.execute(self._fallback, rows)
            return
        at, pick = self._at, self._pick
        for first in range(0, len(rows), self._max_rows):
            chunk = rows[first : first + self._max_rows]
            params: list[Any] = []
            for row in chunk:
                values = list(pick(row))
                if at is not None:
                    values[_AT] = at(values[_AT])
                params += values
            conn.exec_driver_sql(self._statement(len(chunk)), tuple(params))

    def _statement(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            if len(self._sql) > 16:  # batch sizes vary when the writer catches up
                self._sql.clear()
            sql = self._sql[rows] = self._head + ", ".join([self._row] * rows)
        return sql


def not_stored(conn: Connection, rows: list[Row]) -> list[Row]:
    """``rows`` without those already in the store (a batch written just before a crash)."""
    ids = sorted({row["request_id"] for row in rows})
    t = predictions.c
    found = conn.execute(
        sa.select(t.request_id, t.model, t.version, t.role, t.at).where(t.request_id.in_(ids))
    )
    stored = {(r.request_id, r.model, r.version, r.role, as_utc(r.at)) for r in found}
    return [
        row
        for row in rows
        if (row["request_id"], row["model"], row["version"], row["role"], as_utc(row["at"]))
        not in stored
    ]
