"""Funding-rate and open-interest checks on what the store keeps (the overlay tables)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from audit_store.db import Store
from reporting.checks import overlay_store as overlays
from reporting.checks.overlays import StoreOverlays, venue_interval_hours
from reporting.checks.store import run_checks
from reporting.config import Settings
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import (
    DAY,
    flat_day,
    funding,
    hour,
    keep,
    make_limits,
    oi,
    result,
    with_limits,
)


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
    rows = overlays.funding_rates(
        store, asset="btc", start=hour(0), end=hour(0) + timedelta(days=1)
    )
    assert venue_interval_hours(rows) == {("okex", "BTC-USDT-SWAP"): 4.0}
    assert venue_interval_hours(rows[:1]) == {("okex", "BTC-USDT-SWAP"): 8.0}  # one settlement
