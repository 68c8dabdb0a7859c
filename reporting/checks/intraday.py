"""Intraday limits evaluated on every committed stream batch, in the batch's own transaction.

For each intraday limit of the limit set (``[velocity_usd_15m]``, ``[velocity_count_5m]``,
``[exposure_usd_day]``, ``[imbalance_60m]``, :class:`.limits.IntradayLimits`) and each scope the
batch touched (an asset the batch has counted events of, on the batch's exchange, or across
exchanges for ``per = "asset"``), the value is that of the window ending at the batch's newest
minute, over ``stream_minute`` (counted events only, summed across batches): the trailing minutes
``end - window + 1 .. end``, or for exposure the minutes since 00:00 UTC. What each measure's
window and value are is :mod:`.intraday_measures`'. Scopes with an open episode on the batch's
exchange are evaluated too, so an episode resolves when its asset falls quiet while the venue
streams on.

Incremental: one grouped query per limit and scope reads only the minutes of the window (plus the
hysteresis minutes while an episode is open), through ``ix_stream_minute_key`` (venue, asset,
minute) or, across venues, ``ix_stream_minute_asset`` (asset, minute). Its cost is the window's
minute rows of one scope, never the day's events. For exposure the minutes before the hysteresis
minutes are one sum (the day so far; in the first hysteresis minutes after midnight with an
episode open, the day before's as well, for the windows that ended before midnight). Minute sums
were chosen over running sums kept in memory: they are already stored (verify recomputes them), a
restart or a second writer needs no warm-up, and a late event lands in its own minute and is
counted by the next evaluation.

Each decision (:func:`evaluate_batch`) follows the episode of its limit and scope, read from the
latest ``intraday_result`` row (:mod:`audit_store.tables_intraday`):

* no open episode, value at or over ``warn`` (or ``breach``): a ``new`` row;
* open at ``warn``, value at or over ``breach``: ``escalated``;
* open, and the window stayed under ``resolve_below_pct`` of ``warn`` for each of the last
  ``resolve_after_minutes`` minutes' windows: ``resolved`` (status ``ok``); an imbalance window
  under its ``min_usd`` (not enough volume) counts as under, and the resolved row says so;
* open, ``repeat_minutes`` since its last row, and the value still at the episode's level
  (``warn`` or ``breach``; graded): ``repeat``;
* anything else, staying over or hovering between the hysteresis level and the limit: no row.

An imbalance window under ``min_usd`` is never graded: it opens nothing. An exposure episode
opened yesterday resolves by the same rule once today's value (from midnight) is under.

A status is ``breach`` at or above ``breach``, ``warn`` at or above ``warn``, as for daily checks.
The instruments behind a crossing (``top``) are read from the events of the window, or of its last
:data:`TOP_MINUTES` for a longer window (exposure, a 4-hour velocity): a crossing's message costs
an hour of events at most, and the ``detail`` says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.models import Snapshot
from audit_store.tables_intraday import STREAMS_FEED, IntradayResult
from audit_store.tables_streams import StreamEvent, StreamMinute
from reporting.checks.engine import grade_value
from reporting.checks.intraday_measures import (
    MINUTE,
    MinuteSeries,
    Sums,
    Values,
    WindowSums,
    format_measure,
    spec_of,
    window_first,
    window_length,
    window_note,
)
from reporting.checks.limits import IntradayLimits, LimitSet, Threshold, jurisdiction_code
from reporting.checks.store import limit_set_canonical, record_limit_set
from reporting.fetch.streams.venues import EXCHANGE_CODES
from reporting.fetch.streams.writer import CommittedBatch, minute_of

OPEN_KINDS = ("new", "escalated", "repeat")
TOP = 3
TOP_MINUTES = 60


@dataclass(frozen=True)
class Scope:
    """One scope of one intraday limit: an asset on one venue, or (``venue`` None) on all."""

    asset: str
    venue: str | None
    exchange: str | None  # the exchange table's code of ``venue``

    @property
    def name(self) -> str:
        return f"{self.asset}/{self.exchange}" if self.exchange else self.asset


@dataclass(frozen=True)
class Decision:
    """A row stored by an evaluation, and what its message needs beside it."""

    result: IntradayResult
    top: tuple[tuple[str, str, float, int], ...]  # (venue, instrument, usd, count), largest first
    level: float  # the level crossed (``breach`` or ``warn``; for resolved, the hysteresis level)
    episode_status: str  # the episode's level: ``warn`` or ``breach`` (for resolved, as it was)


_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")


def scope_label(result: IntradayResult) -> str:
    """A result's scope, with the feed it was measured on unless it is the streams':
    ``BTC/binc``, ``BTC (kaiko hourly)``."""
    if result.feed == STREAMS_FEED:
        return result.scope
    return f"{result.scope} ({result.feed} hourly)"


def _filtered(query: _Q, scope: Scope) -> _Q:
    query = query.where(col(StreamMinute.asset) == scope.asset)
    if scope.venue is not None:
        query = query.where(col(StreamMinute.venue) == scope.venue)
    return query


def _sums_query(scope: Scope) -> Select[float, float, int, int]:
    m = StreamMinute
    query = select(
        func.sum(col(m.long_usd)),
        func.sum(col(m.short_usd)),
        func.sum(col(m.long_count)),
        func.sum(col(m.short_count)),
    )
    return _filtered(query, scope)


def minute_sums(
    session: Session, scope: Scope, first: datetime, last: datetime
) -> dict[datetime, Sums]:
    """The scope's long and short USD and counts per minute, from ``first`` to ``last``
    inclusive (minutes without counted events are absent)."""
    m = StreamMinute
    query = (
        _sums_query(scope)
        .add_columns(col(m.minute))
        .where(col(m.minute) >= first, col(m.minute) <= last)
    )
    rows = session.execute(query.group_by(col(m.minute)))
    return {
        as_utc(minute): (float(lu or 0), float(su or 0), float(lc or 0), float(sc or 0))
        for lu, su, lc, sc, minute in rows
    }


def range_sums(session: Session, scope: Scope, first: datetime, last: datetime) -> Sums:
    """The scope's sums over the minutes ``first .. last`` inclusive, as one row."""
    m = StreamMinute
    query = _sums_query(scope).where(col(m.minute) >= first, col(m.minute) <= last)
    row = session.execute(query).one()
    return (float(row[0] or 0), float(row[1] or 0), float(row[2] or 0), float(row[3] or 0))


