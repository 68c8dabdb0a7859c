"""Versions and corrections: every value the store ever held for an interval, and what changed.

The store keeps every snapshot and every row derived from it; the current value of (source, asset,
exchange, interval) is the one from the latest snapshot (highest leaf) that holds it. When a later
snapshot holds a different value, that is a **correction**: the earlier value and the snapshot it
came from stay in the store, visible here with the time each was fetched (MiFID II Art. 72 asks
that corrections, and the content before them, can be seen). A re-fetch that returns the same
value is another version but no correction.

* :func:`versions` lists, for one key, every stored version with its snapshot, leaf, fetch time
  and the Kaiko ``data_version`` of the response it came from;
* :func:`corrections` lists the corrections of a range (:func:`corrections_for_day` of a UTC day),
  each with the value before and after, the fields that changed and both snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Executable, Table, bindparam, literal_column, select
from sqlmodel import Session, SQLModel, col

from audit_store.canonical import as_utc, utc_iso
from audit_store.db import Store
from audit_store.models import ALL_EXCHANGES, IntervalVolume, Snapshot
from reporting.fetch.sources.kaiko.format import query_block
from reporting.records import HOUR, IntervalValues, Volumes, day_bounds

FIELDS = ("long_count", "short_count", "total_count", "long_usd", "short_usd", "total_usd")


@dataclass(frozen=True)
class Version:
    """One stored value of an interval, with the snapshot it was derived from."""

    snapshot_id: int
    leaf_index: int
    body_sha256: str
    fetched_at: datetime
    values: Volumes
    corrects_leaf_index: int | None = None  # as recorded by the snapshot, for the whole page
    data_version: str | None = None  # Kaiko's query.data_version of that response

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "leaf_index": self.leaf_index,
            "body_sha256": self.body_sha256,
            "fetched_at": utc_iso(self.fetched_at),
            "corrects_leaf_index": self.corrects_leaf_index,
            "data_version": self.data_version,
            **{f: getattr(self.values, f) for f in FIELDS},
        }


@dataclass(frozen=True)
class Correction:
    """A later snapshot holding a different value for the same interval."""

    source: str
    asset: str
    exchange: str
    interval_start: datetime
    interval_seconds: int
    before: Version
    after: Version

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(
            f for f in FIELDS if getattr(self.before.values, f) != getattr(self.after.values, f)
        )

    def describe(self) -> str:
        where = "all exchanges" if self.exchange == ALL_EXCHANGES else self.exchange
        what = "; ".join(
            f"{f} {getattr(self.before.values, f):,} -> {getattr(self.after.values, f):,}"
            for f in self.changed
        )
        return (
            f"{self.asset} {where} {self.interval_start:%Y-%m-%d %H:%M}Z: {what} "
            f"(leaf {self.before.leaf_index} fetched {utc_iso(self.before.fetched_at)}, "
            f"corrected by leaf {self.after.leaf_index} fetched {utc_iso(self.after.fetched_at)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "asset": self.asset,
            "exchange": self.exchange,
            "interval_start": utc_iso(self.interval_start),
            "interval_seconds": self.interval_seconds,
            "changed": list(self.changed),
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }


def _select() -> Any:
    return (
        select(
            col(IntervalVolume.asset),
            col(IntervalVolume.exchange),
            col(IntervalVolume.interval_start),
            col(IntervalVolume.interval_seconds),
            *(col(getattr(IntervalVolume, f)) for f in FIELDS),
            col(Snapshot.id),
            col(Snapshot.leaf_index),
            col(Snapshot.body_sha256),
            col(Snapshot.fetched_at),
            col(Snapshot.corrects_leaf_index),
        )
        .join(Snapshot, col(Snapshot.id) == IntervalVolume.snapshot_id)
        .where(col(Snapshot.quarantined).is_(False))
        .order_by(col(Snapshot.leaf_index), col(IntervalVolume.row_index))
    )


def _version(row: Any, data_version: str | None = None) -> Version:
    return Version(
        snapshot_id=row[10],
        leaf_index=row[11],
        body_sha256=row[12],
        fetched_at=as_utc(row[13]),
        values=Volumes(*row[4:10]),
        corrects_leaf_index=row[14],
        data_version=data_version,
    )


def versions(
    store: Store,
    *,
    source: str,
    asset: str,
    interval_start: datetime,
    exchange: str = ALL_EXCHANGES,
    interval_seconds: int = HOUR,
) -> list[Version]:
    """Every stored version of one interval's value, oldest leaf first (the last is current)."""
    query = _select().where(
        col(IntervalVolume.source) == source,
        col(IntervalVolume.asset) == asset.upper(),
        col(IntervalVolume.exchange) == exchange,
        col(IntervalVolume.interval_start) == interval_start,
        col(IntervalVolume.interval_seconds) == interval_seconds,
    )
    out: list[Version] = []
    with store.read_session() as session:
        for row in session.execute(query):
            body = session.execute(
                select(col(Snapshot.body)).where(col(Snapshot.id) == row[10])
            ).scalar_one()
            block = query_block(body) or {}
            version = block.get("data_version")
            out.append(_version(row, version if isinstance(version, str) else None))
    return out


