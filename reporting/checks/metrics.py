"""Day metrics from the store: the current value of every interval, summed per asset and exchange.

The current value of (source, asset, exchange, interval) is the one from the latest snapshot that
holds it: re-fetching a range adds snapshots but never double-counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, partial

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.bulk import driver_rows, gc_paused, read_datetime
from audit_store.db import Store
from audit_store.models import ALL_EXCHANGES, IntervalVolume, Snapshot
from reporting.checks.combined import combine
from reporting.checks.stream_metrics import stream_intervals
from reporting.fetch.registry import JOIN, STREAMS, source_parts
from reporting.records import DAY as DAY
from reporting.records import HOUR as HOUR
from reporting.records import Interval as Interval
from reporting.records import Volumes as Volumes
from reporting.records import day_bounds as day_bounds
from reporting.records import sum_volumes as sum_volumes

TRAILING_DAYS = 7
"""The days before a day that its report compares it with (their average), and fetches with it."""


_ONE_HOUR = timedelta(hours=1)


def hour_slots(
    hourly: Iterable[tuple[datetime, tuple[float, int]]], start: datetime, end: datetime
) -> tuple[list[float], list[int]]:
    """The USD and count of each hour of ``[start, end)`` from (interval start, (USD, count))
    pairs; zero for an hour not given, and a pair outside the range left out."""
    slots = int((end - start) / _ONE_HOUR)
    usd = [0.0] * slots
    count = [0] * slots
    for moment, (u, c) in hourly:
        k = (moment - start) // _ONE_HOUR  # whole hours: the data is hourly
        if 0 <= k < slots:
            usd[k], count[k] = u, c
    return usd, count


@dataclass(frozen=True)
class AssetDay:
    """One asset's liquidations over one UTC day (or a longer period), from one source."""

    asset: str
    source: str
    start: datetime
    end: datetime
    interval_seconds: int
    intervals: tuple[Interval, ...]  # only those received, in time order
    totals: Volumes
    by_exchange: dict[str, Volumes] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()  # sorted SHA-256s of the snapshots the figures rest on
    fed_by: dict[str, str] = field(default_factory=dict)  # exchange -> the source of its figures

    @property
    def intervals_expected(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.interval_seconds

    @property
    def intervals_received(self) -> int:
        return len(self.intervals)

    def hourly_slots(self, exchange: str | None = None) -> tuple[list[float], list[int]]:
        """USD and count of each hour of the period (all exchanges, or ``exchange``'s), zero where
        nothing is held: what the velocity checks slide their windows over. Worked out once per
        scope and kept (velocity in USD and in count, over one and two hours, all read the same
        slots)."""
        memo = self._slots_memo
        found = memo.get(exchange)
        if found is None:
            picked = ((i.start, i.volumes if exchange is None else i.by_exchange.get(exchange))
                      for i in self.intervals)  # fmt: skip
            hourly = ((t, (v.total_usd, v.total_count)) for t, v in picked if v is not None)
            found = memo[exchange] = hour_slots(hourly, self.start, self.end)
        return found

    def exchange_evidence(self, exchange: str) -> tuple[str, ...]:
        """The sorted SHA-256s of the snapshots holding ``exchange``'s figures (kept per exchange:
        several checks cite them)."""
        memo = self._evidence_memo
        found = memo.get(exchange)
        if found is None:
            shas = {sha for i in self.intervals for sha in i.evidence_of(exchange)}
            found = memo[exchange] = tuple(sorted(shas))
        return found

    @cached_property
    def _evidence_memo(self) -> dict[str, tuple[str, ...]]:
        return {}

    @cached_property
    def _slots_memo(self) -> dict[str | None, tuple[list[float], list[int]]]:
        return {}

    def largest_interval(self) -> Interval | None:
        return max(self.intervals, key=lambda i: i.volumes.total_usd, default=None)


def load_period(
    store: Store,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    interval_seconds: int = HOUR,
    tree_size: int | None = None,
) -> dict[str, AssetDay]:
    """Every asset's current figures in [start, end), keyed by upper-case asset code.

    An interval's current version is everything the latest snapshot holding it says about it: its
    total and its exchange breakdown together, never a mix of rows from different fetches.
    ``tree_size`` reads the store as it was when the log held that many leaves (what a report
    rested on), ignoring every snapshot appended since.
    """
    wanted = [a.upper() for a in assets]
    found = load_intervals(
        store,
        source=source,
        assets=wanted,
        start=start,
        end=end,
        interval_seconds=interval_seconds,
        tree_size=tree_size,
    )
    return {
        a: assemble_day(a, source, start, end, interval_seconds, found.get(a, ())) for a in wanted
    }


def load_intervals(
    store: Store,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    interval_seconds: int = HOUR,
    tree_size: int | None = None,
) -> dict[str, list[Interval]]:
    """The current version of every interval in [start, end) of ``assets`` (upper case), per
    asset in time order: the figures :func:`load_period` assembles, for callers that cut a long
    range into days themselves (a backtest reads a year in one query).

    ``source`` is an interval-volume source, ``streams`` (the live streams' minute sums, see
    :mod:`reporting.checks.stream_metrics`), or several joined by ``+`` in priority order
    (:func:`reporting.checks.combined.combine`).
    """
    wanted = [a.upper() for a in assets]

    def one(part: str) -> dict[str, list[Interval]]:
        loader = stream_intervals if part == STREAMS else partial(volume_intervals, source=part)
        return loader(
            store,
            assets=wanted,
            start=start,
            end=end,
            interval_seconds=interval_seconds,
            tree_size=tree_size,
        )

    parts = source_parts(source)
    if len(parts) == 1:
        return one(source)
    return combine([(part, one(part)) for part in parts])


def volume_intervals(
    store: Store,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    interval_seconds: int = HOUR,
    tree_size: int | None = None,
) -> dict[str, list[Interval]]:
    """:func:`load_intervals` of one interval-volume source.

    Read with :func:`audit_store.bulk.driver_rows`: a year is 300,000 rows, and SQLAlchemy's result
    objects would cost more than the query.
    """
    wanted = [a.upper() for a in assets]
    iv = IntervalVolume
    stmt = (
        select(
            col(iv.asset),
            col(iv.exchange),
            col(iv.interval_start),
            col(Snapshot.leaf_index),
            col(Snapshot.id),
            col(iv.long_count),  # the fields of Volumes, in order: row[5:]
            col(iv.short_count),
            col(iv.total_count),
            col(iv.long_usd),
            col(iv.short_usd),
            col(iv.total_usd),
        )
        .join(Snapshot, col(Snapshot.id) == col(iv.snapshot_id))
        .where(
            col(iv.source) == source,
            col(iv.asset).in_(wanted),
            col(iv.interval_seconds) == interval_seconds,
            col(iv.interval_start) >= start,
            col(iv.interval_start) < end,
            col(Snapshot.quarantined).is_(False),
        )
    )
    if tree_size is not None:
        stmt = stmt.where(col(Snapshot.leaf_index) < tree_size)
    moments: dict[object, datetime] = {}  # driver value -> datetime: one parse per interval
    current: dict[tuple[str, datetime], _Version] = {}
    with store.read_session() as session, gc_paused():
        rows = driver_rows(session, stmt)
        # Rows come in no particular order: the newest leaf holding an interval wins, and the
        # rows of the same leaf make up its version together.
        make = Volumes._make
        for row in rows:
            asset, exchange, moment, leaf, snapshot_id = row[:5]
            when = moments.get(moment)
            if when is None:
                when = moments[moment] = read_datetime(moment)
            key = (asset, when)
            version = current.get(key)
            if version is None or leaf > version.leaf:
                version = current[key] = _Version(leaf, snapshot_id)
            elif leaf < version.leaf:
                continue
            if exchange == ALL_EXCHANGES:
                version.total = make(row[5:])
            else:
                version.exchanges[exchange] = make(row[5:])
        del rows
        shas = _snapshot_shas(session, {v.snapshot_id for v in current.values()})
        out: dict[str, list[Interval]] = {}
        for (asset, moment), version in sorted(current.items(), key=lambda kv: kv[0][1]):
            if version.total is not None:
                by_exchange = dict(sorted(version.exchanges.items()))
                interval = Interval(
                    moment, version.total, by_exchange, (shas[version.snapshot_id],)
                )
                out.setdefault(asset, []).append(interval)
    return out


_ID_CHUNK = 5000
"""Snapshot ids asked for per query (SQLite caps the parameters of one statement)."""


def _snapshot_shas(session: Session, ids: set[int]) -> dict[int, str]:
    ordered = sorted(ids)
    found: dict[int, str] = {}
    for k in range(0, len(ordered), _ID_CHUNK):
        chunk = ordered[k : k + _ID_CHUNK]
        stmt = select(col(Snapshot.id), col(Snapshot.body_sha256)).where(
            col(Snapshot.id).in_(chunk)
        )
        found.update(driver_rows(session, stmt))
    return found


@dataclass
class _Version:
    """What one snapshot says about one interval, while the query is read."""

    leaf: int
    snapshot_id: int
    total: Volumes | None = None
    exchanges: dict[str, Volumes] = field(default_factory=dict)


def assemble_day(
    asset: str,
    source: str,
    start: datetime,
    end: datetime,
    interval_seconds: int,
    intervals: Sequence[Interval],
) -> AssetDay:
    """An asset's figures over ``[start, end)`` from its intervals (in time order): the totals,
    the per-exchange sums (largest USD first) and the sorted SHA-256s they rest on."""
    per_exchange: dict[str, list[Volumes]] = {}
    for interval in intervals:
        for code, vols in interval.by_exchange.items():
            per_exchange.setdefault(code, []).append(vols)
    by_exchange = {code: sum_volumes(v) for code, v in per_exchange.items()}
    return AssetDay(
        asset=asset,
        source=source,
        start=start,
        end=end,
        interval_seconds=interval_seconds,
        intervals=tuple(intervals),
        totals=sum_volumes(i.volumes for i in intervals),
        by_exchange=dict(sorted(by_exchange.items(), key=lambda kv: -kv[1].total_usd)),
        evidence=tuple(sorted({sha for i in intervals for sha in i.evidence})),
        fed_by=_fed_by(source, by_exchange, intervals),
    )


def _fed_by(
    source: str, by_exchange: dict[str, Volumes], intervals: Sequence[Interval]
) -> dict[str, str]:
    """Which source fed each exchange's figures: the period's one source, or for a combined one
    what its intervals say (each part named once, in the order it first fed the exchange)."""
    if len(source_parts(source)) == 1:
        return dict.fromkeys(by_exchange, source)
    found: dict[str, dict[str, None]] = {}
    for interval in intervals:
        for code, part in (interval.fed_by or {}).items():
            found.setdefault(code, {})[part] = None
    return {code: JOIN.join(found.get(code, {})) for code in by_exchange}


def sources_with_data(
    store: Store, *, start: datetime, end: datetime
) -> dict[str, tuple[str, ...]]:
    """Every source holding (unquarantined) liquidation figures in [start, end), with the assets
    it holds them for: what a "no data" message names so that the user can pick ``--source``."""
    iv = IntervalVolume
    stmt = (
        select(col(iv.source), col(iv.asset))
        .join(Snapshot, col(Snapshot.id) == col(iv.snapshot_id))
        .where(
            col(iv.interval_start) >= start,
            col(iv.interval_start) < end,
            col(Snapshot.quarantined).is_(False),
        )
        .distinct()
    )
    found: dict[str, set[str]] = {}
    with store.session() as session:
        for source, asset in session.execute(stmt):
            found.setdefault(source, set()).add(asset)
    return {s: tuple(sorted(found[s])) for s in sorted(found)}


def no_data_note(
    store: Store, metrics: dict[str, AssetDay], *, source: str, day: date
) -> str | None:
    """One line naming the assets ``source`` has no figures for on ``day`` and the sources that
    hold figures for that day; ``None`` when every asset has data."""
    empty = [a for a, m in metrics.items() if not m.intervals]
    if not empty:
        return None
    start, end = day_bounds(day)
    held = sources_with_data(store, start=start, end=end)
    others = {s: a for s, a in held.items() if s != source}
    line = f"no data from source {source} for {', '.join(empty)} on {day}"
    if not others:
        return f"{line}; no other source holds data for it either (fetch it first)"
    listed = "; ".join(f"{s} ({', '.join(a)})" for s, a in others.items())
    return f"{line}; sources holding data for it: {listed} (pass --source {next(iter(others))})"