def window_values(
    session: Session, scope: Scope, table: IntradayLimits, end: datetime, count: int
) -> tuple[Values, WindowSums]:
    """The values (and sums) of ``table``'s windows ending at ``end``, ``end - 1 minute``, ...:
    ``count`` of them, index 0 the window ending at ``end``.

    Trailing windows read the minutes of the oldest window's start to ``end``. A window from
    midnight reads the minutes of the ``count`` window ends, and what lies before them as one sum
    per day (:func:`range_sums`)."""
    points = [end - k * MINUTE for k in range(count)]
    firsts = [window_first(table, p) for p in points]
    lo = points[-1] if spec_of(table).since_midnight else min(firsts)
    series = MinuteSeries.of(minute_sums(session, scope, lo, end), lo, end)
    sums = series.windows(table, [series.index(p) for p in points])
    before = {f: range_sums(session, scope, f, lo - MINUTE) for f in set(firsts) if f < lo}
    if before:
        add = np.array([before.get(f, (0.0, 0.0, 0.0, 0.0)) for f in firsts])
        table_sums = np.column_stack(
            [sums.long_usd, sums.short_usd, sums.long_count, sums.short_count]
        )
        sums = WindowSums.of(table_sums + add)
    return spec_of(table).value(sums, table), sums


def window_leaves(session: Session, scope: Scope, first: datetime, last: datetime) -> list[int]:
    """Leaf indices of the batches whose minute sums make the scope's window."""
    query = _filtered(
        select(col(Snapshot.leaf_index))
        .distinct()
        .join(StreamMinute, col(StreamMinute.snapshot_id) == col(Snapshot.id)),
        scope,
    ).where(col(StreamMinute.minute) >= first, col(StreamMinute.minute) <= last)
    return sorted(int(leaf) for leaf in session.execute(query).scalars())


