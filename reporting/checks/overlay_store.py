"""Reading the overlays and the second liquidation source back: current values, in time order.

As everywhere in the store, the current value of a key is the one from the latest snapshot that
holds it (the key of a funding settlement is (source, exchange, instrument, funding time); of an
open-interest observation (source, exchange, instrument, period, time)).

OKX liquidation orders become hourly volumes here, not at fetch time, and are not stored as
``interval_volume`` rows: one hour's orders usually span several pages (100 orders a page, newest
first), so a per-page hourly total would be a partial figure, and "the latest snapshot holding the
hour is current" would then replace a full hour with a part of it. Orders are the derived rows
instead (each re-derivable from its page), and an hour is the sum of the distinct orders stored for
it. Overlapping walks store an order more than once; an order has no id, so it is identified by
(instrument, time, side, position side, size, price) and counted as many times as it appears in
the one snapshot that holds it most often (two identical orders in the same millisecond stay two).

Sizes are contracts; USD is ``size * ctVal * ctMult`` for a contract valued in USD (inverse
swaps, ``BTC-USD-SWAP``) and ``size * ctVal * ctMult * bankruptcy price`` for one valued in the
base asset (linear swaps, ``BTC-USDT-SWAP``; USDT and USDC are taken at par with USD), with the
contract specification of the latest ``instruments`` snapshot. An order whose instrument has no
stored specification is left out, and said so, rather than counted without a USD value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.tables_ingest import FundingRate, InstrumentSpec, LiquidationOrder, OpenInterest
from reporting.checks.metrics import HOUR, Volumes
from reporting.fetch.normalise import floor_time
from reporting.records import Problem

USD_LIKE = frozenset({"USD", "USDT", "USDC"})


@dataclass(frozen=True)
class FundingPoint:
    source: str
    exchange: str
    asset: str
    instrument: str
    funding_time: datetime
    funding_rate: float  # per funding interval, as a fraction (-0.0012 is -0.12%)
    realized_rate: float | None
    mark_price: float | None
    snapshot_sha256: str


@dataclass(frozen=True)
class OpenInterestPoint:
    source: str
    exchange: str
    asset: str
    instrument: str
    ts: datetime
    period_seconds: int
    oi_contracts: float | None
    oi_base: float | None
    oi_usd: float | None
    snapshot_sha256: str


def _current(rows: Any, key_len: int) -> list[Any]:
    """Rows in leaf order; the last one for each key (its first ``key_len`` columns) wins."""
    latest: dict[tuple[Any, ...], Any] = {}
    for row in rows:
        latest[tuple(row[:key_len])] = row
    return list(latest.values())


def _current_overlay_rows(
    store: Store,
    model: type[FundingRate] | type[OpenInterest],
    columns: Sequence[Any],
    time_column: Any,
    key_len: int,
    *,
    asset: str,
    start: datetime,
    end: datetime,
    source: str | None,
    tree_size: int | None,
) -> list[Any]:
    """The current rows of an overlay table for ``asset`` in [start, end): ``columns`` and then the
    snapshot's body SHA-256, the latest leaf winning for each key (the first ``key_len`` columns).
    ``tree_size`` reads the store as it was when the log held that many leaves (a report's inputs).
    """
    query = (
        select(*columns, col(Snapshot.body_sha256))
        .join(Snapshot, col(Snapshot.id) == col(model.snapshot_id))
        .where(
            col(model.asset) == asset.upper(),
            time_column >= start,
            time_column < end,
            col(Snapshot.quarantined).is_(False),
        )
        .order_by(col(Snapshot.leaf_index), col(model.row_index))
    )
    if source is not None:
        query = query.where(col(model.source) == source)
    if tree_size is not None:
        query = query.where(col(Snapshot.leaf_index) < tree_size)
    with store.read_session() as session:
        return _current(session.execute(query), key_len)


def funding_rates(
    store: Store,
    *,
    asset: str,
    start: datetime,
    end: datetime,
    source: str | None = None,
    tree_size: int | None = None,
) -> list[FundingPoint]:
    """Current funding settlements of ``asset`` in [start, end), by time then exchange.

    ``tree_size`` reads the store as it was when the log held that many leaves (a report's inputs).
    """
    m = FundingRate
    rows = _current_overlay_rows(
        store,
        m,
        (
            col(m.source), col(m.exchange), col(m.instrument), col(m.funding_time), col(m.asset),
            col(m.funding_rate), col(m.realized_rate), col(m.mark_price),
        ),
        col(m.funding_time),
        4,
        asset=asset, start=start, end=end, source=source, tree_size=tree_size,
    )  # fmt: skip
    points = [
        FundingPoint(r[0], r[1], r[4], r[2], as_utc(r[3]), r[5], r[6], r[7], r[8]) for r in rows
    ]
    return sorted(points, key=lambda p: (p.funding_time, p.exchange, p.instrument, p.source))


def open_interest(
    store: Store,
    *,
    asset: str,
    start: datetime,
    end: datetime,
    source: str | None = None,
    tree_size: int | None = None,
) -> list[OpenInterestPoint]:
    """Current open-interest observations of ``asset`` in [start, end), by time then exchange;
    ``tree_size`` as for :func:`funding_rates`."""
    m = OpenInterest
    rows = _current_overlay_rows(
        store,
        m,
        (
            col(m.source), col(m.exchange), col(m.instrument), col(m.period_seconds), col(m.ts),
            col(m.asset), col(m.oi_contracts), col(m.oi_base), col(m.oi_usd),
        ),
        col(m.ts),
        5,
        asset=asset, start=start, end=end, source=source, tree_size=tree_size,
    )  # fmt: skip
    points = [
        OpenInterestPoint(r[0], r[1], r[5], r[2], as_utc(r[4]), r[3], r[6], r[7], r[8], r[9])
        for r in rows
    ]
    return sorted(points, key=lambda p: (p.ts, p.exchange, p.instrument, p.source))


@dataclass(frozen=True)
class Spec:
    ct_val: float
    ct_mult: float
    ct_val_ccy: str
    snapshot_sha256: str


def instrument_specs(store: Store, *, source: str = "okx") -> dict[str, Spec]:
    """The latest stored contract specification of every instrument of ``source``."""
    m = InstrumentSpec
    query = (
        select(
            col(m.instrument),
            col(m.ct_val),
            col(m.ct_mult),
            col(m.ct_val_ccy),
            col(Snapshot.body_sha256),
        )
        .join(Snapshot, col(Snapshot.id) == m.snapshot_id)
        .where(col(m.source) == source, col(Snapshot.quarantined).is_(False))
        .order_by(col(Snapshot.leaf_index), col(m.row_index))
    )
    with store.read_session() as session:
        return {r[0]: Spec(r[1], r[2], r[3], r[4]) for r in session.execute(query)}


@dataclass(frozen=True)
class OkxHours:
    """OKX's liquidations of one asset, hour by hour, from its own liquidation orders."""

    asset: str
    hours: dict[datetime, Volumes]  # only hours with at least one order
    orders: int  # distinct orders counted
    first_order: datetime | None  # the oldest order stored for the asset (OKX keeps a few days)
    evidence: tuple[str, ...]  # SHA-256s of the order and instrument snapshots used
    problems: tuple[Problem, ...]

    @property
    def totals(self) -> Volumes:
        return sum(self.hours.values(), Volumes())


def usd_value(size: float, price: float, asset: str, spec: Spec) -> float | None:
    """The USD value of ``size`` contracts at ``price``, or ``None`` if the contract's value
    currency is neither USD-like nor the asset itself."""
    contracts = size * spec.ct_val * spec.ct_mult
    if spec.ct_val_ccy.upper() in USD_LIKE:
        return contracts
    if spec.ct_val_ccy.upper() == asset.upper():
        return contracts * price
    return None


def okx_hourly(
    store: Store, *, asset: str, start: datetime, end: datetime, source: str = "okx"
) -> OkxHours:
    """Hourly long/short counts and USD of ``asset`` in [start, end) from OKX's orders."""
    m = LiquidationOrder
    query = (
        select(
            col(m.snapshot_id),
            col(m.instrument),
            col(m.ts),
            col(m.side),
            col(m.pos_side),
            col(m.size),
            col(m.bankruptcy_price),
            col(m.direction),
            col(Snapshot.body_sha256),
        )
        .join(Snapshot, col(Snapshot.id) == m.snapshot_id)
        .where(
            col(m.source) == source,
            col(m.asset) == asset.upper(),
            col(m.ts) >= start,
            col(m.ts) < end,
            col(Snapshot.quarantined).is_(False),
        )
        .order_by(col(Snapshot.leaf_index), col(m.row_index))
    )
    first_query = (
        select(col(m.ts))
        .where(col(m.source) == source, col(m.asset) == asset.upper())
        .order_by(col(m.ts))
        .limit(1)
    )
    per_snapshot: dict[int, Counter[tuple[Any, ...]]] = {}
    direction: dict[tuple[Any, ...], str] = {}
    shas: dict[tuple[Any, ...], str] = {}
    with store.read_session() as session:
        for row in session.execute(query):
            key = (row[1], as_utc(row[2]), row[3], row[4], row[5], row[6])
            per_snapshot.setdefault(row[0], Counter())[key] += 1
            direction[key] = row[7]
            shas.setdefault(key, row[8])
        first = session.execute(first_query).scalar()
    multiplicity: Counter[tuple[Any, ...]] = Counter()
    for counts in per_snapshot.values():
        for key, n in counts.items():
            multiplicity[key] = max(multiplicity[key], n)
    specs = instrument_specs(store, source=source) if multiplicity else {}
    hours: dict[datetime, Volumes] = {}
    evidence: set[str] = set()
    missing: Counter[str] = Counter()
    orders = 0
    for key, n in sorted(multiplicity.items(), key=lambda kv: kv[0][1]):
        instrument, ts, _side, _pos, size, price = key
        spec = specs.get(instrument)
        usd = usd_value(size, price, asset, spec) if spec else None
        if spec is None or usd is None:
            missing[instrument] += n
            continue
        evidence.update((shas[key], spec.snapshot_sha256))
        orders += n
        long_ = direction[key] == "long"
        one = Volumes(
            long_count=n if long_ else 0,
            short_count=0 if long_ else n,
            total_count=n,
            long_usd=usd * n if long_ else 0.0,
            short_usd=0.0 if long_ else usd * n,
            total_usd=usd * n,
        )
        hour = floor_time(ts, HOUR)
        hours[hour] = hours.get(hour, Volumes()) + one
    problems = tuple(
        Problem(
            f"{source} {asset.upper()}",
            f"{n} liquidation order(s) of {instrument} left out: no contract value stored "
            "(fetch the instruments)",
            "warning",
        )
        for instrument, n in sorted(missing.items())
    )
    return OkxHours(
        asset=asset.upper(),
        hours=dict(sorted(hours.items())),
        orders=orders,
        first_order=as_utc(first) if first is not None else None,
        evidence=tuple(sorted(evidence)),
        problems=problems,
    )
