"""The intraday measures beside velocity: exposure since 00:00 UTC and long/short imbalance over a
trailing window, parsed and validated with the limit set and evaluated on every batch stored
through the real :func:`.writer.store_batch`, by :func:`.intraday.evaluate_batch` as its hook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit_store.canonical import as_utc
from audit_store.db import Store
from reporting.checks.intraday_measures import (
    MinuteSeries,
    format_measure,
    measure_title,
    window_first,
)
from reporting.checks.limits import (
    IntradayExposureLimits,
    IntradayImbalanceLimits,
    IntradayVelocityLimits,
    LimitSet,
)
from reporting.checks.store import limit_set_sha256
from reporting.config import load_limits, load_settings
from reporting.errors import ConfigError
from tests.live_feed import LiveFeed, limit_settings, rows
from tests.stream_helpers import new_store

DAY1_2340 = datetime(2025, 10, 22, 23, 40, tzinfo=UTC)
T0 = datetime(2025, 10, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.dispose()


# --- exposure since 00:00 UTC ------------------------------------------------------------------


EXPOSURE = {
    "exposure_usd_day": {
        "asset_exchange": {"BTC/binc": {"warn": 9_000_000, "breach": 15_000_000}},
        "repeat_minutes": 0,
    }
}


def test_exposure_crosses_at_a_known_minute_and_starts_again_at_midnight(store: Store) -> None:
    """1M USD a minute from 23:40: the day's USD reaches warn (9M) at 23:48 and breach (15M) at
    23:54. From midnight 100k a minute: today's value is under 8.1M (90% of warn) from 00:00, but
    the windows ending before midnight are over until 23:59 is 10 minutes back: resolved at 00:09.
    Then 2M a minute: the new day's own episode opens at 00:13 (1M + 4 x 2M = 9M)."""
    feed = LiveFeed(store, limit_settings(EXPOSURE), DAY1_2340)
    for n in range(20):  # 23:40 .. 23:59
        feed.minute(n, (1_000_000, 0))
        if n == 7:
            assert rows(store) == []
    first = rows(store)
    assert [(r.kind, r.status, r.observed) for r in first] == [
        ("new", "warn", 9_000_000),
        ("escalated", "breach", 15_000_000),
    ]
    new = first[0]
    assert new.measure == "exposure" and new.scope == "BTC/binc"
    assert as_utc(new.window_start) == datetime(2025, 10, 22, tzinfo=UTC)
    assert as_utc(new.window_end) == datetime(2025, 10, 22, 23, 49, tzinfo=UTC)
    assert new.window_minutes == 23 * 60 + 49  # minutes from midnight to the end of 23:48
    assert as_utc(first[1].window_end) == datetime(2025, 10, 22, 23, 55, tzinfo=UTC)
    assert len(json.loads(new.leaves_json)) == 9  # the day's batches of BTC
    for n in range(20, 29):  # 00:00 .. 00:08: today under, but 23:59's window still in view
        feed.minute(n, (100_000, 0))
    assert len(rows(store)) == 2
    feed.minute(29, (100_000, 0))  # 00:09
    resolved = rows(store)[-1]
    assert (resolved.kind, resolved.status, resolved.observed) == ("resolved", "ok", 1_000_000)
    assert as_utc(resolved.window_start) == datetime(2025, 10, 23, tzinfo=UTC)
    assert resolved.window_minutes == 10 and resolved.episode == new.episode
    assert "under 8,100,000 USD (hysteresis) for 10 minute(s)" in resolved.detail
    for n in range(30, 34):  # 00:10 .. 00:13
        feed.minute(n, (2_000_000, 0))
    again = rows(store)[-1]
    assert (again.kind, again.status, again.observed) == ("new", "warn", 9_000_000)
    assert as_utc(again.window_end) == datetime(2025, 10, 23, 0, 14, tzinfo=UTC)
    assert again.episode != new.episode and again.window_minutes == 14


# --- imbalance over a trailing window ----------------------------------------------------------


