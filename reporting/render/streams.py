"""The report's "Live exchange streams" section: what the collectors stored for the period, per
venue and asset, labelled as the sampled feed it is and set beside the reference source's figure
(Kaiko's) for the same venue over the hours the stream covered in full
(:mod:`reporting.checks.stream_compare`).

Read as of the report's inputs: only batches among the first ``tree_size`` leaves count, and the
coverage is read from the connection records up to the time the inputs were taken, so a
reproduction shows the same figures. Shown only when the store holds stream events for the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from audit_store.db import Store
from reporting.checks.stream_compare import StreamCoverage, StreamFigure, compare_streams
from reporting.config import Settings
from reporting.records import Interval

VENUE_NAMES = {"binance": "Binance futures", "bybit": "Bybit", "okx": "OKX"}
NOTES = {
    "binance": "pushes at most the latest liquidation per symbol per second: under-counts in a "
    "storm",
    "bybit": "documented as all liquidations, pushed every 500 ms",
    "okx": "documented as not complete and not in time order (events placed by exchange time)",
}


@dataclass(frozen=True)
class StreamsSection:
    figures: tuple[StreamFigure, ...]
    coverage: tuple[StreamCoverage, ...]
    notes: tuple[tuple[str, str], ...]  # (venue name, what the venue documents of its feed)
    reference: str  # the source the streams are set beside

    def venue_name(self, venue: str) -> str:
        return VENUE_NAMES.get(venue, venue)


def build_streams(
    store: Store,
    settings: Settings,
    reference: Mapping[str, list[Interval]],
    reference_name: str,
    start: datetime,
    end: datetime,
    *,
    tree_size: int,
    as_of: datetime,
) -> StreamsSection | None:
    """The section, or None when no stream event of the period is among the report's leaves.
    ``reference``: the hourly intervals of ``reference_name`` per asset."""
    found = compare_streams(
        store, settings, reference, start, end, tree_size=tree_size, as_of=as_of
    )
    if found is None or not found.figures:
        return None
    venues = sorted({f.venue for f in found.figures} | {c.venue for c in found.coverage})
    return StreamsSection(
        figures=found.figures,
        coverage=found.coverage,
        notes=tuple((VENUE_NAMES.get(v, v), NOTES[v]) for v in venues if v in NOTES),
        reference=reference_name,
    )
