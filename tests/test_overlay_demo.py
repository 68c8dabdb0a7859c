"""The demo's funding and open interest: deterministic, faithful to the stress day, fetched through
the real Binance and OKX clients into the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit_store.db import Store
from reporting.checks.overlay_store import funding_rates, open_interest
from reporting.config import Settings
from reporting.fetch.derivers import verify_derived_tables
from reporting.fetch.ingest import fetch
from reporting.fetch.sources.demo import generate_overlays as overlays

STRESS = datetime(2025, 11, 3, tzinfo=UTC)


def test_the_figures_are_the_same_on_every_computation() -> None:
    cached = (overlays.funding(), overlays.open_interest())
    overlays.funding.cache_clear()
    overlays.open_interest.cache_clear()
    assert (overlays.funding(), overlays.open_interest()) == cached
    assert len(cached[0]) == 21 * 3 * 5 * 2 and len(cached[1]) == 21 * 24 * 5 * 2


def test_the_stress_day_swings_funding_from_minus_4_to_minus_12_bp_per_8h() -> None:
    btc = {
        (s.exchange, s.time): s.rate
        for s in overlays.funding()
        if s.asset == "btc" and s.time.date() == STRESS.date()
    }
    for exchange in ("binc", "okex"):
        assert btc[(exchange, STRESS + timedelta(hours=8))] == pytest.approx(-0.0004, abs=1e-5)
        assert btc[(exchange, STRESS + timedelta(hours=16))] == pytest.approx(-0.0012, abs=1e-5)
    calm = [s.rate for s in overlays.funding() if s.time < datetime(2025, 10, 28, tzinfo=UTC)]
    assert all(-0.0001 < r < 0.0003 for r in calm)


def test_open_interest_falls_through_the_cascade_and_the_price_draws_down() -> None:
    btc = {p.time: p for p in overlays.open_interest() if p.asset == "btc" and p.exchange == "binc"}
    before, after = btc[STRESS + timedelta(hours=13)], btc[STRESS + timedelta(hours=16)]
    assert after.oi_base < before.oi_base * 0.93
    price_before = before.oi_usd / before.oi_base
    price_after = after.oi_usd / after.oi_base
    assert price_after / price_before == pytest.approx(1 - 0.052, abs=0.01)


def test_fetched_through_the_real_clients_and_kept(settings: Settings, store: Store) -> None:
    summaries = fetch(
        store, settings, source="demo", assets=["btc"], start=STRESS,
        end=STRESS + timedelta(days=1), datasets=["funding", "open_interest"],
    )  # fmt: skip
    assert [s.source for s in summaries] == ["demo:funding", "demo:open_interest"]
    assert all(p.severity != "error" for s in summaries for p in s.problems)
    points = funding_rates(store, asset="BTC", start=STRESS, end=STRESS + timedelta(days=1))
    assert {p.exchange for p in points} == {"binc", "okex"} and len(points) == 6
    worst = min(points, key=lambda p: p.funding_rate)
    assert worst.funding_time == STRESS + timedelta(hours=16) and worst.funding_rate < -0.0011
    levels = open_interest(store, asset="BTC", start=STRESS, end=STRESS + timedelta(days=1))
    assert len(levels) == 48 and all(p.source == "demo" for p in levels)
    assert verify_derived_tables(store) == []
