"""The live streams' tables: liquidation events derived from recorded websocket frames, the minute
aggregates kept beside them, and the record of every connection. All append-only (migration
``0009``).

A collector keeps the frames of one stream in batches: one batch is one snapshot (one leaf of the
log), its body every frame byte for byte with its receive time (the format is
:mod:`reporting.fetch.streams.frames`). From each batch:

* ``stream_event``          one liquidation as the venue sent it, normalised: ``side`` is the
                            position liquidated (``long`` or ``short``), whatever the venue's own
                            convention; ``quantity`` in the base asset, ``usd`` its notional.
                            Derived (``liqrisk verify`` re-derives it from the frames), except
                            ``counted``: false for an event already stored from an earlier batch
                            or an earlier frame of the same batch (a reconnect overlap, a venue
                            re-sending), by the venue's documented key ``dedup_key``. Set when the
                            batch is stored; verify checks that exactly the first of each key is
                            counted.
* ``stream_rejected_frame`` a frame that breaks the venue's documented format, with the reason;
                            the frame itself stays in the batch, byte for byte. Derived.
* ``stream_minute``         per batch, venue, asset and minute (of exchange time): the counted
                            events' long and short USD and counts. What checks and charts read;
                            verify recomputes it from the counted events.

And two tables that are not derived:

* ``stream_session``        one event of one connection: ``connect``, ``connect_failed``,
                            ``subscribed``, ``refused`` (a subscription), ``disconnect`` (with the
                            reason) and ``gap`` (a collector that ended without recording its
                            disconnect, found when the next one starts).
                            A minute is covered when a connection of the stream was subscribed
                            through it; anything else is a recorded gap.
* ``stream_lease``          who collects a stream: one collector at a time holds each stream's
                            lease and renews it; another host takes an expired lease over (and
                            records the gap the holder left). The current holder is the latest
                            row, so the table stays append-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def _timestamp() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class StreamEvent(SQLModel, table=True):
    __tablename__ = "stream_event"
    __table_args__ = (
        Index("ix_stream_event_time", "venue", "asset", "exchange_time"),
        Index("ix_stream_event_key", "venue", "dedup_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    venue: str  # "binance", "bybit", "okx"
    frame_index: int  # the frame's position in its batch
    instrument: str  # the venue's symbol, verbatim ("BTCUSDT", "BTC-USDT-SWAP")
    asset: str  # base asset, upper case ("BTC"; "1000PEPE" as the venue names the contract)
    quote: str  # "USDT", "USDC", "USD"
    side: str  # the position liquidated: "long" or "short"
    price: float
    quantity: float  # base asset
    usd: float  # quote notional
    exchange_time: datetime = _timestamp()
    receive_time: datetime = _timestamp()
    dedup_key: str
    counted: bool = True  # not derived: false for a duplicate of an earlier event


class StreamRejectedFrame(SQLModel, table=True):
    __tablename__ = "stream_rejected_frame"

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int
    venue: str
    frame_index: int
    receive_time: datetime = _timestamp()
    reason: str = Field(sa_column=Column(Text, nullable=False))


class StreamMinute(SQLModel, table=True):
    __tablename__ = "stream_minute"
    __table_args__ = (
        Index("ix_stream_minute_key", "venue", "asset", "minute"),
        Index("ix_stream_minute_asset", "asset", "minute"),  # 0013: an asset's window, all venues
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    venue: str
    asset: str
    minute: datetime = _timestamp()
    long_usd: float
    short_usd: float
    long_count: int
    short_count: int


class StreamSession(SQLModel, table=True):
    __tablename__ = "stream_session"
    __table_args__ = (Index("ix_stream_session_stream", "stream", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    stream: str  # "binance.usdm", "bybit.linear", "okx.swap"
    venue: str
    connection: str  # one id per connection
    event: str  # connect, connect_failed, subscribed, refused, disconnect, gap
    at: datetime = _timestamp()
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    host: str


class StreamLease(SQLModel, table=True):
    __tablename__ = "stream_lease"
    __table_args__ = (Index("ix_stream_lease_stream", "stream", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    stream: str
    holder: str  # host:pid:token of the collector
    event: str  # acquire, renew, release
    at: datetime = _timestamp()
    expires_at: datetime = _timestamp()


STREAM_DERIVED_TABLES: dict[str, type[SQLModel]] = {
    "stream_event": StreamEvent,
    "stream_rejected_frame": StreamRejectedFrame,
}
"""The stream tables re-derived from the frames, by name."""

NOT_DERIVED_COLUMNS = frozenset({"counted"})
"""Columns of the derived tables that are set when a batch is stored, not derived from it."""

STREAM_TABLES: tuple[str, ...] = (
    *STREAM_DERIVED_TABLES,
    "stream_minute",
    "stream_session",
    "stream_lease",
)
"""Every table of this module; all append-only."""
