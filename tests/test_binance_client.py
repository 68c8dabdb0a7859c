"""Binance funding and open interest from a real HTTP server on 127.0.0.1: kept, verified."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.models import Snapshot
from audit_store.tables_ingest import FundingRate, OpenInterest
from reporting.checks.overlay_store import funding_rates, open_interest
from reporting.cli import main
from reporting.config import Settings
from reporting.fetch.derivers import verify_derived_tables
from reporting.fetch.ingest import fetch
from reporting.fetch.normalise import to_epoch_ms
from reporting.fetch.sources.binance.client import BinanceClient
from tests.binance_server import BinanceTestServer, Funding
from tests.binance_server import OpenInterest as OiRow
from tests.conftest import SettingsFactory
from tests.loopback_server import Canned, answer

T0 = datetime(2025, 9, 1, tzinfo=UTC)
DAYS = 45  # more than one funding window (999 hours) and several OI windows (499 hours)
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return to_epoch_ms(moment)


def funding_rows(days: int) -> list[Funding]:
    return [
        Funding(ms(T0 + timedelta(hours=8 * i)), f"{(i % 7 - 3) / 10000:.8f}", f"{100000 + i}.5")
        for i in range(days * 3)
    ]


def oi_rows(days: int) -> list[OiRow]:
    return [
        OiRow(ms(T0 + timedelta(hours=h)), f"{80000 + h}.12500000", f"{(80000 + h) * 100000}.5")
        for h in range(days * 24)
    ]


@pytest.fixture
def server() -> Iterator[BinanceTestServer]:
    srv = BinanceTestServer(
        funding={"BTCUSDT": funding_rows(DAYS), "ETHUSDT": funding_rows(2)},
        open_interest={"BTCUSDT": oi_rows(DAYS), "ETHUSDT": oi_rows(2)},
    )
    with srv.running():
        yield srv


@pytest.fixture
def binance_settings(make_settings: SettingsFactory, server: BinanceTestServer) -> Settings:
    settings = make_settings(LIQRISK_BINANCE_BASE_URL=server.base_url)
    fast = settings.binance.model_copy(
        update={"backoff_seconds": 0.01, "backoff_max_seconds": 0.02}
    )
    return settings.model_copy(update={"binance": fast})


def run(store: Store, settings: Settings, *assets: str, days: int = DAYS, **kw: object) -> list:  # type: ignore[type-arg]
    return fetch(
        store,
        settings,
        source="binance",
        assets=assets or ["btc"],
        start=T0,
        end=T0 + timedelta(days=days),
        clock=lambda: CLOCK,
        **kw,  # type: ignore[arg-type]
    )


def test_funding_and_open_interest_are_fetched_window_by_window(
    binance_settings: Settings, server: BinanceTestServer, store: Store
) -> None:
    funding, oi = run(store, binance_settings)
    assert funding.problems == () and oi.problems == ()
    assert (funding.source, oi.source) == ("binance:funding", "binance:open_interest")
    fr = [r for r in server.requests if r.path == "/fapi/v1/fundingRate"]
    assert len(fr) == 2  # 1080 hours in windows of 999
    assert fr[0].query["startTime"] == str(ms(T0)) and fr[0].query["limit"] == "1000"
    assert int(fr[1].query["startTime"]) == int(fr[0].query["endTime"]) + 1  # no gap, no overlap
    assert fr[-1].query["endTime"] == str(ms(T0 + timedelta(days=DAYS)) - 1)
    oi_requests = [r for r in server.requests if r.path == "/futures/data/openInterestHist"]
    assert len(oi_requests) == 3 and all(r.query["period"] == "1h" for r in oi_requests)
    points = funding_rates(store, asset="BTC", start=T0, end=T0 + timedelta(days=DAYS))
    assert len(points) == DAYS * 3
    assert [p.funding_rate for p in points[:4]] == [-0.0003, -0.0002, -0.0001, 0.0]
    assert points[0].mark_price == 100000.5 and points[0].exchange == "binc"
    levels = open_interest(store, asset="btc", start=T0, end=T0 + timedelta(days=DAYS))
    assert len(levels) == DAYS * 24
    assert levels[1].oi_base == 80001.125 and levels[1].oi_usd == 8000100000.5
    assert verify_derived_tables(store) == []


def test_refetch_keeps_both_snapshots_and_one_current_value(
    binance_settings: Settings, store: Store
) -> None:
    for _ in range(2):
        run(store, binance_settings, days=2)
    with store.session() as session:
        assert len(session.exec(select(FundingRate)).all()) == 2 * 6
    assert len(funding_rates(store, asset="BTC", start=T0, end=T0 + timedelta(days=2))) == 6


def test_invalid_symbol_is_kept_and_reported(
    binance_settings: Settings, server: BinanceTestServer, store: Store
) -> None:
    funding, _oi = run(store, binance_settings, "doge", days=2)
    assert funding.quarantined == 1 and funding.rows == 0
    assert any(p.severity == "error" and "HTTP 400" in p.message for p in funding.problems)
    with store.session() as session:
        snap = session.exec(select(Snapshot).order_by(col(Snapshot.leaf_index))).first()
    assert snap is not None and b"Invalid symbol" in snap.body and snap.quarantined


def test_429_and_418_with_retry_after_are_waited_out(
    binance_settings: Settings, server: BinanceTestServer
) -> None:
    waits: list[float] = []
    server.script.extend(
        [
            Canned(429, b'{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "3"}),
            Canned(418, b'{"code":-1003,"msg":"Way too many requests"}', {"Retry-After": "7"}),
        ]
    )
    with BinanceClient(binance_settings.binance, sleep=waits.append) as client:
        pages = list(client.funding_pages("btc", T0, T0 + timedelta(days=1)))
    assert waits == [3.0, 7.0]
    assert [p.http_status for p in pages] == [429, 418, 200]
    assert len(json.loads(pages[-1].body)) == 3


def test_a_malformed_window_is_quarantined_and_the_next_still_fetched(
    binance_settings: Settings, server: BinanceTestServer, store: Store
) -> None:
    server.faults[1] = Canned(200, b'[{"symbol": "BTCUSDT", "fundingRate": "0.0001", "fund')
    funding, _oi = run(store, binance_settings)
    assert funding.quarantined == 1 and funding.pages == 2
    assert any(p.severity == "error" and "not valid JSON" in p.message for p in funding.problems)
    points = funding_rates(store, asset="BTC", start=T0, end=T0 + timedelta(days=DAYS))
    assert len(points) == DAYS * 3 - 999 // 8 - 1  # the second window's settlements only
    assert verify_derived_tables(store) == []


def test_a_full_page_is_an_error_not_a_silent_truncation(
    binance_settings: Settings, server: BinanceTestServer, store: Store
) -> None:
    full = [
        {"symbol": "BTCUSDT", "fundingRate": "0.0001", "fundingTime": ms(T0) + i, "markPrice": "1"}
        for i in range(1000)
    ]
    server.script.append(answer(200, full))
    funding, _oi = run(store, binance_settings)
    assert any("rows may be missing" in p.message for p in funding.problems)


def test_verify_finds_an_altered_funding_row(binance_settings: Settings, store: Store) -> None:
    run(store, binance_settings, days=1)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER funding_rate_no_update"))
        connection.execute(text("UPDATE funding_rate SET funding_rate = 0.5 WHERE row_index = 1"))
    (found,) = verify_derived_tables(store)
    assert found.table == "funding_rate" and "funding_rate is 0.5, derived -0.0002" in found.message


def test_liqrisk_verify_reports_an_altered_overlay_row(
    binance_settings: Settings,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(store, binance_settings, days=1)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", binance_settings.database_url)
    with pytest.raises(SystemExit) as exit_:
        main(["verify"])
    assert exit_.value.code == 0, capsys.readouterr().out
    with store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER open_interest_no_update"))
        connection.execute(text("UPDATE open_interest SET oi_usd = 1 WHERE row_index = 3"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["verify"])
    out = capsys.readouterr().out
    assert exit_.value.code == 1 and "open_interest" in out and "oi_usd is 1.0" in out


def test_overlay_tables_are_append_only(binance_settings: Settings, store: Store) -> None:
    run(store, binance_settings, days=1)
    with pytest.raises(AppendOnlyViolation), store.session() as session:
        session.execute(text("DELETE FROM open_interest"))
    with store.session() as session:
        assert len(session.exec(select(OpenInterest)).all()) == 24
