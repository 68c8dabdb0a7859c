"""Ingestion's tables: overlays and a second liquidation source derived from snapshots, and
watermarks. All append-only (the triggers are in migration ``0004``).

Derived tables, like ``interval_volume``: every row points at the snapshot it was derived from and
its position in what that snapshot's deriver returns (``row_index``), so ``liqrisk verify`` can
re-derive it from the raw bytes and compare. The current value of a key is the one from the latest
snapshot (highest leaf) that holds it; earlier values stay, as the record of what was seen when.

* ``funding_rate``      one funding settlement of one perpetual: Binance ``/fapi/v1/fundingRate``,
                        OKX ``/api/v5/public/funding-rate-history``. ``funding_rate`` is the rate
                        of that funding interval as a fraction (-0.0004 is -0.04% per 8h).
* ``open_interest``     one open-interest observation of one perpetual: Binance
                        ``/futures/data/openInterestHist``, OKX
                        ``/api/v5/rubik/stat/contracts/open-interest-history``.
* ``liquidation_order`` one filled liquidation order from OKX ``/api/v5/public/liquidation-orders``,
                        its size in contracts as OKX gives it (converted to USD only when read,
                        with the contract value of ``instrument_spec``).
* ``instrument_spec``   one instrument's contract specification, from OKX
                        ``/api/v5/public/instruments``: contract value, multiplier, value currency,
                        linear or inverse.

And one table that is not derived:

* ``ingest_watermark``  per source, dataset and asset: every closed interval in
                        [``covered_from``, ``watermark``) is stored. An advance is a new row; the
                        current watermark is the latest row (highest id).

``source`` is where a row came from (``binance``, ``okx``, ``demo``); ``exchange`` the venue it is
about, as an exchange code (``binc``, ``okex``); ``asset`` the base asset in liqrisk's spelling
(``BTC``), ``instrument`` the venue's name for the contract, verbatim (``BTC-USDT-SWAP``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, Session, SQLModel

from audit_store.bulk import insert_rows
from audit_store.models import Snapshot
from audit_store.tables_streams import NOT_DERIVED_COLUMNS, STREAM_DERIVED_TABLES


def _timestamp() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class FundingRate(SQLModel, table=True):
    __tablename__ = "funding_rate"
    __table_args__ = (
        Index("ix_funding_rate_key", "source", "asset", "exchange", "instrument", "funding_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    source: str
    exchange: str
    asset: str
    instrument: str
    quote: str
    funding_time: datetime = _timestamp()
    funding_rate: float
    realized_rate: float | None = None  # OKX: the rate actually settled
    mark_price: float | None = None  # Binance: the mark price of the settlement


class OpenInterest(SQLModel, table=True):
    __tablename__ = "open_interest"
    __table_args__ = (
        Index("ix_open_interest_key", "source", "asset", "exchange", "instrument", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    source: str
    exchange: str
    asset: str
    instrument: str
    quote: str
    ts: datetime = _timestamp()
    period_seconds: int
    oi_contracts: float | None = None  # OKX: in contracts
    oi_base: float | None = None  # in the base asset (Binance sumOpenInterest, OKX oiCcy)
    oi_usd: float | None = None  # Binance sumOpenInterestValue, OKX oiUsd


class LiquidationOrder(SQLModel, table=True):
    __tablename__ = "liquidation_order"
    __table_args__ = (Index("ix_liquidation_order_key", "source", "asset", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    source: str
    exchange: str
    asset: str
    instrument: str
    quote: str
    ts: datetime = _timestamp()
    side: str  # the liquidation order's side: "buy" closes a short, "sell" closes a long
    pos_side: str  # as sent: "long", "short" (or "net")
    direction: str  # the liquidated position: "long" or "short"
    size: float  # contracts (SWAP/FUTURES), as OKX gives it
    bankruptcy_price: float
    bankruptcy_loss: float | None = None


class InstrumentSpec(SQLModel, table=True):
    __tablename__ = "instrument_spec"
    __table_args__ = (Index("ix_instrument_spec_key", "source", "instrument"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    source: str
    exchange: str
    asset: str
    instrument: str
    quote: str
    inst_type: str  # "SWAP", "FUTURES"
    settle_ccy: str
    ct_val: float  # contract value, in ct_val_ccy
    ct_mult: float
    ct_val_ccy: str  # "BTC" (linear: a contract is ct_val BTC) or "USD" (inverse)
    ct_type: str  # "linear" or "inverse"
    state: str  # "live", "suspend", ...


class IngestWatermark(SQLModel, table=True):
    __tablename__ = "ingest_watermark"
    __table_args__ = (Index("ix_ingest_watermark_key", "source", "dataset", "asset"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    dataset: str  # "liquidations", "funding", "open_interest"
    asset: str
    covered_from: datetime = _timestamp()
    watermark: datetime = _timestamp()  # exclusive end of what is closed and stored
    recorded_at: datetime = _timestamp()
    software_version: str
    config_hash: str


DERIVED_TABLES: Mapping[str, type[SQLModel]] = {
    "funding_rate": FundingRate,
    "open_interest": OpenInterest,
    "liquidation_order": LiquidationOrder,
    "instrument_spec": InstrumentSpec,
    **STREAM_DERIVED_TABLES,
}
"""Tables derived from snapshots, by name: what ``verify`` re-derives (the live streams' events
and rejected frames, :mod:`audit_store.tables_streams`, included)."""

DERIVED_FIELDS: Mapping[str, tuple[str, ...]] = {
    name: tuple(
        c
        for c in model.model_fields
        if c not in ("id", "snapshot_id", "row_index") and c not in NOT_DERIVED_COLUMNS
    )
    for name, model in DERIVED_TABLES.items()
}
"""Each derived table's value columns, in declaration order."""

INGEST_TABLES: tuple[str, ...] = (
    *(name for name in DERIVED_TABLES if name not in STREAM_DERIVED_TABLES),
    "ingest_watermark",
)
"""Every table of this module; all append-only."""


def append_derived_rows(
    session: Session,
    snapshot: Snapshot,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    extra: Mapping[str, Sequence[Any]] | None = None,
) -> int:
    """Bulk-insert the rows of ``table`` derived from ``snapshot`` (one driver ``executemany``,
    :func:`audit_store.bulk.insert_rows`); returns how many. ``extra``: per column that is not
    derived (``stream_event.counted``), its value for each row, in order."""
    assert snapshot.id is not None
    fields = DERIVED_FIELDS[table]
    more = dict(extra or {})
    values = [
        (snapshot.id, i, *[row[k] for k in fields], *[column[i] for column in more.values()])
        for i, row in enumerate(rows)
    ]
    columns = ("snapshot_id", "row_index", *fields, *more)
    insert_rows(session, SQLModel.metadata.tables[table], columns, values)
    return len(values)
