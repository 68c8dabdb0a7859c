"""Reading many rows fast: a statement's rows as the driver returns them, without SQLAlchemy's
per-row objects and type processing.

For queries of plain columns over a large range (a year of hourly rows for a backtest), where
SQLAlchemy's result rows and processors cost as much as the query itself. The statement is compiled
and its parameters bound by SQLAlchemy as usual; only the reading of the result is left to the
driver, so each value comes as the driver gives it: a timestamp is a ``datetime`` from PostgreSQL
and text from SQLite (read it with :func:`read_datetime`), a boolean may be ``0``/``1``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Executable
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
