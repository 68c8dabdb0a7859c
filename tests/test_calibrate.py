"""Calibration on synthetic histories whose true percentiles are known; the Weibull cluster fit."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from reporting.checks.backtest import measure_history
from reporting.checks.calibrate import (
    Calibration,
    cluster_fit,
    cluster_starts,
    gaps_hours,
    percentile_cis,
    proposals_toml,
    propose,
    round_sig,
    weibull_cdf,
    weibull_fit,
)
from reporting.checks.limits import LimitSet
from reporting.checks.metrics import AssetDay
from tests.limit_factories import asset_day, hour, make_limits

START = date(2025, 1, 1)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_percentile_of_a_lognormal_history_is_recovered_within_its_interval() -> None:
    # 4000 days from a log-normal (mu 0, sigma 1): the true p99 is exp(2.326348) = 10.2405.
    values = np.random.default_rng(11).lognormal(0.0, 1.0, 4000)
    (p99,) = percentile_cis(values.tolist(), [99.0], resamples=1000, seed=3)
    truth = math.exp(2.3263478740408408)
    assert p99.low < truth < p99.high
    assert p99.estimate == pytest.approx(truth, rel=0.08)
    assert p99.high - p99.low < 0.25 * truth  # 4000 days pin it down
    # neither the sample maximum nor the p95 (5.18), which a wrong estimator would give
    assert p99.estimate < 0.7 * float(values.max())
    assert p99.estimate > 1.5 * math.exp(1.6448536269514722)


def test_bootstrap_intervals_cover_the_truth_about_as_often_as_they_claim() -> None:
    # p90 of an exponential(1) is ln 10; 120 histories of 300 days, 90% intervals.
    rng = np.random.default_rng(5)
    truth = math.log(10.0)
    hits = 0
    for rep in range(120):
        values = rng.exponential(1.0, 300).tolist()
        (ci,) = percentile_cis(values, [90.0], confidence=0.9, resamples=400, seed=rep)
        hits += ci.low <= truth <= ci.high
    assert 0.78 <= hits / 120 <= 0.98


def test_percentile_cis_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile_cis([], [99.0])
    with pytest.raises(ValueError, match="confidence"):
        percentile_cis([1.0], [99.0], confidence=1.5)


def grid_history(days: int) -> dict[date, dict[str, AssetDay]]:
    """Day k (1..days) holds one BTC hour of k x $1,000 on binc: daily USD k x 1,000."""
    out = {}
    for k in range(1, days + 1):
        d = START + timedelta(days=k - 1)
        out[d] = {"BTC": asset_day("btc", {hour(10, d): {"binc": (k, k * 1000.0, 0, 0.0)}}, day=d)}
    return out


def calibration(days: int, limits: LimitSet) -> Calibration:
    history = measure_history(
        grid_history(days), ["daily_usd", "velocity_count", "daily_usd_exchange"], limits,
        source="demo",
    )  # fmt: skip
    proposals = propose(history, limits, {"binc": "SC Seychelles"}, percentile=99,
                        warn_percentile=95, resamples=500, seed=1)  # fmt: skip
    return Calibration(START, START + timedelta(days=days - 1), "demo", days, 99, 95, 0.95, 500,
                       1, tuple(proposals), (), ())  # fmt: skip


def test_proposals_from_a_history_whose_percentiles_are_known() -> None:
    # Daily USD is 1,000 .. 100,000 in steps of 1,000: with linear interpolation the p99 is
    # 1,000 x (1 + 0.99 x 99) = 99,010 and the p95 is 1,000 x (1 + 0.95 x 99) = 95,050.
    limits = make_limits(
        daily_usd={"warn": 1, "breach": 2, "asset": {"BTC": {"warn": 5, "breach": 6}}}
    )
    cal = calibration(100, limits)
    daily = next(p for p in cal.proposals if p.check == "daily_usd")
    assert (daily.scope, daily.key, daily.n) == ("BTC", "asset.BTC", 100)
    assert daily.breach.estimate == pytest.approx(99_010)
    assert daily.warn.estimate == pytest.approx(95_050)
    assert daily.breach.low <= 99_010 <= daily.breach.high
    assert daily.proposed.breach == 99_000 and daily.proposed.warn == 95_000  # 3 figures
    assert daily.current is not None and daily.current.breach == 6 and not daily.unresolved
    count = next(p for p in cal.proposals if p.check == "velocity_count")
    assert count.breach.estimate == pytest.approx(99.01) and count.current is None
    pair = next(p for p in cal.proposals if p.check == "daily_usd_exchange")
    assert pair.key == 'asset_exchange."BTC/binc"' and pair.breach.estimate == pytest.approx(99_010)


def test_short_history_is_flagged_unresolved() -> None:
    cal = calibration(20, make_limits())
    assert all(p.unresolved for p in cal.proposals)  # p99 needs 100 days at least
    assert "beyond what 20 days resolve" in proposals_toml(cal)


def test_the_toml_snippet_is_a_valid_limit_set() -> None:
    cal = calibration(100, make_limits())
    snippet = proposals_toml(cal)
    parsed = LimitSet.model_validate(tomllib.loads(snippet))
    assert parsed.daily_usd is not None
    assert parsed.daily_usd.asset["BTC"].breach == 99_000
    assert parsed.daily_usd_exchange is not None
    assert parsed.daily_usd_exchange.asset_exchange["BTC/binc"].warn == 95_000
    assert "p99 99_000 [" in snippet and "n=100" in snippet


def test_a_quiet_exchange_counts_as_zero_on_days_the_asset_traded() -> None:
    days = grid_history(10)
    d = START + timedelta(days=10)
    days[d] = {"BTC": asset_day("btc", {hour(3, d): {"okex": (1, 5.0, 0, 0.0)}}, day=d)}
    history = measure_history(days, ["daily_usd_exchange"], make_limits(), source="demo")
    (binc,) = [p for p in propose(history, make_limits(), {}, resamples=200)
               if p.scope == "BTC/binc"]  # fmt: skip
    assert binc.n == 11  # ten days of its own and one zero


def test_round_sig() -> None:
    assert round_sig(219_949_242.54) == 220_000_000
    assert round_sig(80.83) == 80.8 and round_sig(0.0) == 0.0


def test_cluster_starts_merge_consecutive_hours() -> None:
    usd = {T0 + timedelta(hours=h): v for h, v in
           {0: 1.0, 1: 9.0, 2: 9.0, 3: 9.0, 4: 1.0, 10: 9.0, 12: 9.0, 13: 9.5}.items()}  # fmt: skip
    starts = cluster_starts(usd, 9.0)
    assert starts == [T0 + timedelta(hours=h) for h in (1, 10, 12)]
    assert gaps_hours(starts) == [9.0, 2.0]


def test_weibull_fit_recovers_known_parameters() -> None:
    gaps = (30.0 * np.random.default_rng(2).weibull(1.5, 3000)).tolist()
    shape, scale = weibull_fit(gaps)
    assert shape == pytest.approx(1.5, abs=0.08) and scale == pytest.approx(30.0, rel=0.05)
    # P(T <= 24) = 1 - exp(-(0.8^1.5)) = 1 - exp(-0.715542) = 0.511073
    assert weibull_cdf(24.0, 1.5, 30.0) == pytest.approx(0.511073, abs=1e-6)


def test_cluster_fit_on_hours_built_from_known_gaps() -> None:
    gaps = [max(1, round(20.0 * w)) for w in np.random.default_rng(9).weibull(1.2, 400)]
    hourly: dict[datetime, float] = {}
    t = 0
    for g in gaps:
        t += g + 1  # one quiet hour at least between clusters, so none merge
        hourly[T0 + timedelta(hours=t)] = 100.0
        hourly[T0 + timedelta(hours=t + 1)] = 1.0
    as_of = T0 + timedelta(hours=t + 5)
    fit = cluster_fit("BTC", hourly, 50.0, as_of)
    assert fit.problem is None and fit.n == 399 and fit.clusters == 400
    assert fit.shape is not None and fit.scale is not None
    # the gaps between cluster starts are g + 1 (each cluster hour is followed by a quiet one)
    assert (fit.shape, fit.scale) == pytest.approx(weibull_fit([g + 1 for g in gaps[1:]]))
    assert 1.0 < fit.shape < 1.6 and 18.0 < fit.scale < 26.0
    assert fit.p_within_24h == pytest.approx(weibull_cdf(24.0, fit.shape, fit.scale))
    assert fit.hours_since_last == 5.0
    survive = 1 - weibull_cdf(5.0, fit.shape, fit.scale)
    expected = 1 - (1 - weibull_cdf(29.0, fit.shape, fit.scale)) / survive
    assert fit.p_next_24h == pytest.approx(expected)


def test_cluster_fit_needs_enough_clusters_and_a_level() -> None:
    hourly = {T0 + timedelta(hours=h): (100.0 if h % 10 == 0 else 0.0) for h in range(45)}
    few = cluster_fit("BTC", hourly, 50.0, T0 + timedelta(hours=45))
    assert few.shape is None and few.n == 4 and "at least 5" in (few.problem or "")
    assert "no cluster level" in (cluster_fit("BTC", hourly, None, T0).problem or "")