def top_instruments(
    session: Session, scope: Scope, start: datetime, end: datetime
) -> tuple[tuple[str, str, float, int], ...]:
    """The venues and instruments with the most USD in [start, end) (counted events), of its last
    :data:`TOP_MINUTES` minutes for a longer window."""
    start = max(start, end - TOP_MINUTES * MINUTE)
    e = StreamEvent
    query = select(col(e.venue), col(e.instrument), func.sum(col(e.usd)), func.count()).where(
        col(e.asset) == scope.asset,
        col(e.counted).is_(True),
        col(e.exchange_time) >= start,
        col(e.exchange_time) < end,
    )
    if scope.venue is not None:
        query = query.where(col(e.venue) == scope.venue)
    query = query.group_by(col(e.venue), col(e.instrument)).order_by(func.sum(col(e.usd)).desc())
    return tuple(
        (str(v), str(i), float(u or 0), int(n)) for v, i, u, n in session.execute(query.limit(TOP))
    )


def latest_row(
    session: Session, limit_name: str, scope: str, feed: str = STREAMS_FEED
) -> IntradayResult | None:
    """The newest row of ``limit_name`` and ``scope`` measured on ``feed``'s figures."""
    r = IntradayResult
    query = (
        select(r)
        .where(col(r.limit_name) == limit_name, col(r.scope) == scope, col(r.feed) == feed)
        .order_by(col(IntradayResult.id).desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def open_scopes(session: Session, limit_name: str, feed: str = STREAMS_FEED) -> set[str]:
    """The scopes of ``limit_name`` whose latest row on ``feed`` leaves an episode open."""
    r = IntradayResult
    latest = (
        select(func.max(col(r.id)))
        .where(col(r.limit_name) == limit_name, col(r.kind) != "error", col(r.feed) == feed)
        .group_by(col(r.scope))
    )
    query = select(col(r.scope)).where(col(r.id).in_(latest), col(r.kind).in_(OPEN_KINDS))
    return set(session.execute(query).scalars())


def _scopes(
    session: Session, name: str, table: IntradayLimits, batch: CommittedBatch, exchange: str
) -> list[Scope]:
    by_asset = table.per == "asset"
    found = {
        Scope(a, None, None) if by_asset else Scope(a, batch.venue, exchange) for a in batch.minutes
    }
    for scope in open_scopes(session, name):
        asset, sep, code = scope.partition("/")
        if by_asset and not sep:
            found.add(Scope(asset, None, None))
        elif not by_asset and code == exchange:
            found.add(Scope(asset, batch.venue, exchange))
    return sorted(found, key=lambda s: s.name)


def evaluate_batch(
    session: Session,
    limits: LimitSet,
    jurisdictions: Mapping[str, str],
    batch: CommittedBatch,
    *,
    limit_set_sha256: str,
    now: datetime,
) -> list[Decision]:
    """Evaluate every intraday limit on the scopes ``batch`` touched; add the rows it decides
    (flushed, in the caller's transaction) and return them. ``jurisdictions`` maps exchange codes
    to their jurisdiction (``exchanges.toml``)."""
    if not limits.intraday:
        return []
    newest = [m for minutes in batch.minutes.values() for m in minutes]
    end = max(newest) if newest else minute_of(batch.last_received)
    exchange = EXCHANGE_CODES.get(batch.venue, batch.venue)
    jurisdiction = jurisdiction_code(jurisdictions.get(exchange))
    decisions: list[Decision] = []
    for name, table in sorted(limits.intraday.items()):
        for scope in _scopes(session, name, table, batch, exchange):
            if table.per == "asset":
                resolved = table.resolve(scope.asset)
            else:
                resolved = table.resolve(scope.asset, exchange, jurisdiction)
            if resolved is None:
                continue
            decision = _decide(session, name, table, scope, resolved.threshold, end, batch, now)
            if decision is not None:
                result = decision.result
                result.source = resolved.source
                result.limit_set_sha256 = limit_set_sha256
                session.add(result)
                decisions.append(decision)
    if decisions:
        canonical = limit_set_canonical(limits)
        record_limit_set(session, limits, limit_set_sha256, canonical, now)
    session.flush()
    return decisions


def _decide(
    session: Session,
    name: str,
    table: IntradayLimits,
    scope: Scope,
    threshold: Threshold,
    end: datetime,
    batch: CommittedBatch,
    now: datetime,
) -> Decision | None:
    latest = latest_row(session, name, scope.name)
    is_open = latest is not None and latest.kind in OPEN_KINDS
    last_end = as_utc(latest.window_end) - MINUTE if latest is not None else end
    if is_open and end < last_end:
        return None  # a late batch: the episode has been judged on newer minutes
    held = max(table.hysteresis.resolve_after_minutes, 1)  # windows that must all be under
    values, sums = window_values(session, scope, table, end, held if is_open else 1)
    kind, status, level = judge(latest, values, threshold, table, end - last_end)
    if kind is None:
        return None
    observed = float(values.value[0])
    start = window_first(table, end)
    stop = end + MINUTE
    episode = (
        f"{name}|{scope.name}|{stop.isoformat()}"
        if kind == "new"
        else (latest.episode if latest is not None else "")
    )
    leaves = window_leaves(session, scope, start, end)
    if batch.leaf_index not in leaves:
        leaves.append(batch.leaf_index)
    result = IntradayResult(
        snapshot_id=batch.snapshot_id,
        limit_name=name,
        measure=table.measure,
        window_minutes=window_length(table, end),
        scope=scope.name,
        source="",
        kind=kind,
        status=status,
        episode=episode,
        observed=observed,
        warn_at=threshold.warn,
        limit=threshold.breach,
        window_start=start,
        window_end=stop,
        limit_set_sha256="",
        leaves_json=json.dumps(sorted(leaves)),
        detail="",
        created_at=now,
    )
    top = top_instruments(session, scope, start, stop) if kind != "resolved" else ()
    if kind == "resolved":
        result.detail = _resolved_detail(table, level, held, values)
    else:
        result.detail = _detail(table, sums.at(0), top, stop - start)
    episode_status = latest.status if kind == "resolved" and latest is not None else status
    return Decision(result, top, level, episode_status)


def judge(
    latest: IntradayResult | None,
    values: Values,
    threshold: Threshold,
    table: IntradayLimits,
    since_last: timedelta,
) -> tuple[str | None, str, float]:
    """The kind of row to store (``None``: none), its status and the level it crossed, for the
    window values ``values`` (index 0 the newest window; while an episode is open, one per window
    the hysteresis must find under), given the scope's ``latest`` row and the time from that row's
    window end to the newest window's (``since_last``)."""
    observed, graded = float(values.value[0]), bool(values.graded[0])
    status: str = grade_value(observed, threshold) if graded else "ok"
    level = threshold.breach if status == "breach" else threshold.warn
    if latest is None or latest.kind not in OPEN_KINDS:
        return ("new" if status != "ok" else None), status, level
    quiet = threshold.warn * table.hysteresis.resolve_below_pct / 100
    if latest.status == "warn" and status == "breach":
        return "escalated", status, level
    if bool(np.all(~values.graded | (values.value < quiet))):
        return "resolved", "ok", quiet
    if (
        graded
        and status == latest.status
        and table.repeat_minutes
        and since_last >= table.repeat_minutes * MINUTE
    ):
        return "repeat", status, level  # still at the episode's level (under it: no row)
    return None, status, level


def _detail(
    table: IntradayLimits,
    sums: Sums,
    top: tuple[tuple[str, str, float, int], ...],
    span: timedelta,
) -> str:
    """The window's own note (an imbalance's side) and the instruments behind it."""
    behind = "; ".join(
        f"{v} {i}: {u:.0f} USD in {n} event{'s' if n != 1 else ''}" for v, i, u, n in top
    )
    if behind and span > TOP_MINUTES * MINUTE:
        behind = f"top in the last {TOP_MINUTES} min: {behind}"
    return "; ".join(part for part in (window_note(table, sums), behind) if part)


def _resolved_detail(table: IntradayLimits, level: float, held: int, values: Values) -> str:
    text = f"under {format_measure(level, table.measure)} (hysteresis) for {held} minute(s)"
    thin = int(np.count_nonzero(~values.graded))
    if thin:
        floor = getattr(table, "min_usd", 0.0)
        text += (
            f"; {thin} of those windows had not enough volume (under min_usd "
            f"{format_measure(floor, 'usd')}), counted as under"
        )
    return text
