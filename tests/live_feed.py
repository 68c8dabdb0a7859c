"""Stream batches for the intraday measure tests: Binance frames, one batch a minute, stored through
the real :func:`.writer.store_batch` with :func:`.intraday.evaluate_batch` as the batch hook (the
call the alert hook of :mod:`reporting.notify.intraday` makes, without its messages)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from reporting.checks.intraday import evaluate_batch
from reporting.checks.limits import LimitSet
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings, load_settings
from reporting.fetch.streams.venues import stream_specs
from reporting.fetch.streams.writer import CommittedBatch, PendingBatch, StoredBatch, store_batch
from tests.ws_venues import binance_frame


def limit_settings(tables: Mapping[str, Any]) -> Settings:
    """The packaged settings with ``tables`` added to the limit set."""
    base = load_settings(env={})
    data = {**base.limits.model_dump(mode="json"), **tables}
    return base.model_copy(update={"limits": LimitSet.model_validate(data)})


class LiveFeed:
    """Binance batches, one a minute from ``t0``, stored through the real writer with
    :func:`evaluate_batch` as the batch hook (the same call the alert hook makes)."""

    def __init__(self, store: Store, settings: Settings, t0: datetime) -> None:
        self.store = store
        self.settings = settings
        self.t0 = t0
        self.now = t0
        self.spec = stream_specs(settings, ("binance",))[0]
        self.sha = limit_set_sha256(settings.limits)
        self.jurisdictions = {c: e.jurisdiction for c, e in settings.exchanges.items()}

    def hook(self, session: Session, batch: CommittedBatch) -> int:
        found = evaluate_batch(
            session,
            self.settings.limits,
            self.jurisdictions,
            batch,
            limit_set_sha256=self.sha,
            now=self.now,
        )
        return len(found)

    def minute(self, n: int, btc: tuple[float, float] = (0.0, 0.0)) -> StoredBatch:
        """A batch at minute ``n`` with BTC liquidations of ``(long USD, short USD)`` (an ETH
        event of 1 USD keeps a batch without BTC non-empty)."""
        at = self.t0 + timedelta(minutes=n, seconds=30)
        self.now = at + timedelta(seconds=1)
        ms = int(at.timestamp() * 1000)
        long_usd, short_usd = btc
        frames = [
            binance_frame("BTCUSDT", side, "1", f"{usd:.0f}", ms + i)
            for i, (side, usd) in enumerate((("SELL", long_usd), ("BUY", short_usd)))
            if usd > 0
        ] or [binance_frame("ETHUSDT", "SELL", "1", "1", ms)]
        batch = PendingBatch(
            self.spec.stream,
            self.spec.kind,
            self.spec.url,
            dict(self.spec.params),
            [(at, "c1", f.encode()) for f in frames],
        )
        return store_batch(self.store, batch, config_hash="test", after=self.hook)


def rows(store: Store, limit: str | None = None) -> list[IntradayResult]:
    with store.read_session() as session:
        query = select(IntradayResult).order_by(col(IntradayResult.id))
        if limit is not None:
            query = query.where(col(IntradayResult.limit_name) == limit)
        found = list(session.execute(query).scalars())
        session.expunge_all()
        return found
