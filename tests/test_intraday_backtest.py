"""Intraday limits in the backtest and calibration: stored stream minutes replayed minute by
minute, episodes equal to those the live evaluation stored on the same batches; proposals from
each day's peak window; ``liqrisk limits backtest`` and ``limits history`` in words and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_streams import StreamMinute
from reporting.checks.backtest import backtest
from reporting.checks.calibrate import calibrate, proposals_toml, propose_intraday
from reporting.checks.intraday_history import (
    IntradayTally,
    intraday_backtest,
    next_true,
    run_lengths,
)
from reporting.cli import main
from reporting.config import Settings, load_settings
from tests.live_feed import LiveFeed, limit_settings, rows
from tests.stream_helpers import new_store

T0 = datetime(2025, 10, 22, 23, 0, tzinfo=UTC)
DAY1, DAY2 = date(2025, 10, 22), date(2025, 10, 23)
BTC = {"asset_exchange": {"BTC/binc": {"warn": 900_000, "breach": 1_000_000}}}
TABLES: dict[str, Any] = {
    "velocity_usd_15m": {**BTC, "repeat_minutes": 0},
    "exposure_usd_day": {
        "asset_exchange": {"BTC/binc": {"warn": 1_500_000, "breach": 2_000_000}},
        "repeat_minutes": 20,
    },
    "imbalance_10m": {
        "asset_exchange": {"BTC/binc": {"warn": 75, "breach": 90}},
        "min_usd": 500_000,
        "repeat_minutes": 0,
    },
}


def btc_at(n: int) -> tuple[float, float]:
    """The known series, minute ``n`` after 23:00: 100k long a minute 23:00-23:20, then from
    00:15 to 00:24 20k long and 80k short a minute; nothing else (ETH keeps the batches going)."""
    if n <= 20:
        return (100_000, 0)
    if 75 <= n <= 84:
        return (20_000, 80_000)
    return (0, 0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.dispose()


@pytest.fixture
def played(store: Store) -> tuple[Store, Settings]:
    """The series through the live path, a batch a minute from 23:00 to 00:50."""
    settings = limit_settings(TABLES)
    feed = LiveFeed(store, settings, T0)
    for n in range(111):
        feed.minute(n, btc_at(n))
    return store, settings


def at(n: int) -> datetime:
    """The window end (exclusive) of minute ``n``: as a result's ``window_end``."""
    return T0 + timedelta(minutes=n + 1)


def live_episodes(store: Store, limit: str) -> list[tuple[Any, ...]]:
    """(opened, status, escalated, resolved, repeats) of each stored episode, by window ends."""
    found: dict[str, dict[str, Any]] = {}
    for r in rows(store, limit):
        e = found.setdefault(r.episode, {"repeats": 0, "escalated": None, "resolved": None})
        end = as_utc(r.window_end)
        if r.kind == "new":
            e["opened"], e["status"] = end, r.status
        elif r.kind == "escalated":
            e["escalated"] = end
        elif r.kind == "resolved":
            e["resolved"] = end
        elif r.kind == "repeat":
            e["repeats"] += 1
    return [
        (e["opened"], e["status"], e["escalated"], e["resolved"], e["repeats"])
        for e in found.values()
    ]


def replayed(tally: IntradayTally) -> list[tuple[Any, ...]]:
    return [(e.opened, e.opened_status, e.escalated, e.resolved, e.repeats) for e in tally.episodes]


