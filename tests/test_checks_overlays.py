"""Funding-rate and open-interest checks on what the store keeps (the overlay tables)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from audit_store.db import Store
from audit_store.snapshots import RawResponse, append_snapshot, new_snapshot
from audit_store.tables_ingest import append_derived_rows
from reporting.checks import run_checks
from reporting.checks.overlays import StoreOverlays
from reporting.config import Settings
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import DAY, flat_day, hour, make_limits, result, with_limits


def keep(store: Store, table: str, rows: Sequence[dict[str, Any]]) -> str:
    """One snapshot holding ``rows`` of an overlay table; returns its body's SHA-256."""
    raw = RawResponse(
        source="binance", kind=f"test.{table}", url=f"https://api.invalid/{table}", params={},
        fetched_at=hour(23) + timedelta(days=2), http_status=200,
        body=json.dumps(rows, default=str).encode(),
    )  # fmt: skip
    with store.session() as session:
        snapshot = new_snapshot(raw, software_version="test", config_hash="test")
        append_snapshot(session, snapshot)
        append_derived_rows(session, snapshot, table, rows)
        return snapshot.body_sha256


def funding(exchange: str, instrument: str, at: datetime, rate: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": instrument,
            "quote": "USDT", "funding_time": at, "funding_rate": rate, "realized_rate": None,
            "mark_price": None}  # fmt: skip


def oi(exchange: str, at: datetime, usd: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": "BTCUSDT",
            "quote": "USDT", "ts": at, "period_seconds": 3600, "oi_contracts": None,
            "oi_base": None, "oi_usd": usd}  # fmt: skip


@pytest.fixture
def overlay_settings(make_settings: SettingsFactory) -> Settings:
    limits = make_limits(funding_swing={"warn": 4, "breach": 8}, oi_change={"warn": 5, "breach": 9})
    return with_limits(make_settings(), limits, assets=("btc",))


def test_checks_read_the_stored_overlays(store: Store, overlay_settings: Settings) -> None:
    store_hours(store, "btc", flat_day({"binc": 10.0}))
    y = timedelta(days=1)
    sha_f = keep(store, "funding_rate", [
        funding("binc", "BTCUSDT", hour(16) - y, 0.0001),
        funding("binc", "BTCUSDT", hour(0), -0.0004),
        funding("binc", "BTCUSDT", hour(8), -0.0007),
        funding("binc", "BTCUSDT", hour(16), -0.0012),
    ])  # fmt: skip
    sha_o = keep(
        store, "open_interest", [oi("binc", hour(23) - y, 1000.0), oi("binc", hour(23), 920.0)]
    )
    _m, stored = run_checks(store, overlay_settings, DAY)
    swing = result(list(stored.results), "funding_swing", "BTC")
    assert swing.status == "breach" and swing.observed == pytest.approx(8.0)  # -4 .. -12 bps
    assert json.loads(swing.evidence_json) == [sha_f]
    change = result(list(stored.results), "oi_change", "BTC")
    assert change.status == "warn" and change.observed == pytest.approx(8.0)  # 1000 -> 920
    assert json.loads(change.evidence_json) == [sha_o]


def test_without_overlays_the_checks_say_so(store: Store, overlay_settings: Settings) -> None:
    store_hours(store, "btc", flat_day({"binc": 10.0}))
    _m, stored = run_checks(store, overlay_settings, DAY)
    assert "no funding-rate data" in result(list(stored.results), "funding_swing", "BTC").message
    assert "no open-interest data" in result(list(stored.results), "oi_change", "BTC").message


def test_store_overlays_infer_the_funding_interval(store: Store) -> None:
    keep(store, "funding_rate", [funding("okex", "BTC-USDT-SWAP", hour(h), 0.0001)
                                 for h in (0, 4, 8, 12)])  # fmt: skip
    points = StoreOverlays(store).funding_rates("demo", "btc", hour(0), hour(0) + timedelta(days=1))
    assert {p.interval_hours for p in points} == {4.0}
    assert points[0].bps_per_8h == pytest.approx(2.0)  # 1 bp per 4 h
    assert points[0].venue == "okex BTC-USDT-SWAP"
