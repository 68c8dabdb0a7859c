"""The report's "Live exchange streams" section: what the collectors stored for the period, per
venue and asset, labelled as the sampled feed it is and set beside Kaiko's figure for the same
venue over the hours the stream covered in full.

Read as of the report's inputs: only batches among the first ``tree_size`` leaves count, and the
coverage is read from the connection records up to the time the inputs were taken, so a
reproduction shows the same figures. Shown only when the store holds stream events for the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from audit_store.db import Store
from reporting.checks.metrics import AssetDay
from reporting.config import Settings
from reporting.fetch.streams.reading import covered_spans, minute_totals
from reporting.fetch.streams.venues import stream_specs

KAIKO_CODES = {"binance": "binc", "bybit": "bbit", "okx": "okex"}
"""Kaiko's exchange code of each streamed venue (the exchange table's codes)."""
VENUE_NAMES = {"binance": "Binance USD-M", "bybit": "Bybit", "okx": "OKX"}
NOTES = {
    "binance": "pushes at most the latest liquidation per symbol per second: under-counts in a "
    "storm",
    "bybit": "documented as all liquidations, pushed every 500 ms",
    "okx": "documented as not complete and not in time order (events placed by exchange time)",
}


@dataclass(frozen=True)
class StreamCoverage:
    stream: str
    venue: str
    covered_share: float  # of the period up to when the inputs were taken
    covered_hours: int  # whole hours covered from start to end


@dataclass(frozen=True)
class StreamFigure:
    venue: str
    venue_name: str
    asset: str
    long_usd: float
    short_usd: float
    count: int
    compared_hours: int  # hours the stream covered in full and Kaiko holds for the venue
    stream_usd_compared: float
    kaiko_usd_compared: float | None  # None: no Kaiko figure for that venue and those hours

    @property
    def total_usd(self) -> float:
        return self.long_usd + self.short_usd

    @property
    def share_of_kaiko(self) -> float | None:
        if not self.kaiko_usd_compared:
            return None
        return self.stream_usd_compared / self.kaiko_usd_compared


@dataclass(frozen=True)
class StreamsSection:
    figures: tuple[StreamFigure, ...]
    coverage: tuple[StreamCoverage, ...]
    notes: tuple[tuple[str, str], ...]  # (venue name, what the venue documents of its feed)


def _hourly(
    store: Store, start: datetime, end: datetime, tree_size: int
) -> dict[tuple[str, str, datetime], tuple[float, float, int]]:
    """(venue, asset, hour) -> (long USD, short USD, count) of the counted events."""
    hours: dict[tuple[str, str, datetime], tuple[float, float, int]] = {}
    minutes = minute_totals(store, start=start, end=end, tree_size=tree_size)
    for (venue, asset, minute), (long_usd, short_usd, longs, shorts) in minutes.items():
        key = (venue, asset, minute.replace(minute=0))
        was = hours.get(key, (0.0, 0.0, 0))
        hours[key] = (was[0] + long_usd, was[1] + short_usd, was[2] + longs + shorts)
    return hours


def _full_hours(spans: list[tuple[datetime, datetime]]) -> set[datetime]:
    hours: set[datetime] = set()
    for start, end in spans:
        hour = start.replace(minute=0, second=0, microsecond=0)
        if hour < start:
            hour += timedelta(hours=1)
        while hour + timedelta(hours=1) <= end:
            hours.add(hour)
            hour += timedelta(hours=1)
    return hours


def build_streams(
    store: Store,
    settings: Settings,
    metrics: Mapping[str, AssetDay],
    start: datetime,
    end: datetime,
    *,
    tree_size: int,
    as_of: datetime,
) -> StreamsSection | None:
    """The section, or None when no stream event of the period is among the report's leaves."""
    hourly = _hourly(store, start, end, tree_size)
    if not hourly:
        return None
    watched = {a.upper() for a in settings.fetch.assets}
    horizon = min(end, as_of)
    coverage: list[StreamCoverage] = []
    full: dict[str, set[datetime]] = {}
    for spec in stream_specs(settings):
        spans = [
            (s.start, min(s.end, horizon))
            for s in covered_spans(store, spec.stream, start, horizon)
        ]
        seconds = sum(max(0.0, (e - s).total_seconds()) for s, e in spans)
        period = max((horizon - start).total_seconds(), 1.0)
        hours = _full_hours(spans)
        full.setdefault(spec.venue, set()).update(hours)
        if seconds or any(k[0] == spec.venue for k in hourly):
            coverage.append(StreamCoverage(spec.stream, spec.venue, seconds / period, len(hours)))
    kaiko_hours: dict[tuple[str, str, datetime], float] = {}
    for asset, data in metrics.items():
        for interval in data.intervals:
            for code, volumes in interval.by_exchange.items():
                kaiko_hours[(code, asset.upper(), interval.start)] = volumes.total_usd
    figures = []
    for venue, asset in sorted({(v, a) for v, a, _h in hourly}):
        if asset not in watched:
            continue
        cells = {h: v for (vv, aa, h), v in hourly.items() if (vv, aa) == (venue, asset)}
        code = KAIKO_CODES.get(venue, "")
        compared = sorted(h for h in full.get(venue, set()) if (code, asset, h) in kaiko_hours)
        figures.append(
            StreamFigure(
                venue=venue,
                venue_name=VENUE_NAMES.get(venue, venue),
                asset=asset,
                long_usd=sum(c[0] for c in cells.values()),
                short_usd=sum(c[1] for c in cells.values()),
                count=sum(c[2] for c in cells.values()),
                compared_hours=len(compared),
                stream_usd_compared=sum(sum(cells.get(h, (0.0, 0.0, 0))[:2]) for h in compared),
                kaiko_usd_compared=sum(kaiko_hours[(code, asset, h)] for h in compared)
                if compared
                else None,
            )
        )
    if not figures:
        return None
    venues = sorted({f.venue for f in figures} | {c.venue for c in coverage})
    return StreamsSection(
        figures=tuple(figures),
        coverage=tuple(coverage),
        notes=tuple((VENUE_NAMES.get(v, v), NOTES[v]) for v in venues if v in NOTES),
    )
