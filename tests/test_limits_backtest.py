"""Backtests: stored history replayed against a candidate limit set, equal to daily checks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from audit_store.db import Store
from reporting.checks.backtest import backtest, days_between, history_by_day
from reporting.checks.engine import CheckContext, LimitOutcome, evaluate
from reporting.checks.metrics import day_bounds, load_period
from reporting.checks.overlays import RangeOverlays, StoreOverlays
from reporting.config import Settings
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import flat_day, funding, hour, keep, make_limits, with_limits

D1 = date(2025, 11, 1)
PER_HOUR = {1: 100.0, 2: 50.0, 3: 10.0, 4: 100.0}  # day 5: no data


@pytest.fixture
def history(store: Store) -> Store:
    for n, usd in PER_HOUR.items():
        d = D1 + timedelta(days=n - 1)
        hours = flat_day({"binc": usd * 0.75, "okex": usd * 0.25}, day=d)
        hours[hour(14, d)] = {"binc": (9, usd * 3, 1, usd)}  # a busier hour, all on binc
        store_hours(store, "btc", hours)
    return store


@pytest.fixture
def btc_settings(make_settings: SettingsFactory) -> Settings:
    return with_limits(make_settings(), make_settings().limits, assets=("btc",))


def test_per_limit_warn_and_breach_days(history: Store, btc_settings: Settings) -> None:
    # day n: 23 x usd + 4 x usd = 27 x usd -> 2700, 1350, 270, 2700; day 5 has no data.
    candidate = make_limits(
        daily_usd={"warn": 1000, "breach": 2000},
        concentration={"warn": 80, "breach": 90},
    )
    result = backtest(history, btc_settings, candidate, D1, D1 + timedelta(days=4))
    tallies = {(t.check, t.scope): t for t in result.tallies}
    daily = tallies[("daily_usd", "BTC")]
    days = [D1 + timedelta(days=k) for k in range(5)]
    assert daily.breach_days == [days[0], days[3]]
    assert daily.warn_days == [days[1]]
    assert daily.error_days == [days[4]] and daily.ok_days == 1
    assert (daily.warn_at, daily.limit, daily.threshold_scope) == (1000, 2000, "global")
    # binc: 23 x 0.75 + 4 = 21.25 of 27 = 78.7% every day: ok; okex 21.3%: ok
    assert tallies[("concentration", "BTC/binc")].ok_days == 4
    assert result.days == 5 and len(result.limit_set_sha256) == 64
    assert {t.check for t in result.tallies} == {"daily_usd", "concentration"}


def test_backtest_agrees_with_the_daily_checks(history: Store, btc_settings: Settings) -> None:
    start, end = D1, D1 + timedelta(days=4)
    replayed = backtest(history, btc_settings, btc_settings.limits, start, end)
    by_day: dict[tuple[str, str, date], str] = {}
    for t in replayed.tallies:
        for status, days in (("warn", t.warn_days), ("breach", t.breach_days),
                             ("error", t.error_days)):  # fmt: skip
            for d in days:
                by_day[(t.check, t.scope, d)] = status
    compared = 0
    thresholds: dict[tuple[str, str], tuple[float | None, float | None, str | None]] = {}
    for d in days_between(start, end):
        begin, finish = day_bounds(d)
        metrics = load_period(history, source="demo", assets=["btc"], start=begin, end=finish)
        for r in evaluate(metrics, d, btc_settings):
            if r.check == "coverage":
                continue
            assert by_day.get((r.check, r.scope, d), "ok") == r.status, (r.check, r.scope, d)
            thresholds[(r.check, r.scope)] = (
                r.warn_at,
                r.limit,
                r.threshold_scope if isinstance(r, LimitOutcome) else None,
            )
            compared += 1
    assert compared > 40
    # the backtest grades without messages, but on the same thresholds as the daily run
    assert {
        (t.check, t.scope): (t.warn_at, t.limit, t.threshold_scope) for t in replayed.tallies
    } == thresholds


def test_history_is_cut_into_days_as_a_daily_load_would(
    history: Store, btc_settings: Settings
) -> None:
    days = history_by_day(history, btc_settings, D1, D1 + timedelta(days=4))
    for d, metrics in days.items():
        begin, finish = day_bounds(d)
        daily = load_period(history, source="demo", assets=["btc"], start=begin, end=finish)
        assert metrics["BTC"].totals == daily["BTC"].totals
        assert metrics["BTC"].by_exchange == daily["BTC"].by_exchange
        assert metrics["BTC"].intervals == daily["BTC"].intervals
        assert (metrics["BTC"].start, metrics["BTC"].end) == (begin, finish)
    assert days[D1 + timedelta(days=4)]["BTC"].intervals == ()


def test_a_venue_changing_its_funding_interval_is_read_per_day(
    history: Store, btc_settings: Settings
) -> None:
    # binc settles every 8 h on days 1-2, every 4 h from day 3: a daily run reads each day's
    # interval from that day and the one before, and so must the backtest (not the whole range).
    days = [D1 + timedelta(days=k) for k in range(5)]
    rates = {
        days[0]: {0: 0.0001, 8: 0.0003, 16: 0.0002},  # 1, 3, 2 bps per 8h: swing 2
        days[1]: {0: 0.0001, 8: 0.0003, 16: 0.0002},
        days[2]: {h: 0.0001 if h % 8 else 0.0004 for h in range(0, 24, 4)},  # 2 and 8: swing 6
        days[3]: {h: 0.0001 if h % 8 else 0.0002 for h in range(0, 24, 4)},  # 2 and 4: swing 2
    }
    keep(history, "funding_rate", [
        funding("binc", "BTCUSDT", hour(h, d), rate) for d, by in rates.items()
        for h, rate in by.items()
    ])  # fmt: skip
    candidate = make_limits(funding_swing={"warn": 3, "breach": 5})
    result = backtest(history, btc_settings, candidate, days[0], days[4])
    (swing,) = result.tallies
    assert (swing.check, swing.scope) == ("funding_swing", "BTC")
    assert swing.warn_days == []  # read over the whole range, days 1-2 doubled to 4 bps: warn
    assert swing.breach_days == [days[2]] and swing.error_days == [days[4]]
    assert swing.ok_days == 3
    ranged = RangeOverlays(history, day_bounds(days[0])[0], day_bounds(days[4])[1])
    daily = StoreOverlays(history)
    for d in days:
        begin, finish = day_bounds(d)
        assert ranged.funding_rates("demo", "BTC", begin, finish) == daily.funding_rates(
            "demo", "BTC", begin, finish
        )
        metrics = load_period(history, source="demo", assets=["btc"], start=begin, end=finish)
        ctx = CheckContext(overlays=daily)
        (graded,) = evaluate(metrics, d, btc_settings, context=ctx, limits=candidate)[1:]
        status = "breach" if d in swing.breach_days else "error" if d in swing.error_days else "ok"
        assert graded.status == status, d
    for d, hours in ((days[1], 8.0), (days[2], 4.0)):
        points = ranged.funding_rates("demo", "BTC", *day_bounds(d))
        assert {p.interval_hours for p in points} == {hours}


def test_a_crashing_check_is_an_error_day_of_the_backtest(
    history: Store, btc_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reporting.checks import engine

    def boom(*_a: object) -> object:
        raise ZeroDivisionError("synthetic")

    monkeypatch.setitem(engine.MEASURES, "velocity_usd", boom)
    result = backtest(history, btc_settings, btc_settings.limits, D1, D1 + timedelta(days=3))
    (velocity,) = [t for t in result.tallies if t.check == "velocity_usd"]
    assert velocity.scope == "BTC" and len(velocity.error_days) == 4 and velocity.ok_days == 0
    assert (velocity.warn_at, velocity.limit, velocity.threshold_scope) == (None, None, None)
    daily = [t for t in result.tallies if t.check == "daily_usd"]
    assert daily and not daily[0].error_days  # the other checks still graded
