"""The span of time each source serves a dataset for, so that a request outside it is refused
before anything is asked (and a report is not due for a day no source can ever hold).

Only what a source documents, or what liqrisk itself bundles, is listed; any other source and
dataset is served from :data:`EARLIEST_DAY` (no market liqrisk reads is older) up to now:

* Binance's open-interest statistics (``/futures/data/openInterestHist``): "only the data of the
  latest 30 days is available", a window that moves with the clock;
* the bundled demo data set: the days it was generated for, no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

EARLIEST_DAY = date(2009, 1, 3)
"""No market this tool reads existed before Bitcoin's first block: an earlier date is a typo."""


@dataclass(frozen=True)
class Served:
    """From when (and until when) a source serves a dataset."""

    first: datetime  # the earliest moment it serves
    last: datetime | None  # the end of what it serves (exclusive); None: up to now
    why: str  # the rule, for messages: "the latest 30 days only", "the bundled demo days"


BINANCE_OPEN_INTEREST_DAYS = 30
"""Binance serves open-interest statistics for the latest 30 days only (its documentation)."""


def served(source: str, dataset: str, now: datetime | None = None) -> Served:
    """What ``source`` serves of ``dataset`` as of ``now``."""
    current = now or datetime.now(UTC)
    if source == "binance" and dataset == "open_interest":
        first = current - timedelta(days=BINANCE_OPEN_INTEREST_DAYS)
        return Served(first, None, f"the latest {BINANCE_OPEN_INTEREST_DAYS} days only")
    if source == "demo":
        from reporting.fetch.sources.demo.generate import END, START

        shown = f"{START:%Y-%m-%d} to {END - timedelta(days=1):%Y-%m-%d}"
        return Served(START, END, f"the bundled demo data set's days ({shown})")
    first = datetime.combine(EARLIEST_DAY, datetime.min.time(), tzinfo=UTC)
    return Served(first, None, "any day")


def outside(
    source: str,
    datasets: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    now: datetime | None = None,
) -> str | None:
    """Why [start, end) asks ``source`` for time it does not serve, or ``None`` when it does not.

    A range starting before what is served is refused (the missing part could never be fetched,
    and a watermark would claim it); so is a range wholly after a fixed end. A range overlapping
    the end of a fixed span is allowed: its part inside is fetched."""
    for dataset in datasets:
        span = served(source, dataset, now)
        what = f"{source} serves {dataset.replace('_', ' ')} for {span.why}"
        if start is not None and start < span.first:
            first = f"{span.first:%Y-%m-%d %H:%M} UTC"
            return f"{what}, from {first}: --start {start:%Y-%m-%d %H:%M} UTC is earlier"
        if span.last is not None and start is not None and start >= span.last:
            return f"{what}: --start {start:%Y-%m-%d %H:%M} UTC is after its end"
        if end is not None and end <= span.first:
            return f"{what} only: --end {end:%Y-%m-%d %H:%M} UTC is before it"
    return None