def test_the_backtest_counts_the_episodes_of_a_known_series(
    played: tuple[Store, Settings],
) -> None:
    store, settings = played
    tallies = intraday_backtest(store, settings.limits, DAY1, DAY2, settings.jurisdiction)
    by_key = {(t.limit, t.scope): t for t in tallies}
    velocity = by_key[("velocity_usd_15m", "BTC/binc")]
    # warn at 23:08 (9 x 100k), breach at 23:09, under 810k from 23:27, 10 minutes: 23:36;
    # 00:15-00:24: 900k at 00:23, 1M at 00:24, resolved at 00:40
    assert replayed(velocity) == [
        (at(8), "warn", at(9), at(36), 0),
        (at(83), "warn", at(84), at(100), 0),
    ]
    assert velocity.episodes[0].peak == 1_500_000 and velocity.episodes[0].peak_at == at(14)
    assert (velocity.breach_episodes, velocity.warn_episodes) == (2, 0)
    assert velocity.minutes == 2 * 1440 and velocity.threshold_scope == "asset_exchange BTC/binc"
    exposure = by_key[("exposure_usd_day", "BTC/binc")]
    # 1.5M at 23:14, 2M at 23:19, repeats every 20 minutes (23:39, 23:59); the new day's
    # windows are under from 00:00: resolved at 00:09. The new day's 1M stays under.
    assert replayed(exposure) == [(at(14), "warn", at(19), at(69), 2)]
    assert exposure.episodes[0].peak == 2_100_000
    imbalance = by_key[("imbalance_10m", "BTC/binc")]
    # graded from 23:04 (500k), 100% long: breach; thin from 23:26: resolved at 23:35. Then
    # 80% short from 00:19 (5 x 100k in the window) to 00:29; thin from 00:30: resolved 00:39
    assert replayed(imbalance) == [
        (at(4), "breach", None, at(35), 0),
        (at(79), "warn", None, at(99), 0),
    ]
    assert imbalance.episodes[1].peak == pytest.approx(80.0)
    assert all(not t.episodes for t in tallies if t.scope != "BTC/binc")  # ETH: 1 USD a minute


def test_the_backtest_agrees_with_the_live_evaluation(played: tuple[Store, Settings]) -> None:
    store, settings = played
    tallies = intraday_backtest(store, settings.limits, DAY1, DAY2, settings.jurisdiction)
    compared = 0
    for t in tallies:
        if t.scope == "BTC/binc":
            assert replayed(t) == live_episodes(store, t.limit), t.limit
            compared += len(t.episodes)
    assert compared == 5


def test_a_limit_set_without_intraday_tables_replays_no_stream(
    played: tuple[Store, Settings],
) -> None:
    store, _ = played
    plain = load_settings(env={})
    result = backtest(store, plain, plain.limits, DAY1, DAY2)
    assert result.intraday == ()
    assert intraday_backtest(store, plain.limits, DAY1, DAY2, plain.jurisdiction) == ()


def test_the_episode_walk_helpers() -> None:
    mask = np.array([False, True, True, False, True, True, True])
    assert run_lengths(mask).tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert next_true(mask).tolist() == [1, 1, 2, 4, 4, 5, 6, 7]
    assert next_true(np.zeros(3, dtype=bool)).tolist() == [3, 3, 3, 3]


# --- calibration ---------------------------------------------------------------------------------


def _minutes(
    store: Store, snapshot_id: int, spec: list[tuple[datetime, str, float, float]]
) -> None:
    rows_ = [
        {
            "snapshot_id": snapshot_id,
            "venue": "binance",
            "asset": asset,
            "minute": minute,
            "long_usd": long_usd,
            "short_usd": short_usd,
            "long_count": 1,
            "short_count": 1 if short_usd else 0,
        }
        for minute, asset, long_usd, short_usd in spec
    ]
    with store.session() as session:
        session.execute(insert(StreamMinute.__table__), rows_)  # type: ignore[attr-defined]


