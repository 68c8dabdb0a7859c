"""Checks pinned on hand-computed fixtures, stored with their evidence."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from audit_store.db import Store
from reporting.checks import evaluate, latest_run, run_checks
from reporting.config import Settings
from reporting.metrics import day_bounds, load_period
from tests.conftest import SettingsFactory
from tests.factories import store_hours

DAY = date(2025, 11, 3)
H = datetime(2025, 11, 3, tzinfo=UTC)


@pytest.fixture
def tight(make_settings: SettingsFactory, tmp_path: object) -> Settings:
    s = make_settings()
    limits = s.limits.model_copy(
        update={
            "daily_usd": s.limits.daily_usd.model_copy(
                update={"warn": 1000.0, "breach": 2000.0, "overrides": {}}
            ),
            "daily_usd_exchange": s.limits.daily_usd_exchange.model_copy(
                update={"warn": 800.0, "breach": 1500.0, "overrides": {}}
            ),
            "velocity_usd": s.limits.velocity_usd.model_copy(
                update={"warn": 500.0, "breach": 900.0, "overrides": {}}
            ),
        }
    )
    fetch = s.fetch.model_copy(update={"assets": ("btc", "eth")})
    return s.model_copy(update={"limits": limits, "fetch": fetch})


def full_day(
    amount_per_hour: dict[str, float],
) -> dict[datetime, dict[str, tuple[int, float, int, float]]]:
    return {
        H + timedelta(hours=h): {
            code: (1, usd / 2, 1, usd / 2) for code, usd in amount_per_hour.items()
        }
        for h in range(24)
    }


def status_of(results: list[object], check: str, scope: str) -> str:
    (hit,) = [r for r in results if r.check == check and r.scope == scope]  # type: ignore[attr-defined]
    return hit.status  # type: ignore[attr-defined, no-any-return]


def test_hand_computed_day(store: Store, tight: Settings) -> None:
    # BTC: 24 h x (binc 30 + okex 10) = 960 -> daily ok (< 1000); one spike hour adds 900 on binc.
    hours = full_day({"binc": 30.0, "okex": 10.0})
    hours[H + timedelta(hours=14)] = {"binc": (5, 850.0, 1, 80.0), "okex": (1, 5.0, 1, 5.0)}
    store_hours(store, "btc", hours)
    # ETH: nothing unusual, 24 h x 20 = 480.
    store_hours(store, "eth", full_day({"bbit": 20.0}))
    start, end = day_bounds(DAY)
    metrics = load_period(store, source="demo", assets=["btc", "eth"], start=start, end=end)
    btc = metrics["BTC"]
    assert btc.totals.total_usd == pytest.approx(23 * 40 + 940)  # 1860
    assert btc.by_exchange["binc"].total_usd == pytest.approx(23 * 30 + 930)  # 1620
    assert btc.largest_interval().volumes.total_usd == pytest.approx(940)  # type: ignore[union-attr]
    results = evaluate(metrics, DAY, tight)
    assert status_of(results, "daily_usd", "BTC") == "warn"  # 1860 in [1000, 2000)
    assert status_of(results, "daily_usd_exchange", "BTC/binc") == "breach"  # 1620 >= 1500
    assert status_of(results, "daily_usd_exchange", "BTC/okex") == "ok"  # 240
    assert status_of(results, "velocity_usd", "BTC") == "breach"  # 940 >= 900
    assert status_of(results, "daily_usd", "ETH") == "ok"
    assert status_of(results, "coverage", "ETH") == "ok"


def test_missing_asset_is_an_error_not_ok(store: Store, tight: Settings) -> None:
    store_hours(store, "btc", full_day({"binc": 1.0}))
    _metrics, stored = run_checks(store, tight, DAY)
    eth = [r for r in stored.results if r.scope == "ETH"]
    assert eth and all(r.status == "error" for r in eth)


def test_partial_day_warns_on_coverage(store: Store, tight: Settings) -> None:
    hours = full_day({"binc": 1.0})
    del hours[H + timedelta(hours=3)]
    store_hours(store, "btc", hours)
    _m, stored = run_checks(store, tight, DAY)
    (cov,) = [r for r in stored.results if r.check == "coverage" and r.scope == "BTC"]
    assert cov.status == "warn" and cov.observed == 23 and cov.limit == 24


def test_results_are_stored_with_evidence_and_limit_hash(store: Store, tight: Settings) -> None:
    snap = store_hours(store, "btc", full_day({"binc": 100.0}))
    _m, stored = run_checks(store, tight, DAY)
    again = latest_run(store, DAY)
    assert again is not None and again.run.id == stored.run.id
    assert len(again.run.limit_set_sha256) == 64
    (daily,) = [r for r in again.results if r.check == "daily_usd" and r.scope == "BTC"]
    assert daily.observed == pytest.approx(2400) and daily.status == "breach"
    assert daily.pct_of_limit == pytest.approx(120)
    with store.session() as session:
        from audit_store.models import Snapshot

        sha = session.get(Snapshot, snap).body_sha256  # type: ignore[union-attr]
    assert json.loads(daily.evidence_json) == [sha]


def test_a_crashing_check_becomes_an_error_result(
    store: Store, tight: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reporting import checks

    def boom(*_a: object) -> object:
        raise ZeroDivisionError("synthetic")

    monkeypatch.setitem(checks.ASSET_CHECKS, "velocity_usd", boom)
    store_hours(store, "btc", full_day({"binc": 1.0}))
    _m, stored = run_checks(store, tight, DAY)
    (vel,) = [r for r in stored.results if r.check == "velocity_usd" and r.scope == "BTC"]
    assert vel.status == "error" and "ZeroDivisionError" in vel.message
    assert any(r.check == "daily_usd" and r.status != "error" for r in stored.results)


def test_later_snapshot_is_the_current_value(store: Store, tight: Settings) -> None:
    store_hours(store, "btc", full_day({"binc": 10.0}))
    store_hours(store, "btc", {H: {"binc": (1, 500.0, 0, 0.0)}})  # a correction of hour 0
    start, end = day_bounds(DAY)
    btc = load_period(store, source="demo", assets=["btc"], start=start, end=end)["BTC"]
    assert btc.intervals_received == 24
    assert btc.totals.total_usd == pytest.approx(23 * 10 + 500)
