"""OKX funding, open interest, liquidation orders and instruments from a real HTTP server on
127.0.0.1; hourly volumes from orders; the Kaiko-vs-OKX reconciliation check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from audit_store.db import Store
from reporting.checks.overlay_store import funding_rates, okx_hourly, open_interest
from reporting.checks.quality import data_quality_outcomes
from reporting.config import Settings
from reporting.fetch.derivers import verify_derived_tables
from reporting.fetch.ingest import fetch
from reporting.fetch.normalise import to_epoch_ms
from reporting.fetch.sources.okx.client import OkxClient
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.loopback_server import Canned
from tests.okx_server import Funding, Liquidation, OkxTestServer, OpenInterest, swap_instrument

DAY = date(2025, 11, 3)
T0 = datetime(2025, 11, 3, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
CLOCK = datetime(2025, 11, 5, tzinfo=UTC)
PRICE = 100_000.0


def ms(moment: datetime) -> int:
    return to_epoch_ms(moment)


def orders() -> list[Liquidation]:
    """150 BTC-USDT-SWAP orders on DAY: one every 36 s from 14:00 (100 in the 14:00 hour, 50 in
    the next), longs, 2 contracts at 100,000; orders 95..104 (newest first) share one millisecond,
    across the first page's end. And one the day before, so OKX's history reaches before DAY."""
    out = [Liquidation("BTC-USDT-SWAP", ms(T0 - timedelta(hours=5)), "sell", "long", "1", "99000")]
    for i in range(150):
        stamp = ms(T0 + timedelta(hours=14)) + i * 36_000
        out.append(Liquidation("BTC-USDT-SWAP", stamp, "sell", "long", "2", f"{PRICE:.1f}"))
    tie = out[51].time_ms
    for i in range(46, 56):  # newest first these are positions 95..104
        out[i] = Liquidation("BTC-USDT-SWAP", tie, "sell", "long", "2", f"{PRICE:.1f}")
    return out


@pytest.fixture
def server() -> Iterator[OkxTestServer]:
    srv = OkxTestServer(
        funding={
            "BTC-USDT-SWAP": [
                Funding(ms(T0 - timedelta(hours=8 * i)), f"{-0.0001 * (i % 13):.8f}", "0.0001")
                for i in range(120)
            ]
        },
        open_interest={
            "BTC-USDT-SWAP": [
                OpenInterest(ms(T0 - timedelta(hours=h)), f"{9000000 + h}", f"{90000 + h}", "1e10")
                for h in range(150)
            ]
        },
        liquidations={
            "BTC-USDT": orders(),
            "BTC-USD": [  # inverse: 3 contracts of 100 USD, a short squeezed at 15:30
                Liquidation(
                    "BTC-USD-SWAP",
                    ms(T0 + timedelta(hours=15, minutes=30)),
                    "buy",
                    "short",
                    "3",
                    "101000",
                )
            ],
            "BTC-USDC": [],
        },
        instruments={
            "BTC-USDT": [swap_instrument("BTC-USDT-SWAP", "0.01", "BTC", "linear")],
            "BTC-USD": [swap_instrument("BTC-USD-SWAP", "100", "USD", "inverse")],
            "BTC-USDC": [swap_instrument("BTC-USDC-SWAP", "0.0001", "BTC", "linear")],
        },
    )
    with srv.running():
        yield srv


@pytest.fixture
def okx_settings(make_settings: SettingsFactory, server: OkxTestServer) -> Settings:
    settings = make_settings(LIQRISK_OKX_BASE_URL=server.base_url)
    fast = settings.okx.model_copy(update={"backoff_seconds": 0.01, "backoff_max_seconds": 0.02})
    return settings.model_copy(update={"okx": fast})


def run(store: Store, settings: Settings, *datasets: str, start: datetime = T0) -> list:  # type: ignore[type-arg]
    return fetch(
        store,
        settings,
        source="okx",
        assets=["btc"],
        start=start,
        end=T1,
        datasets=list(datasets) or None,
        clock=lambda: CLOCK,
    )


def test_funding_walks_back_page_by_page(
    okx_settings: Settings, server: OkxTestServer, store: Store
) -> None:
    start = T0 - timedelta(days=35)  # 106 settlements: two pages of up to 100
    (summary,) = run(store, okx_settings, "funding", start=start)
    assert summary.problems == () and summary.pages == 2
    first, second = server.requests
    assert first.query["after"] == str(ms(T1)) and first.query["instId"] == "BTC-USDT-SWAP"
    assert int(second.query["after"]) < int(first.query["after"])
    points = funding_rates(store, asset="BTC", start=start, end=T1)
    assert len(points) == 35 * 3 + 1 and all(p.exchange == "okex" for p in points)
    assert points[-1].funding_time == T0 and points[-1].realized_rate == 0.0001


def test_open_interest_walks_back_with_end(
    okx_settings: Settings, server: OkxTestServer, store: Store
) -> None:
    start = T0 - timedelta(hours=120)
    (summary,) = run(store, okx_settings, "open_interest", start=start)
    assert summary.problems == () and summary.pages == 2
    assert [r.query["period"] for r in server.requests] == ["1H", "1H"]
    levels = open_interest(store, asset="BTC", start=start, end=T1)
    assert len(levels) == 121 and levels[-1].oi_contracts == 9000000.0
    assert levels[-1].oi_base == 90000.0 and levels[-1].oi_usd == 1e10


def test_liquidation_orders_become_hourly_volumes_counted_once(
    okx_settings: Settings, server: OkxTestServer, store: Store
) -> None:
    (summary,) = run(store, okx_settings, "liquidations")
    assert [p for p in summary.problems if p.severity != "info"] == []
    paths = [r.path for r in server.requests]
    assert paths.count("/api/v5/public/instruments") == 3
    usdt = [
        r for r in server.requests if r.query.get("instFamily") == "BTC-USDT" and "state" in r.query
    ]
    assert all(r.query["state"] == "filled" and r.query["instType"] == "SWAP" for r in usdt)
    assert len(usdt) == 2
    # the second page starts one millisecond after the oldest of the first: the tie is re-read
    tie = orders()[51].time_ms
    assert usdt[1].query["after"] == str(tie + 1)
    hours = okx_hourly(store, asset="BTC", start=T0, end=T1)
    assert hours.problems == ()
    h14, h15 = T0 + timedelta(hours=14), T0 + timedelta(hours=15)
    assert hours.hours[h14].long_count == 100 and hours.hours[h14].short_count == 0
    assert hours.hours[h15].long_count == 50 and hours.hours[h15].short_count == 1
    usd_per_order = 2 * 0.01 * PRICE  # linear: contracts x ctVal x price
    assert hours.hours[h14].long_usd == pytest.approx(100 * usd_per_order)
    assert hours.hours[h15].short_usd == pytest.approx(3 * 100)  # inverse: contracts x ctVal
    assert hours.orders == 151
    assert verify_derived_tables(store) == []


def test_orders_without_a_contract_value_are_left_out_and_said_so(
    okx_settings: Settings, server: OkxTestServer, store: Store
) -> None:
    server.instruments["BTC-USD"] = []
    run(store, okx_settings, "liquidations")
    hours = okx_hourly(store, asset="BTC", start=T0, end=T1)
    assert hours.orders == 150
    assert any(
        "BTC-USD-SWAP" in p.message and "contract value" in p.message for p in hours.problems
    )


def test_a_page_of_one_millisecond_is_stepped_past_and_reported(
    okx_settings: Settings, server: OkxTestServer
) -> None:
    stamp = ms(T0 + timedelta(hours=3))
    server.liquidations["BTC-USDT"] = [
        Liquidation("BTC-USDT-SWAP", stamp, "sell", "long", "1", "100") for _ in range(130)
    ]
    with OkxClient(okx_settings.okx) as client:
        pages = list(client.liquidation_pages("btc", T0, T1))
        notes = client.take_notes()
    assert len(pages) == 4  # USDT: the page of one millisecond, then past it (empty); USD; USDC
    assert len(notes) == 1 and "may be missing" in notes[0].message


def test_rate_limit_inside_http_200_is_retried(
    okx_settings: Settings, server: OkxTestServer
) -> None:
    waits: list[float] = []
    server.script.append(Canned(200, b'{"code":"50011","msg":"Too Many Requests","data":[]}'))
    with OkxClient(okx_settings.okx, sleep=waits.append) as client:
        pages = list(client.funding_pages("btc", T0 - timedelta(days=1), T1))
    assert len(waits) == 1 and pages[0].extra["transient"] is True
    assert len(pages) == 2


def test_unknown_instrument_is_kept_quarantined_and_an_error(
    okx_settings: Settings, store: Store
) -> None:
    summaries = fetch(
        store, okx_settings, source="okx", assets=["doge"], start=T0, end=T1,
        datasets=["funding"], clock=lambda: CLOCK,
    )  # fmt: skip
    (summary,) = summaries
    assert summary.quarantined == 0 or summary.rows == 0
    assert any(p.severity == "error" and "51001" in p.message for p in summary.problems)


def test_reconciliation_with_kaiko_okex_figures(
    okx_settings: Settings, server: OkxTestServer, store: Store
) -> None:
    run(store, okx_settings, "liquidations")
    okx_usd_14 = 100 * 2 * 0.01 * PRICE
    hours = {T0 + timedelta(hours=h): {"okex": (0, 0.0, 0, 0.0)} for h in range(24)}
    hours[T0 + timedelta(hours=14)] = {"okex": (100, okx_usd_14 * 1.02, 0, 0.0)}  # 2% apart
    hours[T0 + timedelta(hours=15)] = {"okex": (50, okx_usd_14 / 2, 1, 300.0)}
    store_hours(store, "btc", hours, fetched_at=CLOCK)
    settings = okx_settings.model_copy(
        update={"fetch": okx_settings.fetch.model_copy(update={"assets": ("btc",)})}
    )
    outcomes = data_quality_outcomes(store, settings, DAY, now=lambda: CLOCK)
    (rec,) = [o for o in outcomes if o.check == "dq_reconcile_okx"]
    assert rec.scope == "BTC/okex" and rec.status == "ok" and rec.observed is not None
    assert 1.0 < rec.observed < 2.0 and "24 h" in rec.message
    tight = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"reconcile_tolerance_pct": 1.0})}
    )
    (rec,) = [
        o
        for o in data_quality_outcomes(store, tight, DAY, now=lambda: CLOCK)
        if o.check == "dq_reconcile_okx"
    ]
    assert rec.status == "warn" and rec.evidence
