"""Storing a batch of frames: one snapshot, its events and rejected frames, the minute aggregates
of the events not seen before, and the connection records, in one transaction.

A batch is read by the same function ``verify`` re-runs (:func:`.derive.read_frames`, which
:func:`.derive.derive_batch` applies to the decoded body), so what is stored is what the frames
say. An event whose venue key (``dedup_key``) is already stored, from an
earlier batch or an earlier frame of this one, is stored with ``counted`` false and left out of the
aggregates: a reconnect overlap or a venue re-sending is counted once, and the number dropped is
on record.

A caller may pass a *batch hook* (:data:`BatchHook`): run inside the same transaction once the
batch's rows are written, told what the batch touched (:class:`CommittedBatch`), so what it derives
(the intraday limit results and their alerts, :mod:`reporting.notify.intraday`) is committed with
the batch or not at all. It runs in a savepoint: a hook that raises is rolled back alone and logged,
and the batch is stored all the same (frames are never lost to a check).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session, col

from audit_store import SOFTWARE_VERSION
from audit_store.bulk import gc_paused
from audit_store.db import Store
from audit_store.snapshots import RawResponse, append_snapshot, lock_sequencer, new_snapshot
from audit_store.tables_ingest import append_derived_rows
from audit_store.tables_streams import StreamEvent, StreamMinute, StreamSession
from reporting.fetch.streams.derive import READERS, read_frames, rows_of
from reporting.fetch.streams.frames import Frame, encode_batch

_KEY_CHUNK = 500
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionEvent:
    """One event of one connection, to be kept in ``stream_session``."""

    stream: str
    venue: str
    connection: str
    event: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class PendingBatch:
    """The frames of one stream received since the last batch was sealed."""

    stream: str
    kind: str
    url: str
    params: Mapping[str, str]
    frames: Sequence[tuple[datetime, str, bytes]]  # received_at, connection, bytes
    body: bytes | None = None  # the frames encoded (:func:`.frames.encode_batch`), if done already


@dataclass(frozen=True)
class StoredBatch:
    snapshot_id: int
    leaf_index: int
    frames: int
    events: int
    duplicates: int
    rejected: int
    controls: tuple[tuple[str, str, str, datetime], ...] = field(default=())
    # (connection, control, detail, received_at) of the acknowledgements and refusals it held
    first_receive: datetime | None = None
    written_by: int = 0  # the process id of the writer (the collector's, or its writer process)
    enqueued: int = 0  # messages the batch hook put in the outbox (to be delivered at once)


@dataclass(frozen=True)
class CommittedBatch:
    """What a batch hook is told of the batch being stored, inside its transaction."""

    snapshot_id: int
    leaf_index: int
    venue: str
    minutes: Mapping[str, tuple[datetime, ...]]  # per asset, the minutes of its counted events
    last_received: datetime  # the receive time of the batch's last frame (UTC)


BatchHook = Callable[[Session, CommittedBatch], int]
"""Runs in the batch's transaction; returns how many messages it enqueued."""


def _params(batch: PendingBatch) -> dict[str, str]:
    first, last = batch.frames[0][0], batch.frames[-1][0]
    return {
        **batch.params,
        "stream": batch.stream,
        "frames": str(len(batch.frames)),
        "first_received": first.astimezone(UTC).isoformat(),
        "last_received": last.astimezone(UTC).isoformat(),
    }


def _frames(batch: PendingBatch) -> list[Frame]:
    """The batch's frames as its body holds them (receive times in UTC): what ``verify`` decodes
    from the stored body, read here without decoding the body just encoded."""
    return [
        Frame(i, at if at.tzinfo is UTC else at.astimezone(UTC), connection, data)
        for i, (at, connection, data) in enumerate(batch.frames)
    ]