def imbalance(**changes: Any) -> dict[str, Any]:
    table = {
        "asset_exchange": {"BTC/binc": {"warn": 75, "breach": 90}},
        "min_usd": 1_000_000,
        "repeat_minutes": 0,
        "hysteresis": {"resolve_after_minutes": 3},
        **changes,
    }
    return {"imbalance_5m": table}


def test_an_imbalance_below_min_usd_opens_nothing(store: Store) -> None:
    feed = LiveFeed(store, limit_settings(imbalance()), T0)
    for n in range(15):
        feed.minute(n, (150_000, 0))  # all long, but 750k in any 5 minutes: under min_usd
    assert rows(store) == []
    feed.minute(15, (300_000, 0))  # 4 x 150k + 300k = 900k: still under
    assert rows(store) == []
    feed.minute(16, (300_000, 0))  # 3 x 150k + 2 x 300k = 1,050,000: graded, 100% long
    (crossed,) = rows(store)
    assert (crossed.kind, crossed.status, crossed.observed) == ("new", "breach", 100.0)
    assert crossed.detail.startswith("long liquidations 100.0% of $1,050,000")


def test_an_imbalance_crosses_escalates_and_resolves_once_volume_is_thin(store: Store) -> None:
    """Shorts 300k and longs 100k a minute: 75% short. The 5-minute window is graded from its
    third minute (1.2M >= 1M): warn at once. A 5M short minute escalates. Then BTC stops: the
    window keeps minute 3 until minute 7, then has no volume (not graded: counted as under),
    three such windows in a row resolve it at minute 10."""
    feed = LiveFeed(store, limit_settings(imbalance()), T0)
    feed.minute(0, (100_000, 300_000))
    feed.minute(1, (100_000, 300_000))
    assert rows(store) == []  # 800k: not enough volume
    feed.minute(2, (100_000, 300_000))
    feed.minute(3, (0, 5_000_000))
    new, escalated = rows(store)
    assert (new.kind, new.status, new.observed) == ("new", "warn", 75.0)
    assert new.measure == "imbalance" and new.window_minutes == 5
    assert new.detail.startswith(
        "short liquidations 75.0% of $1,200,000 (long $300,000, short $900,000)"
    )
    assert "binance BTCUSDT" in new.detail
    assert (escalated.kind, escalated.status) == ("escalated", "breach")
    assert escalated.observed == pytest.approx(100 * 5_900_000 / 6_200_000)
    for n in range(4, 10):
        feed.minute(n)  # ETH only: BTC quiet
    assert len(rows(store)) == 2  # minute 7 still holds minute 3; 8 and 9 are thin
    feed.minute(10)
    resolved = rows(store)[-1]
    assert (resolved.kind, resolved.status) == ("resolved", "ok")
    assert resolved.detail == (
        "under 67.5% (hysteresis) for 3 minute(s); 3 of those windows had not enough volume "
        "(under min_usd 1,000,000 USD), counted as under"
    )
    for n in range(11, 16):
        feed.minute(n)
    assert len(rows(store)) == 3  # nothing more


def test_a_balanced_window_resolves_an_imbalance_with_volume(store: Store) -> None:
    feed = LiveFeed(store, limit_settings(imbalance()), T0)
    for n in range(3):
        feed.minute(n, (0, 500_000))
    assert [r.kind for r in rows(store)] == ["new"]  # 100% short: breach
    for n in range(3, 12):
        feed.minute(n, (500_000, 500_000))  # balanced minutes push the shorts out
    kinds = [(r.kind, r.status) for r in rows(store)]
    assert kinds == [("new", "breach"), ("resolved", "ok")]
    resolved = rows(store)[-1]
    assert "not enough volume" not in resolved.detail and resolved.observed == 50.0


# --- the limit set ---------------------------------------------------------------------------


