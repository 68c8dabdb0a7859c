"""Watermarks: per source, dataset and asset, how far back and forward everything closed is stored.

A watermark row says: every interval in [``covered_from``, ``watermark``) that was closed when it
was fetched is in the store. Scheduled fetches (``liqrisk fetch`` without ``--start``) ask only for
what lies after it; ``liqrisk backfill`` skips the chunks it covers, which is how a killed backfill
resumes. The table is append-only: an advance is a new row, the current watermark the latest row.

An interval counts as closed ``fetch.settle_seconds`` after its end (sources publish an hour's
figures a little after it ends, and revise them for a while): a watermark never passes
:func:`closed_until` of the time of the fetch, so the still-open hour is asked for again next time.

A watermark moves only after a fetch that ended without an error (a page quarantined for good, a
source error): a fetch of [start, end) extends coverage when it touches or overlaps it, and a fetch
that leaves a gap before the covered range, or after it, does not move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_ingest import IngestWatermark
from reporting.fetch.normalise import floor_time

DATASETS = ("liquidations", "funding", "open_interest")


@dataclass(frozen=True)
class Watermark:
    source: str
    dataset: str
    asset: str
    covered_from: datetime
    watermark: datetime
    recorded_at: datetime

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.covered_from <= start and end <= self.watermark


def closed_until(now: datetime, interval_seconds: int, settle_seconds: int) -> datetime:
    """The end of the last interval that is closed (and settled) at ``now``."""
    return floor_time(now - timedelta(seconds=settle_seconds), interval_seconds)


def _of(row: IngestWatermark) -> Watermark:
    return Watermark(
        row.source,
        row.dataset,
        row.asset,
        as_utc(row.covered_from),
        as_utc(row.watermark),
        as_utc(row.recorded_at),
    )


def current(store: Store, source: str, dataset: str, asset: str) -> Watermark | None:
    """The latest watermark of (source, dataset, asset), or ``None`` when there is none."""
    query = (
        select(IngestWatermark)
        .where(
            col(IngestWatermark.source) == source,
            col(IngestWatermark.dataset) == dataset,
            col(IngestWatermark.asset) == asset.upper(),
        )
        .order_by(col(IngestWatermark.id).desc())
        .limit(1)
    )
    with store.read_session() as session:
        row = session.scalars(query).first()
        return _of(row) if row is not None else None


def latest(store: Store, source: str | None = None) -> list[Watermark]:
    """The current watermark of every (source, dataset, asset), in no order (optionally of one
    source): one query, the latest row of each key."""
    last = select(func.max(col(IngestWatermark.id))).group_by(
        col(IngestWatermark.source), col(IngestWatermark.dataset), col(IngestWatermark.asset)
    )
    if source is not None:
        last = last.where(col(IngestWatermark.source) == source)
    query = select(IngestWatermark).where(col(IngestWatermark.id).in_(last))
    with store.read_session() as session:
        return [_of(row) for row in session.scalars(query)]


def history(store: Store, source: str | None = None) -> list[Watermark]:
    """Every watermark row, oldest first (optionally of one source)."""
    query = select(IngestWatermark).order_by(col(IngestWatermark.id))
    if source is not None:
        query = query.where(col(IngestWatermark.source) == source)
    with store.read_session() as session:
        return [_of(row) for row in session.scalars(query)]


def advance(
    store: Store,
    *,
    source: str,
    dataset: str,
    asset: str,
    start: datetime,
    end: datetime,
    recorded_at: datetime,
    config_hash: str,
) -> Watermark | None:
    """Record that [start, end) is stored (``end`` already capped at what is closed); returns the
    new watermark, or ``None`` when coverage does not grow (contained, or a gap would open)."""
    if end <= start:
        return None
    with store.session() as session:
        # Read the current row in the writing transaction, so two fetches cannot both advance
        # from the same row and lose one another's coverage.
        row = session.scalars(
            select(IngestWatermark)
            .where(
                col(IngestWatermark.source) == source,
                col(IngestWatermark.dataset) == dataset,
                col(IngestWatermark.asset) == asset.upper(),
            )
            .order_by(col(IngestWatermark.id).desc())
            .limit(1)
        ).first()
        now = _of(row) if row is not None else None
        if now is None:
            covered_from, watermark = start, end
        elif start <= now.watermark and end >= now.covered_from:  # touches or overlaps
            covered_from, watermark = min(now.covered_from, start), max(now.watermark, end)
            if (covered_from, watermark) == (now.covered_from, now.watermark):
                return None
        else:
            return None
        new = IngestWatermark(
            source=source,
            dataset=dataset,
            asset=asset.upper(),
            covered_from=covered_from,
            watermark=watermark,
            recorded_at=recorded_at,
            software_version=SOFTWARE_VERSION,
            config_hash=config_hash,
        )
        session.add(new)
        session.flush()
        return _of(new)