@pytest.fixture
def month(store: Store) -> tuple[Store, Settings, list[float]]:
    """31 days of stored minutes: BTC one minute a day at 12:00, (d + 1) x 100k USD of which
    75% long, on day 31 quiet; ETH 1k every day at 06:00. Returns the BTC peaks of a 15-minute
    window, day by day."""
    settings = limit_settings(
        {"velocity_usd_15m": {"warn": 1, "breach": 2}, "imbalance_60m": IMBALANCE}
    )
    first = date(2025, 9, 1)
    feed = LiveFeed(store, settings, datetime(2025, 8, 31, 12, tzinfo=UTC))
    snapshot = feed.minute(0, (1, 0)).snapshot_id  # a batch for the rows' snapshot
    spec: list[tuple[datetime, str, float, float]] = []
    peaks = []
    for d in range(31):
        noon = datetime.combine(first + timedelta(days=d), datetime.min.time(), UTC)
        spec.append((noon.replace(hour=6), "ETH", 1_000.0, 0.0))
        if d < 30:
            usd = (d + 1) * 100_000.0
            spec.append((noon.replace(hour=12), "BTC", usd * 0.75, usd * 0.25))
            peaks.append(usd)
        else:
            peaks.append(0.0)
    _minutes(store, snapshot, spec)
    return store, settings, peaks


IMBALANCE = {"warn": 60, "breach": 70, "min_usd": 50_000}


def test_calibration_proposes_percentiles_of_the_days_peak_windows(
    month: tuple[Store, Settings, list[float]],
) -> None:
    store, settings, peaks = month
    start, end = date(2025, 9, 1), date(2025, 10, 1)
    proposals = propose_intraday(
        store, settings.limits, ["velocity_usd_15m"], start, end, settings.jurisdiction,
        resamples=200,
    )  # fmt: skip
    by_scope = {p.scope: p for p in proposals}
    btc = by_scope["BTC/binc"]
    assert btc.n == 31 and btc.unit == "usd" and btc.key == 'asset_exchange."BTC/binc"'
    assert btc.breach.estimate == pytest.approx(float(np.percentile(peaks, 99)))
    assert btc.warn.estimate == pytest.approx(float(np.percentile(peaks, 95)))
    assert btc.current is not None and btc.current.breach == 2  # the global value in force
    assert btc.unresolved  # p99 of 31 days lies beyond what they resolve
    assert by_scope["ETH/binc"].breach.estimate == pytest.approx(1_000)
    # imbalance: 75% long every day, graded from 50k; ETH's 1k windows are never graded, so ETH
    # gets no proposal
    (imb,) = propose_intraday(
        store, settings.limits, ["imbalance_60m"], start, end, settings.jurisdiction,
        resamples=200,
    )  # fmt: skip
    assert imb.scope == "BTC/binc" and imb.unit == "pct" and imb.n == 30
    assert imb.breach.estimate == pytest.approx(75.0)


def test_calibrate_puts_intraday_tables_in_its_snippet(
    month: tuple[Store, Settings, list[float]],
) -> None:
    store, settings, _ = month
    result = calibrate(
        store, settings, date(2025, 9, 1), date(2025, 10, 1), resamples=200,
        checks=["velocity_usd_15m", "daily_usd"],
    )  # fmt: skip
    assert result.intraday == ("velocity_usd_15m",)
    snippet = proposals_toml(result)
    assert "[velocity_usd_15m]" in snippet and 'asset_exchange."BTC/binc" = {' in snippet
    assert "# intraday tables (velocity_usd_15m): of each day's peak window value" in snippet
    with pytest.raises(ValueError, match="intraday tables: imbalance_60m, velocity_usd_15m"):
        calibrate(store, settings, date(2025, 9, 1), date(2025, 9, 2), checks=["velocity_x"])
    plain = calibrate(
        store, load_settings(env={}), date(2025, 9, 1), date(2025, 9, 3), resamples=100
    )
    assert plain.intraday == () and "intraday" not in proposals_toml(plain)