def corrections(
    store: Store,
    *,
    source: str,
    start: datetime,
    end: datetime,
    assets: Iterable[str] | None = None,
) -> list[Correction]:
    """Every correction of an interval starting in [start, end), in interval and leaf order."""
    query = _select().where(
        col(IntervalVolume.source) == source,
        col(IntervalVolume.interval_start) >= start,
        col(IntervalVolume.interval_start) < end,
    )
    if assets is not None:
        query = query.where(col(IntervalVolume.asset).in_([a.upper() for a in assets]))
    last: dict[tuple[str, str, datetime, int], Version] = {}
    found: list[Correction] = []
    with store.read_session() as session:
        for row in session.execute(query):
            key = (row[0], row[1], as_utc(row[2]), row[3])
            version = _version(row)
            before = last.get(key)
            if before is not None and before.values != version.values:
                found.append(Correction(source, key[0], key[1], key[2], key[3], before, version))
            last[key] = version
    found.sort(key=lambda c: (c.interval_start, c.asset, c.exchange, c.after.leaf_index))
    return found


def corrections_for_day(
    store: Store, *, source: str, day: date, assets: Iterable[str] | None = None
) -> list[Correction]:
    start, end = day_bounds(day)
    return corrections(store, source=source, start=start, end=end, assets=assets)


# -- what a new page changes (used by ingest, in the page's transaction)

_ASSET_OF, _EXCHANGE_OF, _START_OF = itemgetter(1), itemgetter(2), itemgetter(3)
_VALUES = ("long_count", "short_count", "total_count", "long_usd", "short_usd", "total_usd")
_Key = tuple[str, str, datetime, int]


def _key(asset: str, exchange: str, start: datetime, seconds: int) -> _Key:
    return (asset, exchange, as_utc(start), seconds)


_IV: Table = SQLModel.metadata.tables["interval_volume"]
_ANY_STORED: Executable = (
    select(literal_column("1"))
    .select_from(_IV)
    .where(
        _IV.c.source == bindparam("source"),
        _IV.c.asset == bindparam("asset"),
        _IV.c.exchange == ALL_EXCHANGES,  # every stored interval has its total row
        _IV.c.interval_start >= bindparam("lo"),
        _IV.c.interval_start <= bindparam("hi"),
    )
    .limit(1)
)


def changed_values(
    session: Session, source: str, records: Sequence[IntervalValues]
) -> tuple[int, int | None]:
    """How many of the rows ``records`` change a current value, and the latest leaf whose value they
    change (``None`` when none)."""
    if not records:
        return 0, None
    starts = list(map(_START_OF, records))
    lo, hi = min(starts), max(starts)
    assets = sorted(set(map(_ASSET_OF, records)))
    connection = session.connection()
    if not any(
        connection.execute(_ANY_STORED, {"source": source, "asset": a, "lo": lo, "hi": hi}).first()
        for a in assets
    ):
        return 0, None  # nothing stored for these intervals yet (every backfill page): no query
    new = {_key(r[1], r[2], r[3], r[4]): r[5:] for r in records}  # key -> the six values
    query = (
        select(
            col(IntervalVolume.asset),
            col(IntervalVolume.exchange),
            col(IntervalVolume.interval_start),
            col(IntervalVolume.interval_seconds),
            *(col(getattr(IntervalVolume, v)) for v in _VALUES),
            col(Snapshot.leaf_index),
        )
        .join(Snapshot, col(Snapshot.id) == IntervalVolume.snapshot_id)
        .where(
            col(IntervalVolume.source) == source,
            col(IntervalVolume.asset).in_(assets),
            # The exchanges too, so the (source, asset, exchange, interval_start) index seeks
            # straight to the page's intervals instead of scanning the asset's history.
            col(IntervalVolume.exchange).in_(sorted(set(map(_EXCHANGE_OF, records)))),
            col(IntervalVolume.interval_start) >= lo,
            col(IntervalVolume.interval_start) <= hi,
            col(Snapshot.quarantined).is_(False),
        )
        .order_by(col(Snapshot.leaf_index), col(IntervalVolume.row_index))
    )
    current: dict[_Key, tuple[tuple[object, ...], int]] = {}
    for row in session.execute(query):
        current[_key(row[0], row[1], row[2], row[3])] = (tuple(row[4:10]), row[10])
    leaves = [leaf for key, (values, leaf) in current.items() if key in new and new[key] != values]
    return len(leaves), max(leaves, default=None)
