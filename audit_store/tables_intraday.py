"""Intraday limit results: each crossing of an intraday limit found on a committed stream batch,
or on a fetched page of hourly interval volumes (``feed``, migration ``0016``).

Append-only (migration ``0013``). One row per event of an *episode*, the time a limit and scope
spend over it, never per evaluation:

* ``new``        the trailing window reached ``warn`` (status ``warn``) or ``breach``;
* ``escalated``  an episode at ``warn`` reached ``breach``;
* ``repeat``     still over, ``repeat_minutes`` after the episode's last row;
* ``resolved``   the window stayed under the hysteresis level (``resolve_below_pct`` of ``warn``)
                 for ``resolve_after_minutes``: the episode is over (status ``ok``);
* ``error``      the evaluation of a batch failed; the batch was stored all the same, and the
                 next batch evaluates again (``detail`` says what failed).

Each row carries what a daily result does: the observed value, ``warn_at`` and ``limit`` with the
scope they came from, the window (``window_start`` inclusive, ``window_end`` exclusive, whole
minutes of exchange time), the limit set's SHA-256, the snapshot (batch) evaluated, and the leaf
indices of the batches whose minute sums make the window (``leaves_json``). ``episode`` names the
episode by its limit, scope and first window end, so a message's idempotency key is derived from
the data, and a batch evaluated again enqueues nothing twice.

``intraday_acknowledgement`` (migration ``0015``, append-only too) records who acknowledged an
intraday alert, when and why. It names the row it was given through and that row's episode (an
episode is acknowledged as a whole, through any of its rows), and it is hash-chained like the
daily ``acknowledgement`` but on a chain of its own: ``result_sha256`` is the SHA-256 of the row's
canonical fields as the acker saw them, ``previous_sha256`` the entry hash of the intraday
acknowledgement before it (the first: ``GENESIS_SHA256`` of :mod:`audit_store.tables_limits`),
``entry_sha256`` the hash of its own canonical content (:func:`intraday_ack_entry_sha256`), so a
removed or altered row shows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit_store.canonical import canonical_json, utc_iso

STREAMS_FEED = "streams"
"""``intraday_result.feed`` of a row measured on a committed stream batch."""


def _timestamp() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class IntradayResult(SQLModel, table=True):
    __tablename__ = "intraday_result"
    __table_args__ = (Index("ix_intraday_result_scope", "limit_name", "scope", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)  # the batch evaluated
    limit_name: str  # the limit's table, "velocity_usd_15m"
    measure: str  # "usd" | "count"
    window_minutes: int
    scope: str  # "BTC/binc" (per asset and exchange) or "BTC" (per asset)
    source: str  # where the levels came from: "asset_exchange BTC/binc", "global", ...
    kind: str  # new | escalated | repeat | resolved | error
    status: str  # warn | breach | ok | error
    episode: str  # "velocity_usd_15m|BTC/binc|2025-10-22T09:45:00+00:00"
    observed: float
    warn_at: float
    limit: float
    window_start: datetime = _timestamp()
    window_end: datetime = _timestamp()
    limit_set_sha256: str
    leaves_json: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of leaf indices
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = _timestamp()
    # 0016: which figures the row measured: "streams" (a committed stream batch) or the name of an
    # hourly interval-volume source ("kaiko", "demo"); an episode is followed per feed
    feed: str = Field(
        default=STREAMS_FEED, sa_column=Column(Text, nullable=False, server_default=STREAMS_FEED)
    )


class IntradayAcknowledgement(SQLModel, table=True):
    __tablename__ = "intraday_acknowledgement"
    __table_args__ = (
        UniqueConstraint("entry_sha256", name="uq_intraday_acknowledgement_entry_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="intraday_result.id", index=True)  # the row acked through
    episode: str = Field(index=True)  # that row's episode: what is acknowledged
    acked_by: str
    comment: str = Field(sa_column=Column(Text, nullable=False))
    acked_at: datetime = _timestamp()
    result_sha256: str  # the row as the acker saw it: tables_limits.ack_result_sha256
    previous_sha256: str  # entry_sha256 of the intraday acknowledgement before, or GENESIS_SHA256
    entry_sha256: str


def intraday_ack_entry_sha256(ack: IntradayAcknowledgement) -> str:
    """The chained hash of one intraday acknowledgement: its content and the hash before it."""
    content = {
        "result_id": ack.result_id,
        "episode": ack.episode,
        "acked_by": ack.acked_by,
        "comment": ack.comment,
        "acked_at": utc_iso(ack.acked_at),
        "result_sha256": ack.result_sha256,
        "previous_sha256": ack.previous_sha256,
    }
    return hashlib.sha256(canonical_json(content)).hexdigest()


INTRADAY_TABLES: tuple[str, ...] = ("intraday_result", "intraday_acknowledgement")
"""Every table of this module, in the order they depend on each other; all append-only."""
