"""Intraday limit results: each crossing of an intraday limit found on a committed stream batch.

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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


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


INTRADAY_TABLES: tuple[str, ...] = ("intraday_result",)
"""Every table of this module; all append-only."""