def store_batch(
    store: Store,
    batch: PendingBatch,
    *,
    config_hash: str,
    sessions: Iterable[SessionEvent] = (),
    software_version: str = SOFTWARE_VERSION,
    after: BatchHook | None = None,
) -> StoredBatch:
    """Keep ``batch`` as the next snapshot with everything derived from it, in one transaction
    (with ``sessions``, the connection records since the last batch), then run ``after`` in it."""
    venue, _reader = READERS[batch.kind]
    params = _params(batch)
    raw = RawResponse(
        source=venue,
        kind=batch.kind,
        url=batch.url,
        params=params,
        fetched_at=batch.frames[0][0],
        http_status=101,  # Switching Protocols: the websocket upgrade
        body=batch.body if batch.body is not None else encode_batch(batch.frames),
    )
    with store.session() as session, gc_paused():
        lock_sequencer(session)
        snapshot = new_snapshot(raw, software_version=software_version, config_hash=config_hash)
        results = read_frames(batch.kind, _frames(batch), params)
        append_snapshot(session, snapshot)
        assert snapshot.id is not None
        write_sessions(session, sessions)
        tables = rows_of(venue, results)
        events = list(tables["stream_event"])
        counted = _first_seen(session, venue, events)
        append_derived_rows(session, snapshot, "stream_event", events, extra={"counted": counted})
        rejected = append_derived_rows(
            session, snapshot, "stream_rejected_frame", tables["stream_rejected_frame"]
        )
        minutes = _insert_minutes(session, snapshot.id, venue, events, counted)
        enqueued = 0
        if after is not None:
            committed = CommittedBatch(
                snapshot_id=snapshot.id,
                leaf_index=snapshot.leaf_index,
                venue=venue,
                minutes=minutes,
                last_received=batch.frames[-1][0].astimezone(UTC),
            )
            enqueued = run_hook(session, after, committed)
        controls = tuple(
            (r.frame.connection, r.reading.control, r.reading.detail, r.frame.received_at)
            for r in results
            if r.reading is not None and r.reading.control in ("subscribed", "refused")
        )
    return StoredBatch(
        snapshot_id=snapshot.id,
        leaf_index=snapshot.leaf_index,
        frames=len(batch.frames),
        events=len(events),
        duplicates=len(events) - sum(counted),
        rejected=rejected,
        controls=controls,
        first_receive=batch.frames[0][0],
        written_by=os.getpid(),
        enqueued=enqueued,
    )


def run_hook(session: Session, hook: BatchHook, committed: CommittedBatch) -> int:
    """``hook`` in a savepoint of the batch's transaction; one that raises is rolled back alone
    (and logged), so the batch is stored all the same."""
    try:
        with session.begin_nested():
            return hook(session, committed)
    except Exception:
        log.exception("batch %d: its hook failed; the batch is stored", committed.leaf_index)
        return 0


def _first_seen(session: Session, venue: str, events: list[dict[str, Any]]) -> list[bool]:
    """For each event, whether no earlier event of the venue has its key."""
    keys = sorted({e["dedup_key"] for e in events})
    seen: set[str] = set()
    for i in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[i : i + _KEY_CHUNK]
        query = select(col(StreamEvent.dedup_key)).where(
            col(StreamEvent.venue) == venue, col(StreamEvent.dedup_key).in_(chunk)
        )
        seen.update(session.execute(query).scalars())
    counted = []
    for event in events:
        key = event["dedup_key"]
        counted.append(key not in seen)
        seen.add(key)
    return counted


def minute_of(moment: datetime) -> datetime:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.replace(second=0, microsecond=0)


def minute_sums(
    events: Iterable[tuple[str, datetime, str, float]],
) -> dict[tuple[str, datetime], list[float]]:
    """Per (asset, minute): [long_usd, short_usd, long_count, short_count] of the events given as
    (asset, exchange_time, side, usd)."""
    sums: dict[tuple[str, datetime], list[float]] = {}
    for asset, moment, side, usd in events:
        cell = sums.setdefault((asset, minute_of(moment)), [0.0, 0.0, 0, 0])
        if side == "long":
            cell[0] += usd
            cell[2] += 1
        else:
            cell[1] += usd
            cell[3] += 1
    return sums


def _insert_minutes(
    session: Session,
    snapshot_id: int,
    venue: str,
    events: list[dict[str, Any]],
    counted: list[bool],
) -> dict[str, tuple[datetime, ...]]:
    """Insert the minute sums of the counted events; return each asset's minutes."""
    sums = minute_sums(
        (e["asset"], e["exchange_time"], e["side"], e["usd"])
        for e, flag in zip(events, counted, strict=True)
        if flag
    )
    if sums:
        payload = [
            {
                "snapshot_id": snapshot_id,
                "venue": venue,
                "asset": asset,
                "minute": minute,
                "long_usd": cell[0],
                "short_usd": cell[1],
                "long_count": int(cell[2]),
                "short_count": int(cell[3]),
            }
            for (asset, minute), cell in sorted(sums.items())
        ]
        session.execute(insert(StreamMinute.__table__), payload)  # type: ignore[attr-defined]
    minutes: dict[str, list[datetime]] = {}
    for asset, minute in sorted(sums):
        minutes.setdefault(asset, []).append(minute)
    return {asset: tuple(m) for asset, m in minutes.items()}


def write_sessions(session: Session, events: Iterable[SessionEvent], host: str = "") -> None:
    payload = [
        {
            "stream": e.stream,
            "venue": e.venue,
            "connection": e.connection,
            "event": e.event,
            "at": e.at,
            "detail": e.detail[:1000],
            "host": host or _host(),
        }
        for e in events
    ]
    if payload:
        session.execute(insert(StreamSession.__table__), payload)  # type: ignore[attr-defined]


def record_sessions(store: Store, events: Iterable[SessionEvent]) -> None:
    """Keep connection records on their own (when no batch is being stored)."""
    given = list(events)
    if given:
        with store.session() as session:
            write_sessions(session, given)


def _host() -> str:
    return socket.gethostname()