# --- the commands --------------------------------------------------------------------------------


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'streams.db'}")
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_limits_backtest_prints_the_intraday_episodes(
    played: tuple[Store, Settings], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = cli_env / "candidate.toml"
    candidate.write_text(
        "[velocity_usd_15m]\n"
        'asset_exchange."BTC/binc" = { warn = 900_000, breach = 1_000_000 }\nrepeat_minutes = 0\n'
        "[imbalance_10m]\nmin_usd = 500_000\nrepeat_minutes = 0\n"
        'asset_exchange."BTC/binc" = { warn = 75, breach = 90 }\n',
        "utf-8",
    )
    args = ["limits", "backtest", "--limits", str(candidate), "--start", str(DAY1),
            "--end", str(DAY2)]  # fmt: skip
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "velocity_usd_15m BTC/binc (warn 900,000 USD, breach 1,000,000 USD; " in out
    assert "2 episode(s), 2 at breach" in out
    assert "  2025-10-22 23:09 warn, breach at 2025-10-22 23:10; peak 1,500,000 USD at " in out
    assert "resolved 2025-10-22 23:37" in out
    assert "imbalance_10m BTC/binc (warn 75.0%, breach 90.0%; " in out
    assert "; peak 80.0% at " in out
    code, out, _ = run([*args, "--json"], capsys)
    doc = json.loads(out)
    (vel,) = [t for t in doc["intraday"] if (t["limit"], t["scope"]) == ("velocity_usd_15m",
                                                                         "BTC/binc")]  # fmt: skip
    assert vel["episodes"] == 2 and vel["peak"] == 1_500_000
    assert vel["episode_list"][0]["opened"] == "2025-10-22T23:09:00+00:00"
    plain = cli_env / "plain.toml"
    plain.write_text("[velocity_usd]\nwarn = 1\nbreach = 2\n", "utf-8")
    code, out, _ = run(["limits", "backtest", "--limits", str(plain), "--start", str(DAY1),
                        "--end", str(DAY2), "--json"], capsys)  # fmt: skip
    assert code == 0 and "intraday" not in json.loads(out)


def test_limits_history_shows_intraday_changes(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two limit sets in force by check runs, the second changing an intraday table and adding
    an imbalance one; and the limit set the live evaluation stored results under."""
    from reporting.resources import default_config_file
    from tests.factories import store_hours
    from tests.limit_factories import flat_day

    config = cli_env / "liqrisk.toml"
    config.write_text(default_config_file().read_text("utf-8"), "utf-8")
    monkeypatch.setenv("LIQRISK_CONFIG", str(config))
    packaged = (default_config_file().parent / "limits.toml").read_text("utf-8")
    limits = cli_env / "limits.toml"
    limits.write_text(packaged + "\n[velocity_usd_15m]\nwarn = 900_000\nbreach = 1_000_000\n")
    store = Store(f"sqlite:///{cli_env / 'streams.db'}")
    store.create_schema()
    for n in range(2):
        store_hours(store, "btc", flat_day({"binc": 1_000_000.0}, day=DAY1 + timedelta(days=n)))
    assert run(["check", "--date", str(DAY1), "--json"], capsys)[0] == 0
    limits.write_text(
        packaged + "\n[velocity_usd_15m]\nwarn = 800_000\nbreach = 1_000_000\n"
        "[imbalance_60m]\nwarn = 80\nbreach = 90\nmin_usd = 1_000_000\n"
    )
    assert run(["check", "--date", str(DAY2), "--json"], capsys)[0] == 0
    settings = load_settings(config, env={})
    feed = LiveFeed(store, settings, T0)
    for n in range(10):
        feed.minute(n, (200_000, 0))  # 2M in 10 minutes: the 15-minute window crosses
    store.dispose()
    code, out, err = run(["limits", "history"], capsys)
    assert code == 0, err
    assert "  changed velocity_usd_15m.warn: 900000.0 -> 800000.0" in out
    assert "  changed imbalance_60m.min_usd: (unset) -> 1000000.0" in out
    assert "intraday results (live stream evaluation), by limit set:" in out
    assert "in force" in out.splitlines()[-1]
    code, out, _ = run(["limits", "history", "--json"], capsys)
    doc = json.loads(out)
    first, second = doc["versions"]
    assert first["changes"] == []
    assert {"path": "imbalance_60m.warn", "old": None, "new": 80.0} in second["changes"]
    (live,) = doc["intraday_versions"]
    assert live["sha256"] == second["sha256"] and live["results"] >= 1
