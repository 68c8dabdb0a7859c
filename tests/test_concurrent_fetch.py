"""Two processes fetching the same range into one PostgreSQL store at once.

Each interval must be counted once (the current value is the latest snapshot's, never a sum of
both fetches), every leaf index distinct and consecutive, and the store must verify.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

from audit_store.db import Store
from audit_store.verify import verify_store
from reporting.checks.metrics import load_period
from reporting.config import load_settings
from reporting.fetch.derivers import derived_rows
from reporting.fetch.ingest import fetch

START = datetime(2025, 11, 1, tzinfo=UTC)
END = START + timedelta(days=3)
ASSETS = ("btc", "eth")


def _fetch_worker(url: str, barrier: Any) -> int:
    settings = load_settings(env={"LIQRISK_DATABASE_URL": url})
    store = Store(url)
    try:
        barrier.wait(30)
        summaries = fetch(store, settings, source="demo", assets=ASSETS, start=START, end=END)
        assert all(p.severity != "error" for s in summaries for p in s.problems)
        return sum(s.rows for s in summaries)
    finally:
        store.dispose()


def test_two_processes_fetching_the_same_range_count_each_interval_once(pg_url: str) -> None:
    store = Store(pg_url)
    store.create_schema()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        rows = pool.starmap(_fetch_worker, [(pg_url, barrier), (pg_url, barrier)])
    assert rows[0] == rows[1] > 0  # both fetched everything

    data = load_period(store, source="demo", assets=ASSETS, start=START, end=END)
    for asset in ("BTC", "ETH"):
        assert data[asset].intervals_received == 72
    single = Store("sqlite://")  # one fetch alone gives the figures to match
    single.create_schema()
    settings = load_settings(env={})
    fetch(single, settings, source="demo", assets=ASSETS, start=START, end=END)
    alone = load_period(single, source="demo", assets=ASSETS, start=START, end=END)
    for asset in ("BTC", "ETH"):
        assert data[asset].totals == alone[asset].totals
        assert data[asset].by_exchange == alone[asset].by_exchange

    report = verify_store(store, derived_rows)
    assert report.ok, report.summary_lines()
    store.dispose()