def test_the_new_tables_parse_as_their_measures(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        "[exposure_usd_day]\nwarn = 40_000_000\nbreach = 80_000_000\n"
        'per = "asset"\nasset.BTC = { warn = 70_000_000, breach = 140_000_000 }\n'
        "[imbalance_60m]\nwarn = 80\nbreach = 90\nmin_usd = 1_000_000\n"
        'asset_exchange."BTC/binc" = { warn = 70, breach = 85 }\n'
        "[velocity_usd_15m]\nwarn = 1\nbreach = 2\n"
    )
    limits = load_limits(path)
    exposure = limits.intraday["exposure_usd_day"]
    imb = limits.intraday["imbalance_60m"]
    assert isinstance(exposure, IntradayExposureLimits) and exposure.measure == "exposure"
    assert isinstance(imb, IntradayImbalanceLimits) and imb.min_usd == 1_000_000
    assert isinstance(limits.intraday["velocity_usd_15m"], IntradayVelocityLimits)
    assert imb.minutes == 60 and exposure.per == "asset"
    resolved = imb.resolve("BTC", "binc", None)
    assert resolved is not None and resolved.threshold.breach == 85
    dumped = limits.model_dump(mode="json")
    assert dumped["imbalance_60m"]["min_usd"] == 1_000_000
    assert "measure" not in dumped["imbalance_60m"] and "window" not in dumped["exposure_usd_day"]
    again = LimitSet.model_validate(dumped)
    assert limit_set_sha256(again) == limit_set_sha256(limits)
    assert isinstance(again.intraday["imbalance_60m"], IntradayImbalanceLimits)


def test_without_intraday_tables_the_canonical_form_is_as_it_was() -> None:
    base = load_settings(env={}).limits
    dumped = base.model_dump(mode="json")
    assert not base.intraday and "intraday" not in dumped
    assert not any(k.startswith(("exposure_", "imbalance_")) for k in dumped)
    assert limit_set_sha256(LimitSet.model_validate(dumped)) == limit_set_sha256(base)
    # a velocity table keeps the keys it always had (its measure and window are its name)
    with_velocity = limit_settings({"velocity_usd_15m": {"warn": 1, "breach": 2}}).limits
    assert set(with_velocity.model_dump(mode="json")["velocity_usd_15m"]) == {
        "warn", "breach", "asset", "exchange", "jurisdiction", "asset_exchange", "per",
        "repeat_minutes", "hysteresis",
    }  # fmt: skip
    with_imbalance = limit_settings(imbalance()).limits
    assert limit_set_sha256(with_imbalance) != limit_set_sha256(base)


