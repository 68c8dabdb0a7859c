"""The console's Live page as plain data: the live streams' liquidations of the last hour as a
heatmap of asset x exchange with each asset minute by minute, and each stream's connection state,
so an officer sees where liquidations are now and whether a collector is down. HTML and ``/api/``
JSON alike (:mod:`reporting.web.app`); the page polls the JSON.

Read from ``stream_minute`` (per batch, venue, asset and minute: the counted events' sums), the
window's minutes only, summed across batches in SQL (a minute may be in several batches). Its one
index leads with venue and asset, not the minute, so the venues and assets on record are found
first by skipping through that index (one seek a value, never a scan of the year), then every
(venue, asset) is read over the window's minute range alone. Batches quarantined are left out, as
the report leaves them out. Stream figures are lower bounds: Binance sends at most the latest
liquidation per symbol per second, and a minute no stream covered is missing, not zero.

Beside the heatmap, the latest intraday alerts and the episodes still open
(:func:`.alert_views.live_alerts`), each linking to its alert page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.tables_streams import StreamMinute, StreamSession
from reporting.config import Settings
from reporting.fetch.streams.lease import latest_lease
from reporting.fetch.streams.venues import EXCHANGE_CODES, stream_specs
from reporting.render.formatting import count, usd, usd_compact, utc_time
from reporting.render.streams import NOTES
from reporting.web.alert_views import live_alerts

HEAT_STEPS = (0.01, 0.05, 0.2, 0.5)
"""A cell's share of the window's largest cell from which it takes the next shade: ``heat-1``
(anything above zero) to ``heat-5`` (half the largest or more); ``heat-0`` is nothing. Roughly
logarithmic, as liquidations are: one venue's storm would otherwise leave every other cell
blank."""

SPARK_WIDTH, SPARK_HEIGHT = 180, 20
"""The size of an asset's minute-by-minute bars, in the SVG's units (the tallest bar: its
busiest minute)."""

SESSION_ROWS = 50
"""How many of a stream's latest connection records tell its state (a rollover overlaps two
connections; a reconnecting stream writes a few records a minute)."""

_OPEN = {"connect": "connected", "subscribed": "subscribed", "refused": "refused"}
_CLOSING = frozenset({"disconnect", "gap", "connect_failed"})
_TONES = {
    "subscribed": "ok",
    "connected": "warn",
    "refused": "breach",
    "stale": "breach",
    "disconnected": "breach",
    "never connected": "error",
}


def live(store: Store, settings: Settings, now: datetime, minutes: int = 60) -> dict[str, Any]:
    """The last ``minutes`` minutes up to ``now``: the minute ``now`` is in and the ones before."""
    moment = as_utc(now)
    end = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    configured = stream_specs(settings)
    with store.read_session() as session:
        sums = _window(session, start, end)
        newest = _latest_batch_minute(session)
        streams = _streams(session, {s.stream: s.venue for s in configured}, moment)
        alerts = live_alerts(session)
    exchanges = sorted(
        {EXCHANGE_CODES.get(s.venue, s.venue) for s in configured}
        | {EXCHANGE_CODES.get(venue, venue) for venue, _asset, _minute in sums}
    )
    rows, totals = _heatmap(sums, exchanges, start, minutes)
    newest = max([newest, *(minute for _v, _a, minute in sums)], default=None, key=_orderable)
    return {
        "window": {"minutes": minutes, "start": start.isoformat(), "end": moment.isoformat()},
        "generated_at": moment.isoformat(),
        "exchanges": exchanges,
        "rows": rows,
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
        "totals": totals,
        "newest_minute": newest.isoformat() if newest else None,
        "streams": streams,
        **alerts,
    }


def _orderable(moment: datetime | None) -> datetime:
    return moment or datetime.min.replace(tzinfo=UTC)


# -- the heatmap


Sums = dict[tuple[str, str, datetime], tuple[float, float, int, int]]
"""(venue, asset, minute) -> (long USD, short USD, long count, short count), all batches."""


def _distinct(session: Session, column: Any, *where: ColumnElement[bool]) -> list[str]:
    """The values of ``column`` in ``stream_minute`` where ``where`` holds, ascending, found by
    skipping through the index (``column`` and the columns fixed by ``where`` lead it): each value
    the least one above the one before, a seek each (the loose index scan SQLite and PostgreSQL
    both run as a recursive query)."""
    seen = select(func.min(column).label("value")).where(*where).cte("seen", recursive=True)
    following = select(func.min(column)).where(*where, column > seen.c.value).scalar_subquery()
    seen = seen.union_all(select(following).where(seen.c.value.is_not(None)))
    query = select(seen.c.value).where(seen.c.value.is_not(None))
    return [str(value) for (value,) in session.execute(query)]


def _window(session: Session, start: datetime, end: datetime) -> Sums:
    venue, asset = col(StreamMinute.venue), col(StreamMinute.asset)
    venues = _distinct(session, venue)
    assets = sorted({a for v in venues for a in _distinct(session, asset, venue == v)})
    if not assets:
        return {}
    query = (
        select(
            col(StreamMinute.venue),
            col(StreamMinute.asset),
            col(StreamMinute.minute),
            func.sum(col(StreamMinute.long_usd)),
            func.sum(col(StreamMinute.short_usd)),
            func.sum(col(StreamMinute.long_count)),
            func.sum(col(StreamMinute.short_count)),
        )
        .join(Snapshot, col(Snapshot.id) == col(StreamMinute.snapshot_id))
        .where(
            col(StreamMinute.venue).in_(venues),
            col(StreamMinute.asset).in_(assets),
            col(StreamMinute.minute) >= start,
            col(StreamMinute.minute) < end,
            col(Snapshot.quarantined).is_(False),
        )
        .group_by(col(StreamMinute.venue), col(StreamMinute.asset), col(StreamMinute.minute))
    )
    return {
        (str(r[0]), str(r[1]), as_utc(r[2])): (float(r[3]), float(r[4]), int(r[5]), int(r[6]))
        for r in session.execute(query)
    }


def _latest_batch_minute(session: Session) -> datetime | None:
    """The newest minute of the latest batch holding any: the newest events stored, also when
    the window holds none (through the ``snapshot_id`` index, not a scan)."""
    latest = select(func.max(col(StreamMinute.snapshot_id))).scalar_subquery()
    found = session.execute(
        select(func.max(col(StreamMinute.minute))).where(col(StreamMinute.snapshot_id) == latest)
    ).scalar()
    return None if found is None else as_utc(found)


def heat(value: float, peak: float) -> int:
    """The shade of a cell of ``value`` in a window whose largest cell is ``peak``: 0 to 5."""
    if value <= 0 or peak <= 0:
        return 0
    return 1 + sum(value / peak >= step for step in HEAT_STEPS)


def _cell(exchange: str, asset: str, sums: list[float], peak: float) -> dict[str, Any]:
    long_usd, short_usd, longs, shorts = sums
    total = long_usd + short_usd
    return {
        "exchange": exchange,
        "usd": total,
        "long_usd": long_usd,
        "short_usd": short_usd,
        "long_count": int(longs),
        "short_count": int(shorts),
        "heat": heat(total, peak),
        "text": usd_compact(total) if total > 0 else "–",
        "title": (
            f"{asset} on {exchange}: long {usd(long_usd)} ({count(longs)}), "
            f"short {usd(short_usd)} ({count(shorts)})"
        ),
    }


def _heatmap(
    sums: Sums, exchanges: list[str], start: datetime, minutes: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per asset (the largest total first): a cell per exchange and the per-minute totals; and
    the totals per exchange."""
    cells: dict[tuple[str, str], list[float]] = {}
    series: dict[str, list[float]] = {}
    for (venue, asset, minute), (long_usd, short_usd, longs, shorts) in sums.items():
        cell = cells.setdefault((asset, EXCHANGE_CODES.get(venue, venue)), [0.0, 0.0, 0, 0])
        cell[0] += long_usd
        cell[1] += short_usd
        cell[2] += longs
        cell[3] += shorts
        slot = int((minute - start).total_seconds() // 60)
        series.setdefault(asset, [0.0] * minutes)[slot] += long_usd + short_usd
    peak = max((c[0] + c[1] for c in cells.values()), default=0.0)
    empty = [0.0, 0.0, 0, 0]
    rows = []
    for asset, by_minute in series.items():
        mine = [_cell(x, asset, cells.get((asset, x), empty), peak) for x in exchanges]
        rows.append(_row(asset, mine, by_minute))
    rows.sort(key=lambda r: (-r["total_usd"], r["asset"]))
    by_exchange = [_sum_cells(x, [r["cells"][i] for r in rows]) for i, x in enumerate(exchanges)]
    total = sum(c["usd"] for c in by_exchange)
    totals = {"cells": by_exchange, "total_usd": total, "total_text": usd_compact(total)}
    return rows, totals


def _row(asset: str, cells: list[dict[str, Any]], by_minute: list[float]) -> dict[str, Any]:
    total = sum(c["usd"] for c in cells)
    busiest = max(by_minute)
    return {
        "asset": asset,
        "cells": cells,
        "total_usd": total,
        "total_text": usd_compact(total),
        "long_usd": sum(c["long_usd"] for c in cells),
        "short_usd": sum(c["short_usd"] for c in cells),
        "minutes": by_minute,
        "spark": [_bar(v, busiest) for v in by_minute],
        "spark_title": f"{asset}, minute by minute: busiest {usd(busiest)}",
    }


def _bar(value: float, busiest: float) -> int:
    if value <= 0 or busiest <= 0:
        return 0
    return max(1, round(SPARK_HEIGHT * value / busiest))


def _sum_cells(exchange: str, cells: Iterable[dict[str, Any]]) -> dict[str, Any]:
    given = list(cells)
    total = sum(c["usd"] for c in given)
    return {
        "exchange": exchange,
        "usd": total,
        "long_count": sum(c["long_count"] for c in given),
        "short_count": sum(c["short_count"] for c in given),
        "text": usd_compact(total) if total > 0 else "–",
    }


# -- the streams' connections


def _streams(session: Session, configured: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """Each stream configured or on record, with its state from its latest connection records and
    its lease (a collector killed leaves its connection open on record, and its lease lapses)."""
    on_record = session.execute(select(col(StreamSession.stream)).distinct()).scalars()
    names = sorted(set(configured) | {str(n) for n in on_record})
    return [_stream(session, name, configured.get(name), now) for name in names]


def _stream(session: Session, stream: str, venue: str | None, now: datetime) -> dict[str, Any]:
    s = StreamSession
    records = session.execute(
        select(col(s.venue), col(s.connection), col(s.event), col(s.at), col(s.detail))
        .where(col(s.stream) == stream)
        .order_by(col(s.at).desc(), col(s.id).desc())
        .limit(SESSION_ROWS)
    ).all()
    venue = venue or (str(records[0][0]) if records else stream.split(".")[0])
    state, since, detail = _state(list(reversed(records)))
    collector = _lease(session, stream, now)
    if state in ("subscribed", "connected") and collector is not None and not collector["held"]:
        state, since = "stale", collector["until"]
        detail = "no collector holds the stream: it stopped without recording a disconnect"
    return {
        "stream": stream,
        "venue": venue,
        "exchange": EXCHANGE_CODES.get(venue, venue),
        "state": state,
        "tone": _TONES[state],
        "since": since,
        "detail": detail,
        "feed": NOTES.get(venue, ""),
        "collector": collector,
        "collector_text": _collector_text(collector),
    }


def _state(records: list[Any]) -> tuple[str, str | None, str]:
    """(state, since when, detail) from a stream's records, oldest first: the best state of its
    open connections (subscribed, else connected, else refused), else how the last one ended."""
    if not records:
        return "never connected", None, ""
    open_: dict[str, dict[str, datetime]] = {}
    for _venue, connection, event, at, _detail in records:
        if event in _OPEN:
            open_.setdefault(connection, {}).setdefault(_OPEN[event], as_utc(at))
        elif event in _CLOSING:
            open_.pop(connection, None)
    states = [_connection_state(seen) for seen in open_.values()]
    for wanted in ("subscribed", "connected", "refused"):
        times = [at for state, at in states if state == wanted]
        if times:
            return wanted, max(times).isoformat(), ""
    _venue, _connection, event, at, detail = records[-1]
    return "disconnected", as_utc(at).isoformat(), f"{event}: {detail}" if detail else str(event)


def _connection_state(seen: dict[str, datetime]) -> tuple[str, datetime]:
    """An open connection: subscribed (to any topic), else refused (every subscription it asked
    for so far), else only connected; with when it came to that."""
    for state in ("subscribed", "refused"):
        if state in seen:
            return state, seen[state]
    return "connected", seen["connected"]


def _collector_text(collector: dict[str, Any] | None) -> str:
    if collector is None:
        return "no lease on record"
    until = utc_time(datetime.fromisoformat(collector["until"]))
    if collector["held"]:
        return f"{collector['holder']}, its lease until {until}"
    return f"none: the last lease ended {until}"


def _lease(session: Session, stream: str, now: datetime) -> dict[str, Any] | None:
    """Who holds the stream's lease (the latest row); None when no collector ever took one."""
    latest = latest_lease(session, stream)
    if latest is None:
        return None
    holder, event, until = latest
    held = event != "release" and until > now
    return {"holder": holder, "held": held, "until": until.isoformat()}
