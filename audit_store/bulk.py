"""Reading and writing many rows fast: a statement's rows as the driver returns them, without
SQLAlchemy's per-row objects and type processing; and rows inserted as tuples with one driver
``executemany`` (:func:`insert_rows`).

For queries of plain columns over a large range (a year of hourly rows for a backtest), where
SQLAlchemy's result rows and processors cost as much as the query itself. The statement is compiled
and its parameters bound by SQLAlchemy as usual; only the reading of the result is left to the
driver, so each value comes as the driver gives it: a timestamp is a ``datetime`` from PostgreSQL
and text from SQLite (read it with :func:`read_datetime`), a boolean may be ``0``/``1``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Table
from sqlmodel import Session

from audit_store.canonical import as_utc


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a bulk read builds its objects, then back as it was.

    Reading 300,000 rows makes a million objects and none of them in a cycle, yet each few hundred
    allocations start a collection that walks the objects made so far: about half the time of the
    read. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def driver_rows(session: Session, stmt: Executable) -> list[tuple[Any, ...]]:
    """Every row of ``stmt`` as a plain tuple of driver values, in the session's transaction."""
    result = session.connection().execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def read_datetime(value: Any) -> datetime:
    """A driver timestamp (text from SQLite, a ``datetime`` from PostgreSQL) as aware UTC.

    Callers reading many rows keep a dict of the values already read: a range repeats few
    timestamps (one per interval).
    """
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in ``columns`` order) into ``table`` with one ``executemany`` of
    the driver, in the session's transaction. Each value goes through its column type's bind
    processing, as with SQLAlchemy's own insert, so what is stored is the same; only the
    statement's per-row dictionaries and compilation are saved (a stream batch's hundreds of
    events a second)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    found = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    processors = [(i, p) for i, p in enumerate(found) if p is not None]
    if processors:
        processed = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            processed.append(tuple(values))
        rows = processed
    mark = _MARKS[dialect.paramstyle]
    names = ", ".join(columns)
    marks = ", ".join([mark] * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))
