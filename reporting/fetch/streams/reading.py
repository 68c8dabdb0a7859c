"""What the stream tables say: events, coverage and gaps, and each stream's health.

Coverage: a connection covers the time from its subscription (Binance's raw stream: its connect)
to its disconnect or recorded gap; a stream's covered time is the union of its connections'. Any
other time of the day is a gap, on record with its reason. A quiet minute inside a covered span is
not a gap: the venue had nothing to say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from audit_store.bulk import read_datetime
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.tables_streams import StreamEvent, StreamMinute, StreamSession
from reporting.fetch.streams.venues import StreamSpec

CLOSING = frozenset({"disconnect", "gap"})


def _sessions(store: Store, stream: str) -> list[Any]:
    """Every connection record of the stream, in the order written. All of them: a connection
    subscribed days ago and still open covers today."""
    m = StreamSession
    query = select(
        col(m.id), col(m.connection), col(m.event), col(m.at), col(m.detail), col(m.host)
    ).where(col(m.stream) == stream)
    with store.read_session() as session:
        return list(session.execute(query.order_by(col(m.id))).all())


def has_sessions(store: Store, stream: str) -> bool:
    with store.read_session() as session:
        query = select(col(StreamSession.id)).where(col(StreamSession.stream) == stream).limit(1)
        return session.execute(query).first() is not None


def collected_streams(store: Store) -> list[str]:
    """Every stream with a connection record in the store, by name."""
    with store.read_session() as session:
        query = select(col(StreamSession.stream)).distinct()
        return sorted(str(name) for (name,) in session.execute(query))


def first_collected(store: Store) -> datetime | None:
    """When the first connection of any stream was subscribed: since when the streams hold data."""
    with store.read_session() as session:
        query = select(func.min(col(StreamSession.at))).where(
            col(StreamSession.event) == "subscribed"
        )
        found = session.execute(query).scalar()
    return None if found is None else read_datetime(found)


def last_batch_received(store: Store, spec: StreamSpec) -> datetime | None:
    """When the latest committed frame of the stream was received."""
    query = (
        select(col(Snapshot.params_json))
        .where(
            col(Snapshot.source) == spec.venue,
            col(Snapshot.kind) == spec.kind,
            col(Snapshot.params_json).like(f'%"stream":"{spec.stream}"%'),
        )
        .order_by(col(Snapshot.leaf_index).desc())
        .limit(1)
    )
    with store.read_session() as session:
        params = session.execute(query).scalar()
    if params is None:
        return None
    return read_datetime(datetime.fromisoformat(json.loads(params)["last_received"]))


def unclosed_sessions(store: Store, spec: StreamSpec) -> list[tuple[str, str, datetime]]:
    """Connections of the stream that connected and never recorded a disconnect or a gap:
    (connection, host, the last moment known stored from the stream)."""
    opened: dict[str, tuple[str, datetime]] = {}
    for row in _sessions(store, spec.stream):
        if row.event == "connect":
            opened[row.connection] = (row.host, read_datetime(row.at))
        elif row.event in CLOSING:
            opened.pop(row.connection, None)
    if not opened:
        return []
    last = last_batch_received(store, spec)
    return [
        (connection, host, max(at, last) if last else at)
        for connection, (host, at) in opened.items()
    ]


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    detail: str = ""

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _covered(rows: list[Any], start: datetime, end: datetime, now: datetime) -> list[Span]:
    """The union of the subscribed connections of ``rows`` over [start, end)."""
    raw: list[tuple[datetime, datetime]] = []
    began: dict[str, datetime] = {}
    for row in rows:
        at = read_datetime(row.at)
        if row.event == "subscribed":
            began.setdefault(row.connection, at)
        elif row.event in CLOSING and row.connection in began:
            raw.append((began.pop(row.connection), at))
    raw.extend((at, now) for at in began.values())  # still open
    spans: list[Span] = []
    for s, e in sorted(raw):
        s, e = max(s, start), min(e, end)
        if e <= s:
            continue
        if spans and s <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, max(spans[-1].end, e))
        else:
            spans.append(Span(s, e))
    return spans


def _why(rows: list[Any], start: datetime, end: datetime) -> str:
    reasons = [
        f"{row.event}: {row.detail}"
        for row in rows
        if row.event in ("disconnect", "gap", "connect_failed", "refused")
        and start - timedelta(seconds=1) <= read_datetime(row.at) <= end
    ]
    return "; ".join(dict.fromkeys(reasons))[:500] or "no collector was running"


def coverage(
    store: Store, stream: str, start: datetime, end: datetime
) -> tuple[list[Span], list[Span]]:
    """The stream's covered spans over [start, end), and the gaps between them up to now (for a
    day not over yet), each gap with the reasons on record; one read of the records."""
    return _coverage(_sessions(store, stream), start, end, datetime.now(UTC))


def _coverage(
    rows: list[Any], start: datetime, end: datetime, now: datetime
) -> tuple[list[Span], list[Span]]:
    stop = min(end, now)
    covered = _covered(rows, start, end, now)
    cursor = start
    found = []
    for span in covered:
        if span.start >= stop:
            break
        if span.start > cursor:
            found.append(Span(cursor, span.start, _why(rows, cursor, span.start)))
        cursor = max(cursor, span.end)
    if cursor < stop:
        found.append(Span(cursor, stop, _why(rows, cursor, stop)))
    return covered, found


def covered_spans(store: Store, stream: str, start: datetime, end: datetime) -> list[Span]:
    """The union of the stream's subscribed connections over [start, end)."""
    return coverage(store, stream, start, end)[0]


