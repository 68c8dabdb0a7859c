"""Overlay data the checks read beside liquidations: funding rates and open interest.

The checks see overlays through :class:`Overlays`. :class:`StoreOverlays` reads what the ingestion
stage keeps in the store (:mod:`reporting.checks.overlay_store`: current values, latest snapshot
first); where the store holds none for an asset and day, the funding-rate and open-interest checks
are ``error`` results saying so. Nothing here invents a figure. A point carries its venue (exchange
and instrument), so a swing or a change is measured along one venue's own series, never across
venues.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Protocol

from audit_store.db import Store

if TYPE_CHECKING:
    from reporting.checks.overlay_store import FundingPoint as StoredFundingPoint

DEFAULT_FUNDING_HOURS = 8.0


@dataclass(frozen=True)
class FundingPoint:
    """A funding rate as published: a fraction per funding interval (``-0.0004`` = -0.04%)."""

    at: datetime  # aware, UTC: the funding (settlement) time
    rate: float
    interval_hours: float = DEFAULT_FUNDING_HOURS  # the venue's funding interval
    venue: str = ""  # "binc BTCUSDT": one series per venue
    evidence: str = ""  # SHA-256 of the snapshot it was derived from

    @property
    def bps_per_8h(self) -> float:
        return self.rate * 10_000 * 8.0 / self.interval_hours


@dataclass(frozen=True)
class OpenInterestPoint:
    at: datetime  # aware, UTC
    usd: float
    venue: str = ""
    evidence: str = ""


class Overlays(Protocol):
    """Where the checks get overlay data; each call returns the points in ``[start, end)``."""

    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[FundingPoint]: ...

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]: ...


class NoOverlays:
    """No overlay data at all."""

    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[FundingPoint]:
        return ()

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]:
        return ()


NO_OVERLAYS: Overlays = NoOverlays()


def funding_interval_hours(times: Sequence[datetime]) -> float:
    """A venue's funding interval from its settlement times: the smallest gap between two (the
    store does not keep the interval itself); 8 hours when there are fewer than two."""
    ordered = sorted(set(times))
    gaps = [(b - a).total_seconds() / 3600.0 for a, b in pairwise(ordered)]
    positive = [g for g in gaps if g > 0]
    return min(positive) if positive else DEFAULT_FUNDING_HOURS


class Settlement(Protocol):
    """A stored funding settlement, as far as its venue's interval needs it."""

    @property
    def exchange(self) -> str: ...

    @property
    def instrument(self) -> str: ...

    @property
    def funding_time(self) -> datetime: ...


def venue_interval_hours(points: Iterable[Settlement]) -> dict[tuple[str, str], float]:
    """Each venue's funding interval in hours, keyed by ``(exchange, instrument)``: the smallest
    gap between its settlements among ``points`` (:func:`funding_interval_hours`). A daily run
    passes the settlements of the day and the one before, so an interval is the venue's own at the
    time."""
    times: dict[tuple[str, str], list[datetime]] = {}
    for p in points:
        times.setdefault((p.exchange, p.instrument), []).append(p.funding_time)
    return {venue: funding_interval_hours(ts) for venue, ts in times.items()}


FUNDING_LOOKBACK = timedelta(days=1)
"""How far before a day the settlements that give a venue's interval reach."""


def _funding_points(
    wider: Sequence[StoredFundingPoint], start: datetime, end: datetime
) -> list[FundingPoint]:
    """The settlements of ``[start, end)`` as the checks see them, each venue's interval read from
    ``wider``: the stored settlements of ``[start - FUNDING_LOOKBACK, end)``."""
    hours = venue_interval_hours(wider)
    return [
        FundingPoint(
            p.funding_time,
            p.funding_rate,
            hours[(p.exchange, p.instrument)],
            f"{p.exchange} {p.instrument}",
            p.snapshot_sha256,
        )
        for p in wider
        if start <= p.funding_time < end
    ]


class StoreOverlays:
    """The overlays the store keeps, whatever source fetched them (Binance, OKX, the demo).

    The liquidation source a check runs on does not choose the overlay source: funding and open
    interest are the venues' own figures. Each venue's funding interval is read from the spacing of
    its settlements over the day and the one before.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[FundingPoint]:
        from reporting.checks import overlay_store as overlays

        wider = overlays.funding_rates(
            self.store, asset=asset, start=start - FUNDING_LOOKBACK, end=end
        )
        return _funding_points(wider, start, end)

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]:
        from reporting.checks import overlay_store as overlays

        return [
            OpenInterestPoint(p.ts, p.oi_usd, f"{p.exchange} {p.instrument}", p.snapshot_sha256)
            for p in overlays.open_interest(self.store, asset=asset, start=start, end=end)
            if p.oi_usd is not None
        ]


class RangeOverlays:
    """:class:`StoreOverlays` read once per asset for a whole range, then served from memory (a
    backtest asks for every day of a year).

    The stored settlements are kept as read; each request converts its own window exactly as
    :class:`StoreOverlays` does, so a venue's funding interval is the one a daily run of that day
    would read (a venue that moved from 8-hour to 4-hour funding mid-range keeps 8 hours before).
    """

    def __init__(self, store: Store, start: datetime, end: datetime) -> None:
        self._inner = StoreOverlays(store)
        self._span = (start - timedelta(days=2), end)
        self._funding: dict[str, tuple[list[datetime], list[StoredFundingPoint]]] = {}
        self._oi: dict[str, Sequence[OpenInterestPoint]] = {}

    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[FundingPoint]:
        if asset not in self._funding:
            from reporting.checks import overlay_store as overlays

            rows = overlays.funding_rates(
                self._inner.store, asset=asset, start=self._span[0], end=self._span[1]
            )
            self._funding[asset] = ([p.funding_time for p in rows], rows)
        times, rows = self._funding[asset]  # in time order
        first = bisect_left(times, start - FUNDING_LOOKBACK)
        return _funding_points(rows[first : bisect_left(times, end)], start, end)

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]:
        if asset not in self._oi:
            self._oi[asset] = self._inner.open_interest(source, asset, *self._span)
        return [p for p in self._oi[asset] if start <= p.at < end]
