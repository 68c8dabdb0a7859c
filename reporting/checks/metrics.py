"""Day metrics from the store: the current value of every interval, summed per asset and exchange.

The current value of (source, asset, exchange, interval) is the one from the latest snapshot that
holds it: re-fetching a range adds snapshots but never double-counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import ALL_EXCHANGES, IntervalVolume, Snapshot
from reporting.records import DAY as DAY
from reporting.records import HOUR as HOUR
from reporting.records import Volumes as Volumes
from reporting.records import day_bounds as day_bounds

TRAILING_DAYS = 7
"""The days before a day that its report compares it with (their average), and fetches with it."""


@dataclass(frozen=True)
class Interval:
    start: datetime
    volumes: Volumes
    by_exchange: dict[str, Volumes]
    snapshot_sha256: str


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

    @property
    def intervals_expected(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.interval_seconds

    @property
    def intervals_received(self) -> int:
        return len(self.intervals)

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
    iv = IntervalVolume
    stmt = (
        select(
            col(iv.asset),
            col(iv.exchange),
            col(iv.interval_start),
            col(iv.long_count),
            col(iv.short_count),
            col(iv.total_count),
            col(iv.long_usd),
            col(iv.short_usd),
            col(iv.total_usd),
            col(Snapshot.leaf_index),
            col(Snapshot.body_sha256),
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
        .order_by(col(Snapshot.leaf_index), col(iv.row_index))
    )
    if tree_size is not None:
        stmt = stmt.where(col(Snapshot.leaf_index) < tree_size)
    current: dict[tuple[str, datetime], _Version] = {}
    with store.session() as session:
        for asset, exchange, moment, lc, sc, tc, lu, su, tu, leaf, sha in session.execute(stmt):
            key = (asset, as_utc(moment))
            version = current.get(key)
            if version is None or leaf > version.leaf:  # rows come in leaf order: newer wins
                version = current[key] = _Version(leaf, sha)
            vols = Volumes(lc, sc, tc, lu, su, tu)
            if exchange == ALL_EXCHANGES:
                version.total = vols
            else:
                version.exchanges[exchange] = vols
    return {a: _assemble(a, source, start, end, interval_seconds, current) for a in wanted}


@dataclass
class _Version:
    """What one snapshot says about one interval, while the query is read."""

    leaf: int
    sha: str
    total: Volumes | None = None
    exchanges: dict[str, Volumes] = field(default_factory=dict)


def _assemble(
    asset: str,
    source: str,
    start: datetime,
    end: datetime,
    interval_seconds: int,
    current: dict[tuple[str, datetime], _Version],
) -> AssetDay:
    intervals = [
        Interval(moment, version.total, dict(sorted(version.exchanges.items())), version.sha)
        for (row_asset, moment), version in sorted(current.items(), key=lambda kv: kv[0][1])
        if row_asset == asset and version.total is not None
    ]
    return assemble_day(asset, source, start, end, interval_seconds, intervals)


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
    by_exchange: dict[str, Volumes] = {}
    for interval in intervals:
        for code, vols in interval.by_exchange.items():
            by_exchange[code] = by_exchange.get(code, Volumes()) + vols
    return AssetDay(
        asset=asset,
        source=source,
        start=start,
        end=end,
        interval_seconds=interval_seconds,
        intervals=tuple(intervals),
        totals=sum((i.volumes for i in intervals), Volumes()),
        by_exchange=dict(sorted(by_exchange.items(), key=lambda kv: -kv[1].total_usd)),
        evidence=tuple(sorted({i.snapshot_sha256 for i in intervals})),
    )


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
