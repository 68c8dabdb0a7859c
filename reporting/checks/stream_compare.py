"""The live streams beside an interval-volume source (Kaiko), per venue, asset and hour.

A venue's hour is compared only when its streams were connected throughout it (every minute of it
covered by a subscribed connection) and the reference source holds the same venue for that hour:
a partly covered hour would be an under-count of the collector's making, not the venue's. What the
stream lacks beyond that is the venue's own sampling (Binance pushes at most one liquidation per
symbol per second), which is what the comparison shows.

Read as of ``tree_size`` leaves (only batches among them count) and the connection records up to
``as_of``, so a report and its reproduction compare the same figures. Used by the report's stream
table (:mod:`reporting.render.streams`) and the ``dq_stream_reconcile`` check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from audit_store.db import Store
from reporting.checks.metrics import load_intervals
from reporting.checks.stream_metrics import Cell, venue_cells
from reporting.config import Settings
from reporting.fetch.registry import volume_parts
from reporting.fetch.streams.reading import covered_spans, has_sessions
from reporting.fetch.streams.venues import EXCHANGE_CODES, stream_specs
from reporting.records import Interval

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class StreamCoverage:
    stream: str
    venue: str
    covered_share: float  # of the period up to as_of
    covered_hours: int  # whole hours covered from start to end


@dataclass(frozen=True)
class ComparedHour:
    hour: datetime
    stream_usd: float
    reference_usd: float


@dataclass(frozen=True)
class StreamFigure:
    """One venue's stream figures for one asset over the period, and its compared hours."""

    venue: str
    asset: str  # upper case
    long_usd: float
    short_usd: float
    count: int
    compared: tuple[ComparedHour, ...]  # the hours covered in full that the reference holds
    evidence: tuple[str, ...]  # the batches holding the venue's events of the compared hours

    @property
    def total_usd(self) -> float:
        return self.long_usd + self.short_usd

    @property
    def stream_usd_compared(self) -> float:
        return sum(h.stream_usd for h in self.compared)

    @property
    def reference_usd_compared(self) -> float | None:
        """The reference's USD over the compared hours; None when no hour was compared."""
        return sum(h.reference_usd for h in self.compared) if self.compared else None

    @property
    def share_of_reference(self) -> float | None:
        ref = self.reference_usd_compared
        return self.stream_usd_compared / ref if ref else None


@dataclass(frozen=True)
class StreamComparison:
    figures: tuple[StreamFigure, ...]
    coverage: tuple[StreamCoverage, ...]


def _full_hours(spans: list[tuple[datetime, datetime]]) -> set[datetime]:
    hours: set[datetime] = set()
    for start, end in spans:
        hour = start.replace(minute=0, second=0, microsecond=0)
        if hour < start:
            hour += _HOUR
        while hour + _HOUR <= end:
            hours.add(hour)
            hour += _HOUR
    return hours


def reference_intervals(
    store: Store,
    settings: Settings,
    source: str,
    held: Mapping[str, list[Interval]] | None,
    start: datetime,
    end: datetime,
    *,
    tree_size: int | None = None,
) -> tuple[str, Mapping[str, list[Interval]]]:
    """The interval-volume source the streams are set beside (the one ``source`` reads, Kaiko
    when it reads only the streams) and its hourly intervals per asset: ``held`` when those are
    the intervals of ``source`` itself, else read."""
    reference = next(iter(volume_parts(source)), "kaiko")
    if reference == source and held is not None:
        return reference, held
    found = load_intervals(
        store,
        source=reference,
        assets=settings.fetch.assets,
        start=start,
        end=end,
        tree_size=tree_size,
    )
    return reference, found


def _usd(cell: Cell | None) -> float:
    return 0.0 if cell is None else cell[0][0] + cell[0][1]


def compare_streams(
    store: Store,
    settings: Settings,
    reference: Mapping[str, list[Interval]],
    start: datetime,
    end: datetime,
    *,
    tree_size: int | None,
    as_of: datetime,
) -> StreamComparison | None:
    """The comparison over [start, end), or None when no stream event of the period is stored
    (among the first ``tree_size`` leaves). ``reference``: the hourly intervals of the reference
    source per asset (upper case)."""
    cells = venue_cells(
        store, assets=settings.fetch.assets, start=start, end=end, tree_size=tree_size
    )
    if not cells:
        return None
    hourly: dict[tuple[str, str], dict[datetime, Cell]] = {}
    for (asset, hour, venue), cell in cells.items():
        hourly.setdefault((venue, asset), {})[hour] = cell
    horizon = min(end, as_of)
    coverage: list[StreamCoverage] = []
    per_venue: dict[str, list[set[datetime]]] = {}
    for spec in stream_specs(settings):
        if not has_sessions(store, spec.stream):
            continue  # configured, never collected: it neither covers nor uncovers an hour
        spans = [
            (s.start, min(s.end, horizon))
            for s in covered_spans(store, spec.stream, start, horizon)
        ]
        seconds = sum(max(0.0, (e - s).total_seconds()) for s, e in spans)
        period = max((horizon - start).total_seconds(), 1.0)
        hours = _full_hours(spans)
        per_venue.setdefault(spec.venue, []).append(hours)
        if seconds or any(venue == spec.venue for venue, _a in hourly):
            coverage.append(StreamCoverage(spec.stream, spec.venue, seconds / period, len(hours)))
    # A venue's hour is covered in full when every stream of it collected (Binance USD-M and
    # COIN-M both) was connected throughout: otherwise part of the venue was not watched.
    full = {venue: set.intersection(*hours) for venue, hours in per_venue.items()}
    held: dict[tuple[str, str, datetime], float] = {}
    for asset, intervals in reference.items():
        for interval in intervals:
            for code, volumes in interval.by_exchange.items():
                held[(code, asset, interval.start)] = volumes.total_usd
    figures = []
    for (venue, asset), by_hour in sorted(hourly.items()):
        code = EXCHANGE_CODES.get(venue, venue)
        compared = tuple(
            ComparedHour(h, _usd(by_hour.get(h)), held[(code, asset, h)])
            for h in sorted(full.get(venue, set()))
            if (code, asset, h) in held
        )
        evidence = {sha for c in compared if c.hour in by_hour for sha in by_hour[c.hour][1]}
        sums = [cell[0] for cell in by_hour.values()]
        figures.append(
            StreamFigure(
                venue=venue,
                asset=asset,
                long_usd=sum(s[0] for s in sums),
                short_usd=sum(s[1] for s in sums),
                count=int(sum(s[2] + s[3] for s in sums)),
                compared=compared,
                evidence=tuple(sorted(evidence)),
            )
        )
    return StreamComparison(tuple(figures), tuple(coverage))
