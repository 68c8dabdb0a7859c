"""Intraday limits replayed over stored stream history: every minute's end an evaluation point.

What ``liqrisk limits backtest`` and ``liqrisk limits calibrate`` do with a limit set's intraday
tables. The stored ``stream_minute`` sums of the range (and of the longest window and hysteresis
before it, so the first minutes' windows are whole) are read once, grouped per venue, asset and
minute (:func:`load_stream_history`: one query of plain columns). Per scope of a limit (an asset
on one venue, or across venues for ``per = "asset"``) the minutes become one dense series
(:class:`.intraday_measures.MinuteSeries`) and the window ending at *every* minute is measured at
once from one running sum (differences of prefix sums, never a window summed again), by the same
measure functions the live evaluation uses.

:func:`replay` walks the episodes as :func:`reporting.checks.intraday.evaluate_batch` decides
them (new, escalated, repeat, resolved by the hysteresis rule), jumping from one decision to the
next with precomputed "next minute where ..." indices: its cost is the series' minutes plus the
episodes, not minutes times window. Live, a scope is evaluated when a batch of its venue arrives;
the replay evaluates every minute, the same whenever the venue streams on.

:func:`day_peaks` gives calibration its sample: each day's highest graded window value per scope
(one value a day, as the daily checks' calibration has: the values of windows sharing all but one
minute are far from independent, and a bootstrap over minutes would claim a precision they do not
have). A day counts for a scope when its venue (any venue, for ``per = "asset"``) stored minutes
that day; a day the scope itself was quiet counts as 0 (an imbalance counts only graded windows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlmodel import col

from audit_store.bulk import driver_rows, gc_paused, read_datetime
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_limits import LimitSetVersion
from audit_store.tables_streams import StreamMinute
from reporting.checks.intraday_measures import (
    DAY_MINUTES,
    MEASURES,
    MINUTE,
    MinuteSeries,
    Values,
    format_measure,
)
from reporting.checks.limits import IntradayLimits, LimitSet, Resolved, jurisdiction_code
from reporting.fetch.streams.venues import EXCHANGE_CODES

Ints = NDArray[np.int64]
JurisdictionOf = Callable[[str], str | None]


@dataclass(frozen=True)
class StreamHistory:
    """Every venue's and asset's minute sums from ``first`` to ``finish``, sparse: per (venue,
    asset) the minute indices (0 is ``first``) and their sums."""

    first: datetime  # the lead before ``begin``: index 0
    begin: datetime  # 00:00 UTC of the range's first day, the first evaluation point
    finish: datetime  # 00:00 UTC after the range's last day (exclusive)
    minutes: dict[tuple[str, str], tuple[Ints, NDArray[np.float64]]]
    venue_days: dict[str, frozenset[date]]  # the range's days each venue stored minutes of

    @property
    def length(self) -> int:
        return int((self.finish - self.first) / MINUTE)

    @property
    def begin_index(self) -> int:
        return int((self.begin - self.first) / MINUTE)

    def dense(self, pairs: list[tuple[str, str]]) -> MinuteSeries:
        """The summed series of ``pairs`` (one venue's asset, or an asset on several venues)."""
        sums = np.zeros((self.length, 4))
        for pair in pairs:
            index, values = self.minutes[pair]
            np.add.at(sums, index, values)
        return MinuteSeries(self.first, sums)


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def lead_minutes(limits: LimitSet) -> int:
    """Minutes before the range a replay reads: the longest window with its hysteresis."""
    return max(
        (t.minutes + t.hysteresis.resolve_after_minutes for t in limits.intraday.values()),
        default=0,
    )


def load_stream_history(store: Store, start: date, end: date, lead: int = 0) -> StreamHistory:
    """The minute sums of the days ``start`` .. ``end`` (UTC, included) and of ``lead`` minutes
    before, in one grouped query."""
    begin, finish = _utc_midnight(start), _utc_midnight(end + timedelta(days=1))
    first = begin - lead * MINUTE
    m = StreamMinute
    query = (
        select(
            col(m.venue),
            col(m.asset),
            col(m.minute),
            func.sum(col(m.long_usd)),
            func.sum(col(m.short_usd)),
            func.sum(col(m.long_count)),
            func.sum(col(m.short_count)),
        )
        .where(col(m.minute) >= first, col(m.minute) < finish)
        .group_by(col(m.venue), col(m.asset), col(m.minute))
    )
    with store.read_session() as session:
        rows = driver_rows(session, query)
    indices: dict[object, int] = {}  # a minute's driver value -> its index (read once each)
    by_pair: dict[tuple[str, str], tuple[list[int], list[tuple[float, float, float, float]]]] = {}
    with gc_paused():
        for venue, asset, minute, lu, su, lc, sc in rows:
            k = indices.get(minute)
            if k is None:
                k = indices[minute] = int((read_datetime(minute) - first) / MINUTE)
            index, values = by_pair.setdefault((str(venue), str(asset)), ([], []))
            index.append(k)
            values.append((float(lu or 0), float(su or 0), float(lc or 0), float(sc or 0)))
    minutes: dict[tuple[str, str], tuple[Ints, NDArray[np.float64]]] = {}
    days: dict[str, set[date]] = {}
    for pair, (index, values) in by_pair.items():
        at = np.asarray(index, dtype=np.int64)
        minutes[pair] = (at, np.asarray(values, dtype=np.float64).reshape(-1, 4))
        offsets = np.unique((at - lead) // DAY_MINUTES)  # days since ``begin``
        days.setdefault(pair[0], set()).update(
            start + timedelta(days=int(n)) for n in offsets if n >= 0
        )
    return StreamHistory(first, begin, finish, minutes, {v: frozenset(d) for v, d in days.items()})


@dataclass(frozen=True)
class ScopeSeries:
    """One scope of one intraday limit, its threshold and its minutes."""

    scope: str  # "BTC/binc" or "BTC"
    asset: str
    exchange: str | None
    resolved: Resolved
    series: MinuteSeries
    days: frozenset[date]  # the days its venue (or any venue) stored minutes


def scopes_of(
    history: StreamHistory, table: IntradayLimits, jurisdiction_of: JurisdictionOf
) -> Iterator[ScopeSeries]:
    """Every scope of ``table`` the history has minutes of and a threshold reaches."""
    groups: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
    for venue, asset in sorted(history.minutes):
        exchange = None if table.per == "asset" else EXCHANGE_CODES.get(venue, venue)
        groups.setdefault((asset, exchange), []).append((venue, asset))
    every_day = frozenset(d for days in history.venue_days.values() for d in days)
    for (asset, exchange), pairs in groups.items():
        if exchange is None:
            resolved = table.resolve(asset)
            days = every_day
        else:
            jurisdiction = jurisdiction_code(jurisdiction_of(exchange))
            resolved = table.resolve(asset, exchange, jurisdiction)
            days = history.venue_days.get(pairs[0][0], frozenset())
        if resolved is None:
            continue
        scope = f"{asset}/{exchange}" if exchange else asset
        yield ScopeSeries(scope, asset, exchange, resolved, history.dense(pairs), days)


def every_minute(table: IntradayLimits, series: MinuteSeries) -> Values:
    """The value of ``table``'s window ending at each minute of ``series``."""
    return series.values(table, np.arange(len(series), dtype=np.int64))


# --- episodes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """One episode a limit would have had on one scope. Times are window ends (exclusive), as
    an intraday result's ``window_end``: the minute evaluated, plus one."""

    opened: datetime
    opened_status: str  # warn | breach
    escalated: datetime | None  # warn reached breach
    peak: float
    peak_at: datetime
    resolved: datetime | None  # None: still open at the end of the range
    repeats: int

    @property
    def status(self) -> str:
        return "breach" if self.escalated is not None else self.opened_status


@dataclass(frozen=True)
class IntradayTally:
    """What one intraday limit on one scope would have produced over the range."""

    limit: str  # the table, "velocity_usd_15m"
    measure: str
    scope: str
    threshold_scope: str
    warn_at: float
    limit_value: float
    minutes: int  # minute ends evaluated
    episodes: tuple[Episode, ...]

    @property
    def breach_episodes(self) -> int:
        return sum(1 for e in self.episodes if e.status == "breach")

    @property
    def warn_episodes(self) -> int:
        return sum(1 for e in self.episodes if e.status == "warn")

    def figure(self, value: float) -> str:
        return format_measure(value, self.measure)


def next_true(mask: NDArray[np.bool_]) -> Ints:
    """For each index, the first index at or after it where ``mask`` holds (``len`` if none);
    one more element, ``len`` itself, so ``i + 1`` may be looked up at the end."""
    n = mask.shape[0]
    at = np.where(mask, np.arange(n, dtype=np.int64), n)
    out = np.empty(n + 1, dtype=np.int64)
    out[n] = n
    out[:n] = np.minimum.accumulate(at[::-1])[::-1]
    return out


def run_lengths(mask: NDArray[np.bool_]) -> Ints:
    """For each index, how many consecutive indices up to it ``mask`` holds."""
    counts = np.cumsum(mask, dtype=np.int64)
    reset = np.maximum.accumulate(np.where(mask, 0, counts))
    return counts - reset


def replay(
    values: Values, table: IntradayLimits, warn: float, breach: float, start: int
) -> list[tuple[int, str, int | None, int | None, int]]:
    """The episodes of ``values`` from index ``start`` on, decided as the live evaluation does:
    ``(opened, opened status, escalated, resolved, repeats)`` by index (``None``: not reached)."""
    v, graded = values.value, values.graded
    n = v.shape[0]
    held = max(table.hysteresis.resolve_after_minutes, 1)
    quiet = warn * table.hysteresis.resolve_below_pct / 100
    over_breach = graded & (v >= breach)
    next_warn = next_true(graded & (v >= warn))
    next_breach = next_true(over_breach)
    next_resolve = next_true(run_lengths(~graded | (v < quiet)) >= held)
    next_graded = next_true(graded)
    repeat = table.repeat_minutes
    found: list[tuple[int, str, int | None, int | None, int]] = []
    i = start
    while (opened := int(next_warn[min(i, n)])) < n:
        level = first_level = "breach" if over_breach[opened] else "warn"
        last, escalated, resolved, repeats = opened, None, None, 0
        while True:
            j = last + 1
            rise = int(next_breach[min(j, n)]) if level == "warn" else n
            fall = int(next_resolve[min(j, n)])
            again = int(next_graded[min(last + repeat, n)]) if repeat else n
            k = min(rise, fall, again)
            if k >= n:
                break
            if k == rise:  # as live: escalation first, then resolution, then repeat
                level, escalated, last = "breach", k, k
            elif k == fall:
                resolved = k
                break
            else:
                repeats, last = repeats + 1, k
        found.append((opened, first_level, escalated, resolved, repeats))
        if resolved is None:
            break
        i = resolved + 1
    return found


def tally(name: str, table: IntradayLimits, scope: ScopeSeries, start: int) -> IntradayTally:
    """The episodes of one limit on one scope, from index ``start`` of its series."""
    values = every_minute(table, scope.series)
    threshold = scope.resolved.threshold
    episodes = []
    graded_values = np.where(values.graded, values.value, -np.inf)
    for opened, status, escalated, resolved, repeats in replay(
        values, table, threshold.warn, threshold.breach, start
    ):
        stop = resolved if resolved is not None else len(scope.series) - 1
        peak_k = opened + int(np.argmax(graded_values[opened : stop + 1]))
        end_of = scope.series.minute
        episodes.append(
            Episode(
                opened=end_of(opened) + MINUTE,
                opened_status=status,
                escalated=end_of(escalated) + MINUTE if escalated is not None else None,
                peak=float(values.value[peak_k]),
                peak_at=end_of(peak_k) + MINUTE,
                resolved=end_of(resolved) + MINUTE if resolved is not None else None,
                repeats=repeats,
            )
        )
    return IntradayTally(
        limit=name,
        measure=table.measure,
        scope=scope.scope,
        threshold_scope=scope.resolved.source,
        warn_at=threshold.warn,
        limit_value=threshold.breach,
        minutes=len(scope.series) - start,
        episodes=tuple(episodes),
    )


def intraday_backtest(
    store: Store,
    limits: LimitSet,
    start: date,
    end: date,
    jurisdiction_of: JurisdictionOf,
    *,
    history: StreamHistory | None = None,
) -> tuple[IntradayTally, ...]:
    """Every intraday limit of ``limits`` on every scope with stream minutes, replayed minute by
    minute over the days ``start`` .. ``end``; by limit, then scope."""
    if not limits.intraday:
        return ()
    if history is None:
        history = load_stream_history(store, start, end, lead_minutes(limits))
    out = []
    for name, table in sorted(limits.intraday.items()):
        for scope in scopes_of(history, table, jurisdiction_of):
            out.append(tally(name, table, scope, history.begin_index))
    return tuple(out)


# --- calibration ----------------------------------------------------------------------------------


def day_peaks(
    history: StreamHistory, table: IntradayLimits, jurisdiction_of: JurisdictionOf
) -> dict[tuple[str, str, str | None], list[float]]:
    """Per (scope, asset, exchange), each counted day's highest graded window value, by day
    (the windows ending in that day); see the module for which days count."""
    out: dict[tuple[str, str, str | None], list[float]] = {}
    begin = history.begin_index
    for scope in scopes_of(history, table, jurisdiction_of):
        values = every_minute(table, scope.series)
        value = np.where(values.graded, values.value, -np.inf)[begin:]
        days = value.shape[0] // DAY_MINUTES
        peaks = value[: days * DAY_MINUTES].reshape(days, DAY_MINUTES).max(axis=1)
        start = history.begin.date()
        xs = [
            float(peaks[d])
            for d in range(days)
            if start + timedelta(days=d) in scope.days and np.isfinite(peaks[d])
        ]
        if xs:
            out[(scope.scope, scope.asset, scope.exchange)] = xs
    return out


def measure_unit(measure: str) -> str:
    """The catalogue unit of a measure's values (``usd``, ``count``, ``pct``)."""
    return MEASURES[measure].unit


# --- the limit sets intraday results were evaluated under -----------------------------------------


@dataclass(frozen=True)
class IntradayLimitVersion:
    """A limit set the intraday evaluation stored results under: its first and last result and
    how many (the collector may run under a limit set no daily check run has used)."""

    sha256: str
    first_at: datetime
    last_at: datetime
    results: int
    loaded_from: str | None
    content: Mapping[str, Any] | None  # the limit set, when the store holds it


def intraday_limit_versions(store: Store) -> list[IntradayLimitVersion]:
    """Each limit set of the stored intraday results (errors aside), by its first result."""
    r = IntradayResult
    query = (
        select(
            col(r.limit_set_sha256),
            func.min(col(r.created_at)),
            func.max(col(r.created_at)),
            func.count(),
            func.min(col(r.id)),
        )
        .where(col(r.kind) != "error")
        .group_by(col(r.limit_set_sha256))
    )
    with store.read_session() as session:
        rows = sorted(session.execute(query).all(), key=lambda row: row[4])
        shas = [str(row[0]) for row in rows]
        kept = {
            v.sha256: (v.loaded_from, v.canonical_json)
            for v in session.execute(
                select(LimitSetVersion).where(col(LimitSetVersion.sha256).in_(shas))
            ).scalars()
        }
    out = []
    for sha, first_at, last_at, count, _ in rows:
        loaded_from, canonical = kept.get(sha, (None, None))
        out.append(
            IntradayLimitVersion(
                str(sha),
                as_utc(first_at),
                as_utc(last_at),
                int(count),
                loaded_from,
                json.loads(canonical) if canonical is not None else None,
            )
        )
    return out
