"""Overlay data the checks read beside liquidations: funding rates and open interest.

The checks see overlays through :class:`Overlays`. :class:`StoreOverlays` reads what the ingestion
stage keeps in the store (:mod:`reporting.overlays`: current values, latest snapshot first); where
the store holds none for an asset and day, the funding-rate and open-interest checks are ``error``
results saying so. Nothing here invents a figure. A point carries its venue (exchange and
instrument), so a swing or a change is measured along one venue's own series, never across venues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol

from audit_store.db import Store

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
        from reporting import overlays

        wider = overlays.funding_rates(
            self.store, asset=asset, start=start - timedelta(days=1), end=end
        )
        times: dict[str, list[datetime]] = {}
        for p in wider:
            times.setdefault(f"{p.exchange} {p.instrument}", []).append(p.funding_time)
        hours = {venue: funding_interval_hours(ts) for venue, ts in times.items()}
        return [
            FundingPoint(
                p.funding_time,
                p.funding_rate,
                hours[f"{p.exchange} {p.instrument}"],
                f"{p.exchange} {p.instrument}",
                p.snapshot_sha256,
            )
            for p in wider
            if start <= p.funding_time < end
        ]

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]:
        from reporting import overlays

        return [
            OpenInterestPoint(p.ts, p.oi_usd, f"{p.exchange} {p.instrument}", p.snapshot_sha256)
            for p in overlays.open_interest(self.store, asset=asset, start=start, end=end)
            if p.oi_usd is not None
        ]


class RangeOverlays:
    """:class:`StoreOverlays` read once per asset for a whole range, then served from memory (a
    backtest asks for every day of a year)."""

    def __init__(self, store: Store, start: datetime, end: datetime) -> None:
        self._inner = StoreOverlays(store)
        self._span = (start - timedelta(days=2), end)
        self._funding: dict[str, Sequence[FundingPoint]] = {}
        self._oi: dict[str, Sequence[OpenInterestPoint]] = {}

    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[FundingPoint]:
        if asset not in self._funding:
            self._funding[asset] = self._inner.funding_rates(source, asset, *self._span)
        return [p for p in self._funding[asset] if start <= p.at < end]

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> Sequence[OpenInterestPoint]:
        if asset not in self._oi:
            self._oi[asset] = self._inner.open_interest(source, asset, *self._span)
        return [p for p in self._oi[asset] if start <= p.at < end]
