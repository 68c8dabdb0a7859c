"""Intraday rows built the way the collector builds them: Binance frames stored as batches through
the real :func:`.writer.store_batch` with the :class:`.IntradayAlerts` hook, which evaluates the
intraday limits and enqueues the alerts in the batch's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from reporting.checks.limits import LimitSet
from reporting.config import Route, Settings, load_settings
from reporting.fetch.streams.venues import stream_specs
from reporting.fetch.streams.writer import PendingBatch, StoredBatch, store_batch
from reporting.notify.intraday import IntradayAlerts
from tests.notify_helpers import with_notify
from tests.ws_venues import binance_frame

T0 = datetime(2025, 10, 22, 9, 0, tzinfo=UTC)
RISK = "risk-desk@example.com"
LEVELS = {"warn": 900_000, "breach": 1_000_000}
VELOCITY_15M = {"velocity_usd_15m": {"asset_exchange": {"BTC/binc": LEVELS}, "repeat_minutes": 0}}


def intraday_settings(
    tables: Mapping[str, Any] = VELOCITY_15M, base: Settings | None = None
) -> Settings:
    """``base`` (the packaged settings) with ``tables`` added to its limit set, and breaches
    routed to :data:`RISK`."""
    base = base or load_settings(env={})
    data = {**base.limits.model_dump(mode="json"), **tables}
    settings = base.model_copy(update={"limits": LimitSet.model_validate(data)})
    return with_notify(settings, routes=(Route(severity=("breach",), to=(RISK,)),))


class Feed:
    """Batches of Binance frames, one a minute from ``t0``, stored through the real writer path."""

    def __init__(self, store: Store, settings: Settings, t0: datetime = T0) -> None:
        self.store = store
        self.settings = settings
        self.t0 = t0
        self.now = t0
        self.hook = IntradayAlerts(settings, clock=lambda: self.now)
        self.spec = stream_specs(settings, ("binance",))[0]
        self.stored: list[StoredBatch] = []

    def minute(self, n: int, usd: Mapping[str, float]) -> StoredBatch:
        """A batch at minute ``n`` after ``t0`` with one liquidation per asset of ``usd`` (0:
        none; an ETH event of 1 USD keeps the batch non-empty)."""
        orders = [(f"{asset}USDT", "SELL", amount) for asset, amount in sorted(usd.items())]
        return self.batch(n, orders)

    def batch(self, n: int, orders: Sequence[tuple[str, str, float]]) -> StoredBatch:
        """A batch at minute ``n`` after ``t0`` of one liquidation per ``(symbol, side, USD)``
        (orders of 0 USD left out; an ETH event of 1 USD keeps the batch non-empty), stored
        through the real writer with :attr:`hook`."""
        at = self.t0 + timedelta(minutes=n, seconds=30)
        self.now = at + timedelta(seconds=1)
        ms = int(at.timestamp() * 1000)
        frames = [
            binance_frame(symbol, side, "1", f"{usd:.0f}", ms + i)
            for i, (symbol, side, usd) in enumerate(orders)
            if usd > 0
        ] or [binance_frame("ETHUSDT", "SELL", "1", "1", ms)]
        batch = PendingBatch(
            self.spec.stream,
            self.spec.kind,
            self.spec.url,
            dict(self.spec.params),
            [(at, "c1", f.encode()) for f in frames],
        )
        stored = store_batch(self.store, batch, config_hash="test", after=self.hook)
        self.stored.append(stored)
        return stored

    def episode(self, first: int = 0, over: int = 21, quiet: int = 16) -> None:
        """100k USD of BTC a minute for ``over`` minutes from minute ``first`` (warn at the 9th
        minute, breach at the 10th), then ``quiet`` minutes of none (resolved at the 16th)."""
        for n in range(first, first + over):
            self.minute(n, {"BTC": 100_000})
        for n in range(first + over, first + over + quiet):
            self.minute(n, {})


def intraday_rows(store: Store) -> list[IntradayResult]:
    with store.read_session() as session:
        rows = list(
            session.execute(select(IntradayResult).order_by(col(IntradayResult.id))).scalars()
        )
        session.expunge_all()
    return rows
