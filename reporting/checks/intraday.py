"""Intraday limits evaluated on every committed stream batch, in the batch's own transaction.

For each intraday limit of the limit set (``[velocity_usd_15m]``, ``[velocity_count_5m]``,
:class:`.limits.IntradayLimits`) and each scope the batch touched (an asset the batch has counted
events of, on the batch's exchange, or across exchanges for ``per = "asset"``), the value is the
trailing window's sum over ``stream_minute`` (counted events only, summed across batches) ending at
the batch's newest minute: minutes ``end - window + 1 .. end``. Scopes with an open episode on the
batch's exchange are evaluated too, so an episode resolves when its asset falls quiet while the
venue streams on.

Incremental: one grouped query per limit and scope reads only the minutes of the window (plus the
hysteresis minutes), through ``ix_stream_minute_key`` (venue, asset, minute) or, across venues,
``ix_stream_minute_asset`` (asset, minute). Its cost is the window's minute rows of one scope,
never the day's events. Minute sums were chosen over running sums kept in memory: they are already
stored (verify recomputes them), a restart or a second writer needs no warm-up, and a late event
lands in its own minute and is counted by the next evaluation.

Each decision (:func:`evaluate_batch`) follows the episode of its limit and scope, read from the
latest ``intraday_result`` row (:mod:`audit_store.tables_intraday`):

* no open episode, value at or over ``warn`` (or ``breach``): a ``new`` row;
* open at ``warn``, value at or over ``breach``: ``escalated``;
* open, and the window stayed under ``resolve_below_pct`` of ``warn`` for each of the last
  ``resolve_after_minutes`` minutes' windows: ``resolved`` (status ``ok``);
* open, and ``repeat_minutes`` since its last row: ``repeat``;
* anything else, staying over or hovering between the hysteresis level and the limit: no row.

A status is ``breach`` at or above ``breach``, ``warn`` at or above ``warn``, as for daily checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.models import Snapshot
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_streams import StreamEvent, StreamMinute
from reporting.checks.engine import grade_value
from reporting.checks.limits import IntradayLimits, LimitSet, Threshold, jurisdiction_code
from reporting.checks.store import limit_set_canonical, record_limit_set
from reporting.fetch.streams.venues import EXCHANGE_CODES
from reporting.fetch.streams.writer import CommittedBatch, minute_of

MINUTE = timedelta(minutes=1)
OPEN_KINDS = ("new", "escalated", "repeat")
TOP = 3


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


def _filtered(query: _Q, scope: Scope) -> _Q:
    query = query.where(col(StreamMinute.asset) == scope.asset)
    if scope.venue is not None:
        query = query.where(col(StreamMinute.venue) == scope.venue)
    return query


def minute_values(
    session: Session, scope: Scope, measure: str, first: datetime, last: datetime
) -> dict[datetime, float]:
    """The scope's summed USD (or count) per minute, from ``first`` to ``last`` inclusive."""
    m = StreamMinute
    value = (
        func.sum(col(m.long_usd) + col(m.short_usd))
        if measure == "usd"
        else func.sum(col(m.long_count) + col(m.short_count))
    )
    query = _filtered(select(col(m.minute), value), scope).where(
        col(m.minute) >= first, col(m.minute) <= last
    )
    rows = session.execute(query.group_by(col(m.minute)))
    return {as_utc(minute): float(total or 0) for minute, total in rows}


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
    """The venues and instruments with the most USD in [start, end) (counted events)."""
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


def latest_row(session: Session, limit_name: str, scope: str) -> IntradayResult | None:
    query = (
        select(IntradayResult)
        .where(col(IntradayResult.limit_name) == limit_name, col(IntradayResult.scope) == scope)
        .order_by(col(IntradayResult.id).desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def open_scopes(session: Session, limit_name: str) -> set[str]:
    """The scopes of ``limit_name`` whose latest row leaves an episode open."""
    r = IntradayResult
    latest = (
        select(func.max(col(r.id)))
        .where(col(r.limit_name) == limit_name, col(r.kind) != "error")
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
    window = table.minutes
    held = max(table.hysteresis.resolve_after_minutes, 1)  # windows that must all be under
    first = end - (window + held - 2) * MINUTE
    measure = name.split("_")[1]  # velocity_<measure>_<window>
    values = minute_values(session, scope, measure, first, end)

    def trailing(at: datetime) -> float:
        return sum(v for m, v in values.items() if at - window * MINUTE < m <= at)

    observed = trailing(end)
    status: str = grade_value(observed, threshold)
    latest = latest_row(session, name, scope.name)
    is_open = latest is not None and latest.kind in OPEN_KINDS
    kind: str | None = None
    level = threshold.breach if status == "breach" else threshold.warn
    if not is_open:
        kind = "new" if status != "ok" else None
    else:
        assert latest is not None
        last_end = as_utc(latest.window_end) - MINUTE
        quiet = threshold.warn * table.hysteresis.resolve_below_pct / 100
        if end < last_end:
            return None  # a late batch: the episode has been judged on newer minutes
        if latest.status == "warn" and status == "breach":
            kind = "escalated"
        elif all(trailing(end - n * MINUTE) < quiet for n in range(held)):
            kind, status, level = "resolved", "ok", quiet
        elif table.repeat_minutes and end - last_end >= table.repeat_minutes * MINUTE:
            kind, status = "repeat", latest.status
    if kind is None:
        return None
    start = end - (window - 1) * MINUTE
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
        measure=measure,
        window_minutes=window,
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
        result.detail = f"under {level:,.0f} (hysteresis) for {held} minute(s)"
    else:
        result.detail = "; ".join(f"{v} {i}: {u:.0f} USD in {n}" for v, i, u, n in top)
    episode_status = latest.status if kind == "resolved" and latest is not None else status
    return Decision(result, top, level, episode_status)
