"""What ``liqrisk verify`` checks of the stream tables beyond re-deriving each batch's rows
(which :func:`reporting.fetch.derivers.verify_derived_tables` does for ``stream_event`` and
``stream_rejected_frame``): that of every venue key exactly the first stored event is counted,
and that ``stream_minute`` holds exactly the sums of the counted events of each batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import col

from audit_store.bulk import read_datetime
from audit_store.db import Store
from audit_store.tables_streams import StreamEvent, StreamMinute
from audit_store.verify import Discrepancy
from reporting.fetch.streams.writer import minute_sums


def verify_stream_tables(store: Store) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    with store.read_session() as session:
        found.extend(_counted(session))
        found.extend(_minutes(session))
    return found


def _counted(session: Any) -> Iterator[Discrepancy]:
    m = StreamEvent
    flag = func.sum(case((col(m.counted).is_(True), 1), else_=0))
    suspicious = (
        select(col(m.venue), col(m.dedup_key))
        .group_by(col(m.venue), col(m.dedup_key))
        .having((func.count() > 1) | (flag != 1))
    )
    for venue, key in session.execute(suspicious).all():
        rows = session.execute(
            select(col(m.id), col(m.counted))
            .where(col(m.venue) == venue, col(m.dedup_key) == key)
            .order_by(col(m.id))
        ).all()
        for position, (row_id, counted) in enumerate(rows):
            if bool(counted) != (position == 0):
                want = "the first" if position == 0 else "a duplicate"
                yield Discrepancy(
                    "stream_event",
                    row_id,
                    f"stream_event {row_id} ({venue} {key}) is {want} of its key but is "
                    f"{'' if counted else 'not '}counted",
                )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _minutes(session: Any) -> Iterator[Discrepancy]:
    stored: dict[tuple[int, str, str, datetime], tuple[Any, ...]] = {}
    for row in session.execute(
        select(
            col(StreamMinute.id),
            col(StreamMinute.snapshot_id),
            col(StreamMinute.venue),
            col(StreamMinute.asset),
            col(StreamMinute.minute),
            col(StreamMinute.long_usd),
            col(StreamMinute.short_usd),
            col(StreamMinute.long_count),
            col(StreamMinute.short_count),
        )
    ):
        stored[(row[1], row[2], row[3], read_datetime(row[4]))] = (row[0], *row[5:])
    m = StreamEvent
    per_snapshot: dict[tuple[int, str], list[tuple[str, datetime, str, float]]] = {}
    for row in session.execute(
        select(
            col(m.snapshot_id),
            col(m.venue),
            col(m.asset),
            col(m.exchange_time),
            col(m.side),
            col(m.usd),
        )
        .where(col(m.counted).is_(True))
        .order_by(col(m.snapshot_id), col(m.row_index))
    ):
        per_snapshot.setdefault((row[0], row[1]), []).append(
            (row[2], read_datetime(row[3]), row[4], row[5])
        )
    for (snapshot_id, venue), items in per_snapshot.items():
        for (asset, minute), want in minute_sums(items).items():
            have = stored.pop((snapshot_id, venue, asset, minute), None)
            name = f"stream_minute of snapshot {snapshot_id}, {venue} {asset} {minute.isoformat()}"
            if have is None:
                yield Discrepancy("stream_minute", None, f"{name} is missing")
            elif not (
                _close(have[1], want[0])
                and _close(have[2], want[1])
                and have[3] == want[2]
                and have[4] == want[3]
            ):
                yield Discrepancy(
                    "stream_minute",
                    have[0],
                    f"{name}: stored {list(have[1:])}, the counted events give {want}",
                )
    for (snapshot_id, venue, asset, minute), have in stored.items():
        yield Discrepancy(
            "stream_minute",
            have[0],
            f"stream_minute {have[0]} ({venue} {asset} {minute.isoformat()}, snapshot "
            f"{snapshot_id}) has no counted event behind it",
        )
