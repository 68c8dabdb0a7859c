"""One collector per stream, however many hosts run one: a lease per stream in the store.

A collector holds a stream's lease before it connects and renews it every third of
``streams.lease_seconds``; a renewal that finds another holder (the lease had expired and was
taken over) makes it drop the stream. A collector that stops releases its leases; one that is
killed leaves them to expire, and the next holder records the gap it left
(:func:`reporting.fetch.streams.reading.unclosed_sessions`). Taking and renewing happen under the
store's writer lock (PostgreSQL's advisory lock, SQLite's ``BEGIN IMMEDIATE``), so two hosts never
both hold a stream. The table is append-only: the holder is the latest row.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlmodel import Session, col

from audit_store.bulk import read_datetime
from audit_store.db import Store
from audit_store.snapshots import lock_sequencer
from audit_store.tables_streams import StreamLease


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def current_holder(store: Store, stream: str, now: datetime) -> str | None:
    """Who holds the stream's lease at ``now`` (None: nobody, or it expired or was released)."""
    with store.read_session() as session:
        return _holder(session, stream, now)


def latest_lease(session: Session, stream: str) -> tuple[str, str, datetime] | None:
    """The stream's latest lease row as (holder, event, expires_at in UTC); None: never taken."""
    m = StreamLease
    row = session.execute(
        select(col(m.holder), col(m.event), col(m.expires_at))
        .where(col(m.stream) == stream)
        .order_by(col(m.id).desc())
        .limit(1)
    ).first()
    return None if row is None else (str(row[0]), str(row[1]), read_datetime(row[2]))


def _holder(session: Session, stream: str, now: datetime) -> str | None:
    latest = latest_lease(session, stream)
    if latest is None or latest[1] == "release" or latest[2] <= now:
        return None
    return latest[0]


def try_hold(
    store: Store, stream: str, holder: str, seconds: float, now: datetime | None = None
) -> str | None:
    """Take or renew the lease: ``"acquired"`` (it was nobody's, or had lapsed), ``"renewed"``,
    or ``None`` when another collector holds it."""
    moment = now or datetime.now(UTC)
    with store.session() as session:
        lock_sequencer(session)
        current = _holder(session, stream, moment)
        if current is not None and current != holder:
            return None
        session.execute(
            insert(StreamLease.__table__),  # type: ignore[attr-defined]
            {
                "stream": stream,
                "holder": holder,
                "event": "renew" if current == holder else "acquire",
                "at": moment,
                "expires_at": moment + timedelta(seconds=seconds),
            },
        )
    return "renewed" if current == holder else "acquired"


def release(store: Store, stream: str, holder: str) -> None:
    moment = datetime.now(UTC)
    with store.session() as session:
        lock_sequencer(session)
        if _holder(session, stream, moment) == holder:
            session.execute(
                insert(StreamLease.__table__),  # type: ignore[attr-defined]
                {
                    "stream": stream,
                    "holder": holder,
                    "event": "release",
                    "at": moment,
                    "expires_at": moment,
                },
            )
