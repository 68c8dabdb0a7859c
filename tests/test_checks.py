"""Checks pinned on hand-computed fixtures, stored with their evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from audit_store.db import Store
from audit_store.models import Snapshot
from reporting.checks.catalogue import CATALOGUE, CHECK_TITLES, CHECK_UNITS
from reporting.checks.engine import MEASURES, CheckContext, evaluate
from reporting.checks.limits import ExchangeLimits, LimitSet
from reporting.checks.metrics import day_bounds, load_period
from reporting.checks.overlays import FundingPoint, OpenInterestPoint
from reporting.checks.quality import CHECK_TITLES as DATA_QUALITY_TITLES
from reporting.checks.store import latest_run, run_checks
from reporting.checks.stream_quality import TITLES as STREAM_TITLES
from reporting.config import Settings
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import (
    DAY,
    H0,
    asset_day,
    flat_day,
    hour,
    make_limits,
    result,
    with_limits,
)

TIGHT = dict(
    gaps={"warn": 1, "breach": 3},
    staleness={"warn": 2, "breach": 6},
    reconciliation={"warn": 2, "breach": 5},
    daily_usd={"warn": 1000, "breach": 2000},
    velocity_usd={"warn": 500, "breach": 900},
    velocity_count={"warn": 8, "breach": 12},
    velocity_2h_usd={"warn": 900, "breach": 1000},
    velocity_2h_count={"warn": 10, "breach": 20},
    imbalance={"warn": 70, "breach": 85},
    funding_swing={"warn": 4, "breach": 8},
    oi_change={"warn": 10, "breach": 20},
    daily_usd_exchange={"warn": 800, "breach": 1500},
    velocity_usd_exchange={"asset_exchange": {"BTC/binc": {"warn": 400, "breach": 800}}},
    concentration={"warn": 80, "breach": 90},
)


@pytest.fixture
def tight(make_settings: SettingsFactory) -> Settings:
    return with_limits(make_settings(), make_limits(**TIGHT), assets=("btc", "eth"))


def spiky_btc() -> dict[datetime, dict[str, tuple[int, float, int, float]]]:
    # 24 h x (binc 30 + okex 10) = 960; hour 14 replaced: binc 5 longs $850 + 1 short $80,
    # okex 1 long $5 + 1 short $5: that hour holds $940 in 8 liquidations.
    hours = flat_day({"binc": 30.0, "okex": 10.0})
    hours[hour(14)] = {"binc": (5, 850.0, 1, 80.0), "okex": (1, 5.0, 1, 5.0)}
    return hours


def test_catalogue_covers_every_limit_and_measure() -> None:
    # intraday limits are evaluated on stream batches (reporting.checks.intraday), not daily
    limit_checks = set(LimitSet.model_fields) - {"clusters", "intraday"}
    assert limit_checks == set(MEASURES) == set(CATALOGUE) - {"coverage"}
    assert set(CHECK_UNITS) == set(CATALOGUE)
    # titles also name the ungraded data-quality results stored beside the limit checks
    assert set(CHECK_TITLES) == set(CATALOGUE) | set(DATA_QUALITY_TITLES) | set(STREAM_TITLES)
    for name in limit_checks:
        table = make_limits(**{name: {"warn": 60, "breach": 70}}).for_check(name)
        per_exchange = isinstance(table, ExchangeLimits)
        assert per_exchange == (CATALOGUE[name].level == "asset_exchange"), name


def test_hand_computed_day(tight: Settings) -> None:
    btc = asset_day("btc", spiky_btc())
    eth = asset_day("eth", flat_day({"bbit": 20.0}))  # 24 x 20 = 480, nothing unusual
    assert btc.totals.total_usd == pytest.approx(23 * 40 + 940)  # 1860
    results = evaluate({"BTC": btc, "ETH": eth}, DAY, tight)
    statuses = {(r.check, r.scope): r.status for r in results}
    observed = {(r.check, r.scope): r.observed for r in results}
    assert statuses[("daily_usd", "BTC")] == "warn"  # 1860 in [1000, 2000)
    assert observed[("daily_usd_exchange", "BTC/binc")] == pytest.approx(23 * 30 + 930)  # 1620
    assert statuses[("daily_usd_exchange", "BTC/binc")] == "breach"  # 1620 >= 1500
    assert statuses[("daily_usd_exchange", "BTC/okex")] == "ok"  # 23 x 10 + 10 = 240
    assert observed[("velocity_usd", "BTC")] == pytest.approx(940)
    assert statuses[("velocity_usd", "BTC")] == "breach"  # 940 >= 900
    assert (
        observed[("velocity_count", "BTC")] == 8 and statuses[("velocity_count", "BTC")] == "warn"
    )
    # two hours: 13-14 or 14-15 = 40 + 940 = 980 (the earlier one), 4 + 8 liquidations
    assert observed[("velocity_2h_usd", "BTC")] == pytest.approx(980)
    assert statuses[("velocity_2h_usd", "BTC")] == "warn"
    assert observed[("velocity_2h_count", "BTC")] == 12  # 4 + 8
    assert statuses[("velocity_2h_count", "BTC")] == "warn"
    # longs: 23 x 20 + 855 = 1315 of 1860 = 70.70% -> warn at 70
    assert observed[("imbalance", "BTC")] == pytest.approx(100 * 1315 / 1860)
    assert statuses[("imbalance", "BTC")] == "warn"
    # the seed's per-exchange velocity: only BTC/binc has a limit; its hour 14 holds 930
    assert observed[("velocity_usd_exchange", "BTC/binc")] == pytest.approx(930)
    assert statuses[("velocity_usd_exchange", "BTC/binc")] == "breach"
    assert ("velocity_usd_exchange", "BTC/okex") not in statuses
    assert ("velocity_usd_exchange", "ETH/bbit") not in statuses
    # concentration: binc 1620 / 1860 = 87.1% -> warn; ETH all on bbit: 100% -> breach
    assert observed[("concentration", "BTC/binc")] == pytest.approx(100 * 1620 / 1860)
    assert statuses[("concentration", "BTC/binc")] == "warn"
    assert statuses[("concentration", "ETH/bbit")] == "breach"
    assert statuses[("daily_usd", "ETH")] == "ok"
    assert statuses[("coverage", "ETH")] == "ok" and statuses[("gaps", "ETH")] == "ok"
    assert statuses[("staleness", "ETH")] == "ok"


def test_results_carry_unit_threshold_scope_and_detail(tight: Settings) -> None:
    results = evaluate({"BTC": asset_day("btc", spiky_btc())}, DAY, tight)
    vel = result(results, "velocity_usd", "BTC")
    assert vel.unit == "usd" and vel.threshold_scope == "global"
    assert vel.detail["window_start"] == hour(14).isoformat()
    assert vel.evidence == ("s14",)  # the snapshot holding the hour, not the whole day
    assert "14:00 UTC" in vel.message and vel.pct_of_limit == pytest.approx(100 * 940 / 900)
    seed = result(results, "velocity_usd_exchange", "BTC/binc")
    assert seed.threshold_scope == "asset_exchange BTC/binc"
    assert result(results, "imbalance", "BTC").detail["side"] == "long"


def test_overlays_and_second_source_are_errors_without_data(tight: Settings) -> None:
    results = evaluate({"BTC": asset_day("btc", flat_day({"binc": 10.0}))}, DAY, tight)
    for check, words in (
        ("funding_swing", "no funding-rate data"),
        ("oi_change", "no open-interest data"),
        ("reconciliation", "no second source configured"),
    ):
        r = result(results, check, "BTC")
        assert r.status == "error" and r.observed is None and words in r.message, r.message


class _Overlays:
    def funding_rates(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> list[FundingPoint]:
        points = [FundingPoint(hour(0), -0.0004), FundingPoint(hour(16), -0.0012)]
        return [p for p in points if start <= p.at < end]

    def open_interest(
        self, source: str, asset: str, start: datetime, end: datetime
    ) -> list[OpenInterestPoint]:
        points = [
            OpenInterestPoint(hour(23) - timedelta(days=1), 1000.0),
            OpenInterestPoint(hour(23), 850.0),
        ]
        return [p for p in points if start <= p.at < end]


def test_overlay_checks_grade_what_the_interface_gives(tight: Settings) -> None:
    ctx = CheckContext(overlays=_Overlays())
    results = evaluate({"BTC": asset_day("btc", flat_day({"binc": 10.0}))}, DAY, tight, context=ctx)
    swing = result(results, "funding_swing", "BTC")
    assert swing.observed == pytest.approx(8.0) and swing.status == "breach"  # -4 -> -12 bps
    oi = result(results, "oi_change", "BTC")
    assert oi.observed == pytest.approx(15.0) and oi.status == "warn"  # 1000 -> 850
    assert oi.detail["change_pct"] == pytest.approx(-15.0) and "fell 15.0%" in oi.message


def test_reconciliation_against_a_second_source(
    make_settings: SettingsFactory,
) -> None:
    limits = make_limits(reconciliation={"warn": 2, "breach": 5, "against": "kaiko"})
    settings = with_limits(make_settings(), limits, assets=("btc",))
    ours = asset_day("btc", flat_day({"binc": 100.0}))  # 2400
    theirs = asset_day("btc", flat_day({"binc": 96.0}), source="kaiko")  # 2304: 4% apart
    ctx = CheckContext(second={"BTC": theirs})
    r = result(evaluate({"BTC": ours}, DAY, settings, context=ctx), "reconciliation", "BTC")
    assert r.observed == pytest.approx(4.0) and r.status == "warn"
    missing = evaluate({"BTC": ours}, DAY, settings, context=CheckContext(second={}))
    assert "no kaiko data" in result(missing, "reconciliation", "BTC").message


def test_gaps_and_staleness_grade_missing_hours(tight: Settings) -> None:
    day = asset_day("btc", flat_day({"binc": 1.0}, skip=(3, 20, 21, 22, 23)))
    results = evaluate({"BTC": day}, DAY, tight)
    gaps = result(results, "gaps", "BTC")
    assert gaps.observed == 5 and gaps.status == "breach" and "03:00, 20:00-23:00" in gaps.message
    stale = result(results, "staleness", "BTC")
    assert stale.observed == pytest.approx(4.0) and stale.status == "warn"  # ends 20:00
    # checked at 21:30 the same day: 20:00 is missing (ended), 21:00 not yet due
    early = evaluate(
        {"BTC": day}, DAY, tight, context=CheckContext(as_of=hour(21, DAY) + timedelta(minutes=30))
    )
    assert result(early, "gaps", "BTC").observed == 2  # 03:00 and 20:00
    assert result(early, "staleness", "BTC").observed == pytest.approx(1.5)


def test_share_checks_below_the_floor_are_not_graded(make_settings: SettingsFactory) -> None:
    limits = make_limits(
        imbalance={"warn": 60, "breach": 70, "min_usd": 10_000},
        concentration={"warn": 50, "breach": 60, "min_usd": 10_000},
    )
    settings = with_limits(make_settings(), limits, assets=("btc",))
    small = asset_day("btc", {hour(1): {"binc": (3, 900.0, 0, 0.0)}})  # all long, all binc
    results = evaluate({"BTC": small}, DAY, settings)
    for check, scope in (("imbalance", "BTC"), ("concentration", "BTC/binc")):
        r = result(results, check, scope)
        assert r.status == "ok" and r.observed == pytest.approx(100) and "not graded" in r.message


def test_missing_asset_is_an_error_not_ok(store: Store, tight: Settings) -> None:
    store_hours(store, "btc", flat_day({"binc": 1.0}))
    _metrics, stored = run_checks(store, tight, DAY)
    eth = [r for r in stored.results if r.scope.split("/")[0] == "ETH"]
    assert eth and all(r.status == "error" for r in eth)
    assert {r.check for r in eth} >= {"coverage", "daily_usd", "velocity_usd", "gaps"}


def test_partial_day_warns_on_coverage(store: Store, tight: Settings) -> None:
    store_hours(store, "btc", flat_day({"binc": 1.0}, skip=(3,)))
    _m, stored = run_checks(store, tight, DAY)
    cov = result(list(stored.results), "coverage", "BTC")
    assert cov.status == "warn" and cov.observed == 23 and cov.limit == 24


def test_results_are_stored_with_evidence_and_limit_hash(store: Store, tight: Settings) -> None:
    snap = store_hours(store, "btc", flat_day({"binc": 100.0}))
    _m, stored = run_checks(store, tight, DAY)
    again = latest_run(store, DAY)
    assert again is not None and again.run.id == stored.run.id
    assert len(again.run.limit_set_sha256) == 64
    daily = result(list(again.results), "daily_usd", "BTC")
    assert daily.observed == pytest.approx(2400) and daily.status == "breach"
    assert daily.pct_of_limit == pytest.approx(120)
    with store.session() as session:
        sha = session.get(Snapshot, snap).body_sha256  # type: ignore[union-attr]
    assert json.loads(daily.evidence_json) == [sha]
    assert daily.id is not None
    extras = again.extras_json(daily)
    assert extras["unit"] == "usd" and extras["threshold_scope"] == "global"
    assert extras["lifecycle"]["state"] == "new" and extras["detail"]["usd"] == pytest.approx(2400)


def test_a_crashing_check_becomes_an_error_result(
    store: Store, tight: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reporting.checks import engine

    def boom(*_a: object) -> object:
        raise ZeroDivisionError("synthetic")

    monkeypatch.setitem(engine.MEASURES, "velocity_usd", boom)
    store_hours(store, "btc", flat_day({"binc": 1.0}))
    _m, stored = run_checks(store, tight, DAY)
    vel = result(list(stored.results), "velocity_usd", "BTC")
    assert vel.status == "error" and "ZeroDivisionError" in vel.message
    assert result(list(stored.results), "daily_usd", "BTC").status != "error"


def test_later_snapshot_is_the_current_value(store: Store) -> None:
    store_hours(store, "btc", flat_day({"binc": 10.0}))
    store_hours(store, "btc", {H0: {"binc": (1, 500.0, 0, 0.0)}})  # a correction of hour 0
    start, end = day_bounds(DAY)
    btc = load_period(store, source="demo", assets=["btc"], start=start, end=end)["BTC"]
    assert btc.intervals_received == 24
    assert btc.totals.total_usd == pytest.approx(23 * 10 + 500)


def test_the_packaged_limits_breach_on_the_demo_stress_day_only_there(
    settings: Settings,
) -> None:
    # Not the demo data itself (that is the demo's own test), but its shape at the packaged
    # limits: a normal BTC day of $60M spread over 24 h is ok; a $630M day with a $220M hour is not.
    normal = asset_day("btc", flat_day({"binc": 1_300_000.0, "okex": 1_200_000.0}))
    stress_hours = flat_day({"binc": 5_000_000.0, "okex": 5_000_000.0})
    stress_hours[hour(14)] = {
        "binc": (4000, 150_000_000.0, 500, 20_000_000.0),
        "okex": (400, 40_000_000.0, 100, 10_000_000.0),
    }
    stress = asset_day("btc", stress_hours)
    calm = {(r.check, r.status) for r in evaluate({"BTC": normal}, DAY, settings)}
    assert not {c for c, s in calm if s in ("warn", "breach")}
    hot = {r.check: r.status for r in evaluate({"BTC": stress}, DAY, settings) if r.scope == "BTC"}
    assert hot["daily_usd"] == hot["velocity_usd"] == hot["velocity_2h_usd"] == "breach"
    assert hot["velocity_count"] == "breach"


def test_run_checks_as_of_the_clock(store: Store, tight: Settings) -> None:
    store_hours(store, "btc", {hour(h): {"binc": (1, 1.0, 0, 0.0)} for h in range(10)})
    noon = hour(12) + timedelta(minutes=5)
    _m, stored = run_checks(store, tight, DAY, clock=lambda: noon)
    assert result(list(stored.results), "gaps", "BTC").observed == 2  # 10:00 and 11:00
    assert stored.run.started_at == noon


def test_day_bounds_are_utc() -> None:
    assert day_bounds(DAY)[0] == datetime(2025, 11, 3, tzinfo=UTC)


def test_graded_twins_leave_only_the_same_question_to_the_limit_set(
    store: Store, tight: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gaps and staleness grade what dq_missing_intervals and dq_stale ask; reconciliation (against
    # a second interval-volume source) does not ask what dq_reconcile_okx asks (okex vs OKX orders)
    from reporting.checks import quality

    loads: list[object] = []

    def counted(*args: object, **kwargs: object) -> dict[str, object]:
        loads.append(args)
        return {}

    monkeypatch.setattr(quality, "load_period", counted)
    store_hours(store, "btc", flat_day({"binc": 10.0, "okex": 5.0}))
    assert {"gaps", "staleness", "reconciliation"} <= set(tight.limits.configured_checks())
    _m, stored = run_checks(store, tight, DAY)
    found = {(r.check, r.scope) for r in stored.results}
    assert ("gaps", "BTC") in found and ("reconciliation", "BTC") in found
    assert not {c for c, _s in found} & {"dq_missing_intervals", "dq_stale"}
    assert ("dq_reconcile_okx", "BTC/okex") in found
    assert loads == []  # data quality judged the day's figures run_checks had loaded
