"""The live streams as a liquidation source (``fetch.default_source = "streams"``): intervals
summed from the counted events' minute sums, under the exchange table's code of each venue.

An interval is *received* when a stream was collecting during some of it (a subscribed connection
on record) or an event of it is stored: a quiet covered hour is a zero, an hour no stream covered
is missing, as an interval Kaiko never served is. How much of each interval was covered is the
``dq_stream_coverage`` check's business, and every venue documents its stream as sampled or
incomplete: stream totals are lower bounds (the report says so wherever it shows them).

Each interval rests on the frame batches holding its events: its evidence is their SHA-256s, per
venue as well (``Interval.exchange_evidence``), so a check cites exactly the batches behind its
figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from audit_store.db import Store
from reporting.fetch.normalise import floor_time
from reporting.fetch.streams.reading import collected_streams, covered_spans, minute_rows
from reporting.fetch.streams.venues import EXCHANGE_CODES
from reporting.records import HOUR, Interval, Volumes, sum_volumes

Cell = tuple[list[float], set[str]]
"""A venue's interval: [long USD, short USD, long count, short count] and its batches' SHA-256s."""


def venue_cells(
    store: Store,
    *,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    interval_seconds: int = HOUR,
    tree_size: int | None = None,
) -> dict[tuple[str, datetime, str], Cell]:
    """(asset upper case, interval start, venue) -> its :data:`Cell`, summed from the batches'
    minute sums in [start, end) (only batches among the first ``tree_size`` leaves, if given)."""
    wanted = [a.upper() for a in assets]
    cells: dict[tuple[str, datetime, str], Cell] = {}
    rows = minute_rows(store, assets=wanted, start=start, end=end, tree_size=tree_size)
    for venue, asset, minute, sha, long_usd, short_usd, longs, shorts in rows:
        key = (asset, floor_time(minute, interval_seconds), venue)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = ([0.0, 0.0, 0, 0], set())
        sums, shas = cell
        sums[0] += long_usd
        sums[1] += short_usd
        sums[2] += longs
        sums[3] += shorts
        shas.add(sha)
    return cells


def stream_intervals(
    store: Store,
    *,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    interval_seconds: int = HOUR,
    tree_size: int | None = None,
) -> dict[str, list[Interval]]:
    """Per asset (upper case), the stream intervals of [start, end) in time order."""
    wanted = [a.upper() for a in assets]
    step = timedelta(seconds=interval_seconds)
    cells = venue_cells(
        store,
        assets=wanted,
        start=start,
        end=end,
        interval_seconds=interval_seconds,
        tree_size=tree_size,
    )
    covered = _covered_starts(store, start, end, interval_seconds)
    by_slot: dict[tuple[str, datetime], dict[str, Cell]] = {}
    for (asset, moment, venue), cell in cells.items():
        by_slot.setdefault((asset, moment), {})[EXCHANGE_CODES.get(venue, venue)] = cell
    out: dict[str, list[Interval]] = {}
    for asset in wanted:
        moments = sorted(covered | {m for (a, m) in by_slot if a == asset})
        out[asset] = [
            _interval(moment, by_slot.get((asset, moment), {}))
            for moment in moments
            if start <= moment and moment + step <= end
        ]
    return out


def _interval(moment: datetime, venues: dict[str, Cell]) -> Interval:
    by_exchange: dict[str, Volumes] = {}
    evidence: dict[str, tuple[str, ...]] = {}
    for code, (sums, shas) in sorted(venues.items()):
        long_usd, short_usd, longs, shorts = sums
        by_exchange[code] = Volumes(
            int(longs), int(shorts), int(longs + shorts), long_usd, short_usd, long_usd + short_usd
        )
        evidence[code] = tuple(sorted(shas))
    total = sum_volumes(by_exchange.values())
    every = tuple(sorted({sha for shas in evidence.values() for sha in shas}))
    return Interval(moment, total, by_exchange, every, exchange_evidence=evidence)


def _covered_starts(
    store: Store, start: datetime, end: datetime, interval_seconds: int
) -> set[datetime]:
    """The starts of the intervals of [start, end) some stream was collecting during."""
    step = timedelta(seconds=interval_seconds)
    found: set[datetime] = set()
    for stream in collected_streams(store):
        for span in covered_spans(store, stream, start, end):
            moment = floor_time(span.start, interval_seconds)
            while moment < span.end:
                found.add(moment)
                moment += step
    return found
