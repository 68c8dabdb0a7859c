"""Stream batches for the intraday measure tests: Binance frames, one batch a minute, stored through
the real :func:`.writer.store_batch` with :func:`.intraday.evaluate_batch` as the batch hook (the
call the alert hook of :mod:`reporting.notify.intraday` makes, without its messages)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from reporting.checks.intraday import evaluate_batch
from reporting.checks.limits import LimitSet
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings, load_settings
from reporting.fetch.streams.writer import CommittedBatch, StoredBatch
from tests.intraday_helpers import Feed


def limit_settings(tables: Mapping[str, Any]) -> Settings:
    """The packaged settings with ``tables`` added to the limit set."""
    base = load_settings(env={})
    data = {**base.limits.model_dump(mode="json"), **tables}
    return base.model_copy(update={"limits": LimitSet.model_validate(data)})


class LiveFeed(Feed):
    """:class:`.intraday_helpers.Feed` with :func:`evaluate_batch` as the batch hook (the same call
    the alert hook makes, without its messages), and BTC orders by side."""

    def __init__(self, store: Store, settings: Settings, t0: datetime) -> None:
        super().__init__(store, settings, t0)
        self.sha = limit_set_sha256(settings.limits)
        self.jurisdictions = {c: e.jurisdiction for c, e in settings.exchanges.items()}
        self.hook = self.evaluate  # type: ignore[assignment]

    def evaluate(self, session: Session, batch: CommittedBatch) -> int:
        found = evaluate_batch(
            session,
            self.settings.limits,
            self.jurisdictions,
            batch,
            limit_set_sha256=self.sha,
            now=self.now,
        )
        return len(found)

    def minute(self, n: int, btc: tuple[float, float] = (0.0, 0.0)) -> StoredBatch:  # type: ignore[override]
        """A batch at minute ``n`` with BTC liquidations of ``(long USD, short USD)`` (an ETH
        event of 1 USD keeps a batch without BTC non-empty)."""
        long_usd, short_usd = btc
        return self.batch(n, [("BTCUSDT", "SELL", long_usd), ("BTCUSDT", "BUY", short_usd)])


def rows(store: Store, limit: str | None = None) -> list[IntradayResult]:
    with store.read_session() as session:
        query = select(IntradayResult).order_by(col(IntradayResult.id))
        if limit is not None:
            query = query.where(col(IntradayResult.limit_name) == limit)
        found = list(session.execute(query).scalars())
        session.expunge_all()
        return found