def gaps(store: Store, stream: str, start: datetime, end: datetime) -> list[Span]:
    """[start, end) minus the covered spans (up to now, for a day not over yet)."""
    return coverage(store, stream, start, end)[1]


def events(
    store: Store,
    *,
    venue: str,
    start: datetime,
    end: datetime,
    asset: str | None = None,
) -> list[dict[str, Any]]:
    """The counted events of ``venue`` in [start, end) of exchange time, in exchange-time order
    (never arrival order: OKX's channel is documented as out of order)."""
    m = StreamEvent
    query = (
        select(
            col(m.venue),
            col(m.instrument),
            col(m.asset),
            col(m.side),
            col(m.price),
            col(m.quantity),
            col(m.usd),
            col(m.exchange_time),
            col(m.receive_time),
            col(Snapshot.leaf_index),
            col(Snapshot.body_sha256),
        )
        .join(Snapshot, col(Snapshot.id) == m.snapshot_id)
        .where(
            col(m.venue) == venue,
            col(m.counted).is_(True),
            col(m.exchange_time) >= start,
            col(m.exchange_time) < end,
        )
        .order_by(col(m.exchange_time), col(m.id))
    )
    if asset:
        query = query.where(col(m.asset) == asset.upper())
    with store.read_session() as session:
        rows = session.execute(query).all()
    return [
        {
            "venue": r[0],
            "instrument": r[1],
            "asset": r[2].lower(),
            "side": r[3],
            "price": r[4],
            "quantity": r[5],
            "usd": r[6],
            "exchange_time": read_datetime(r[7]).isoformat(),
            "receive_time": read_datetime(r[8]).isoformat(),
            "snapshot": {"leaf_index": r[9], "sha256": r[10]},
        }
        for r in rows
    ]


def minute_rows(
    store: Store,
    *,
    assets: list[str],
    start: datetime,
    end: datetime,
    tree_size: int | None = None,
) -> list[tuple[str, str, datetime, str, float, float, int, int]]:
    """(venue, asset, minute, batch SHA-256, long USD, short USD, long count, short count) of
    every batch's minute sums in [start, end) for ``assets`` (upper case, as stored): the figures
    and the evidence they rest on; quarantined batches left out; with ``tree_size``, only batches
    among the log's first ``tree_size`` leaves."""
    m = StreamMinute
    query = (
        select(
            col(m.venue),
            col(m.asset),
            col(m.minute),
            col(Snapshot.body_sha256),
            col(m.long_usd),
            col(m.short_usd),
            col(m.long_count),
            col(m.short_count),
        )
        .join(Snapshot, col(Snapshot.id) == col(m.snapshot_id))
        .where(
            col(m.minute) >= start,
            col(m.minute) < end,
            col(m.asset).in_(assets),
            col(Snapshot.quarantined).is_(False),
        )
    )
    if tree_size is not None:
        query = query.where(col(Snapshot.leaf_index) < tree_size)
    with store.read_session() as session:
        return [
            (r[0], r[1], read_datetime(r[2]), r[3], float(r[4]), float(r[5]), int(r[6]), int(r[7]))
            for r in session.execute(query)
        ]


@dataclass(frozen=True)
class StreamHealth:
    stream: str
    connected: bool
    last_frame: datetime | None
    frames_last_hour: int
    events_last_hour: int
    duplicates_last_hour: int
    gaps_today: int
    gap_seconds_today: float
    warning: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "connected": self.connected,
            "last_frame": self.last_frame.isoformat() if self.last_frame else None,
            "frames_last_hour": self.frames_last_hour,
            "events_last_hour": self.events_last_hour,
            "duplicates_last_hour": self.duplicates_last_hour,
            "gaps_today": self.gaps_today,
            "gap_seconds_today": round(self.gap_seconds_today, 3),
            "warning": self.warning,
        }


def health(store: Store, spec: StreamSpec, *, silent_warn_seconds: float) -> StreamHealth:
    now = datetime.now(UTC)
    hour_ago = now - timedelta(hours=1)
    open_connections: set[str] = set()
    rows = _sessions(store, spec.stream)
    for row in rows:
        if row.event == "connect":
            open_connections.add(row.connection)
        elif row.event in CLOSING:
            open_connections.discard(row.connection)
    last = last_batch_received(store, spec)
    with store.read_session() as session:
        frames = session.execute(
            select(col(Snapshot.params_json)).where(
                col(Snapshot.kind) == spec.kind,
                col(Snapshot.fetched_at) >= hour_ago,
                col(Snapshot.params_json).like(f'%"stream":"{spec.stream}"%'),
            )
        ).scalars()
        frame_count = sum(int(json.loads(p).get("frames", 0)) for p in frames)
        counts = session.execute(
            select(col(StreamEvent.counted), func.count())
            .where(col(StreamEvent.venue) == spec.venue, col(StreamEvent.receive_time) >= hour_ago)
            .group_by(col(StreamEvent.counted))
        ).all()
    by_flag = {bool(flag): int(n) for flag, n in counts}
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _covered_today, today = _coverage(rows, day, day + timedelta(days=1), now)
    warning = None
    connected = bool(open_connections)
    if connected and (last is None or (now - last).total_seconds() > silent_warn_seconds):
        warning = (
            f"connected but no frame for over {silent_warn_seconds:g} s: a retired URL sends "
            "nothing (Binance's legacy paths)"
        )
    elif not connected:
        warning = "not connected"
    return StreamHealth(
        stream=spec.stream,
        connected=connected,
        last_frame=last,
        frames_last_hour=frame_count,
        events_last_hour=by_flag.get(True, 0),
        duplicates_last_hour=by_flag.get(False, 0),
        gaps_today=len(today),
        gap_seconds_today=sum(g.seconds for g in today),
        warning=warning,
    )