@pytest.mark.parametrize(
    ("table", "found"),
    [
        ("[imbalance_60m]\nwarn = 75\nbreach = 85\n", "key imbalance_60m.min_usd is required"),
        (
            "[imbalance_60m]\nwarn = 75\nbreach = 85\nmin_usd = 0\n",
            "key imbalance_60m.min_usd = 0: Input should be greater than 0",
        ),
        (
            "[imbalance_60m]\nwarn = 0.75\nbreach = 0.85\nmin_usd = 1\n",
            "key imbalance_60m: Value error, warn = 0.75: must be 50 to 100 (percent of USD on "
            "the dominant side)",
        ),
        (
            "[imbalance_60m]\nwarn = 75\nbreach = 85\nmin_usd = 1\n"
            "asset.BTC = { warn = 75, breach = 101 }\n",
            "key imbalance_60m: Value error, asset.BTC.breach = 101: must be 50 to 100",
        ),
        (
            "[imbalance_25h]\nwarn = 75\nbreach = 85\nmin_usd = 1\n",
            "key imbalance_25h = '25h': Value error, window '25h': must be 1m to 24h",
        ),
        (
            "[imbalance_0m]\nwarn = 75\nbreach = 85\nmin_usd = 1\n",
            "key imbalance_0m = '0m': Value error, window '0m': must be 1m to 24h",
        ),
        (
            "[exposure_usd_15m]\nwarn = 1\nbreach = 2\n",
            "key exposure_usd_15m = '15m': Value error, window '15m': exposure runs from "
            "00:00 UTC to the batch's minute; the table is [exposure_usd_day]",
        ),
        (
            "[imbalence_60m]\nwarn = 75\nbreach = 85\n",
            "unknown key imbalence_60m (the checks are: ",
        ),
        ("[exposure_count_day]\nwarn = 1\nbreach = 2\n", "unknown key exposure_count_day"),
        (
            "[velocity_usd_15m]\nwarn = 1\nbreach = 2\nmin_usd = 5\n",
            "unknown key velocity_usd_15m.min_usd = 5",
        ),
        (
            "[exposure_usd_day]\nwarn = 1\nbreach = 2\nwindow = '2h'\n",
            "key exposure_usd_day: Value error, window: not a key of an intraday table",
        ),
        (
            "[velocity_usd_15m]\nwarn = 1\nbreach = 2\nwindow = '1h'\nmeasure = 'count'\n",
            "key velocity_usd_15m: Value error, measure, window: not a key of an intraday table",
        ),
    ],
)
def test_errors_name_the_file_the_table_and_the_key(tmp_path: Path, table: str, found: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(table)
    with pytest.raises(ConfigError) as info:
        load_limits(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and found in message, message
    if "unknown key" in found and "." not in found.split("unknown key ")[1].split()[0]:
        assert "imbalance_<window>, exposure_usd_day" in message  # the forms are listed


# --- the measures themselves -------------------------------------------------------------------


def test_running_sums_give_every_window_as_summing_it_would() -> None:
    """The windows of a random series across midnight, by prefix sums, against summing each
    window of minute rows afresh: trailing windows and the day so far."""
    rng = np.random.default_rng(7)
    first = datetime(2025, 10, 22, 22, 17, tzinfo=UTC)
    rows_by_minute = {
        first + timedelta(minutes=k): tuple(float(x) for x in rng.integers(0, 1000, 4))
        for k in range(300)
        if rng.random() < 0.6
    }
    last = first + timedelta(minutes=299)
    series = MinuteSeries.of(rows_by_minute, first, last)  # type: ignore[arg-type]
    tables = [
        limit_settings({name: {"warn": 60, "breach": 70, **extra}}).limits.intraday[name]
        for name, extra in (
            ("velocity_usd_15m", {}),
            ("velocity_count_4h", {}),
            ("exposure_usd_day", {}),
            ("imbalance_60m", {"min_usd": 20_000}),
        )
    ]
    ends = np.arange(len(series))
    for table in tables:
        sums = series.windows(table, ends)
        values = series.values(table, ends)
        for k in range(0, len(series), 7):
            end = series.minute(k)
            start = max(window_first(table, end), first)
            inside = [v for m, v in rows_by_minute.items() if start <= m <= end]
            lu, su, lc, sc = (sum(v[i] for v in inside) for i in range(4))
            assert (sums.long_usd[k], sums.short_usd[k]) == (lu, su), (table.measure, k)
            assert (sums.long_count[k], sums.short_count[k]) == (lc, sc)
            if table.measure == "imbalance":
                total = lu + su
                assert bool(values.graded[k]) == (total >= 20_000)
                if total > 0:
                    assert values.value[k] == pytest.approx(100 * max(lu, su) / total)
    midnight_k = series.index(datetime(2025, 10, 23, tzinfo=UTC))
    exposure = tables[2]
    day = series.windows(exposure, [midnight_k - 1, midnight_k])
    assert day.long_usd[1] == rows_by_minute.get(series.minute(midnight_k), (0.0,))[0]
    assert day.long_usd[0] > day.long_usd[1]  # the day before's total, then it starts again


def test_values_are_written_in_their_measure() -> None:
    assert format_measure(1_000_000, "usd") == "1,000,000 USD"
    assert format_measure(12_500_000, "exposure") == "12,500,000 USD"
    assert format_measure(1421, "count") == "1,421 liquidations"
    assert format_measure(81.25, "imbalance") == "81.2%"
    assert measure_title("exposure") == "USD liquidated since 00:00 UTC"
    assert "dominant side" in measure_title("imbalance")
