"""The console's Live page: the last hour of the streams' minute sums per asset and exchange (every
batch of a minute summed, nothing outside the window), each stream's connection state, the latest
intraday alerts (stored through the real collector path; none invented), escaping, the polling
script under the CSP, and the page polling in a browser, the alerts table with it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_streams import StreamMinute
from reporting.config import Settings, load_settings
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.sources.bybit import stream as bybit
from reporting.fetch.streams.lease import try_hold
from reporting.fetch.streams.writer import (
    CommittedBatch,
    PendingBatch,
    SessionEvent,
    record_sessions,
    store_batch,
)
from reporting.notify.intraday import record_failure
from reporting.web.accounts import add_user
from reporting.web.app import CSP, create_app
from reporting.web.live_views import heat, live
from tests.alert_helpers import ONE_MINUTE
from tests.console_server import serving
from tests.intraday_helpers import LEVELS, T0, Feed, intraday_rows, intraday_settings
from tests.test_web import PASSWORD, Clock, login
from tests.ws_venues import binance_frame, bybit_frame

NOW = datetime(2025, 11, 3, 12, 30, 30, tzinfo=UTC)  # the window: 11:31:00 to now
SCRIPT = "<script>alert(1)</script>"

Frame = tuple[datetime, str, bytes]


def _at(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def _binance(symbol: str, side: str, qty: str, price: str, at: datetime) -> Frame:
    ms = int(at.timestamp() * 1000)
    return at, "c1", binance_frame(symbol, side, qty, price, ms).encode()


def _bybit(symbol: str, side: str, size: str, price: str, at: datetime) -> Frame:
    ms = int(at.timestamp() * 1000)
    return at, "b1", bybit_frame(symbol, side, size, price, ms).encode()


def _store_binance(store: Store, frames: list[Frame]) -> int:
    batch = PendingBatch("binance.usdm", binance.KIND, "ws://x", {}, sorted(frames))
    return store_batch(store, batch, config_hash="t").snapshot_id


def _store_bybit(store: Store, frames: list[Frame]) -> int:
    params = {"category": "linear", "topics": "allLiquidation.BTCUSDT,allLiquidation.ETHUSDT"}
    batch = PendingBatch("bybit.linear", bybit.KIND, "ws://y", params, sorted(frames))
    return store_batch(store, batch, config_hash="t").snapshot_id


def _new_store(root: Path) -> tuple[Store, Settings]:
    settings = load_settings(
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{root / 'store.db'}",
            "LIQRISK_REPORTS_DIR": str(root / "reports"),
        }
    )
    store = Store(settings.database_url)
    store.create_schema()
    return store, settings


def store_world(store: Store) -> None:
    """Two venues, two assets; some minutes outside the window, one minute in two batches."""
    first = _store_binance(
        store,
        [
            _binance("BTCUSDT", "SELL", "1", "100000", _at(5) - timedelta(seconds=20)),  # 12:25:10
            _binance("BTCUSDT", "BUY", "0.5", "100000", _at(5)),  # 12:25:30, a short
            _binance("ETHUSDT", "SELL", "10", "3000", _at(30)),
            _binance("BTCUSDT", "SELL", "7", "100000", datetime(2025, 11, 3, 11, 31, tzinfo=UTC)),
            _binance(
                "BTCUSDT",
                "SELL",
                "2",
                "100000",
                datetime(2025, 11, 3, 11, 30, 59, 900_000, tzinfo=UTC),
            ),
            _binance("ETHUSDT", "SELL", "100", "3000", _at(24 * 60)),  # yesterday
        ],
    )
    assert first
    _store_binance(
        store,
        [
            _binance("BTCUSDT", "SELL", "3", "100000", _at(5) + timedelta(seconds=20)),  # 12:25:50
            # Batch one's first event again (a reconnect overlap): stored, not counted.
            _binance("BTCUSDT", "SELL", "1", "100000", _at(5) - timedelta(seconds=20)),
        ],
    )
    _store_bybit(
        store,
        [
            _bybit("BTCUSDT", "Buy", "0.2", "100000", _at(20)),  # a long
            _bybit("ETHUSDT", "Sell", "5", "3000", _at(1)),  # a short
            _bybit("BTCUSDT", "Buy", "1", "100000", _at(150)),
        ],
    )
    record_sessions(
        store,
        [
            SessionEvent("binance.usdm", "binance", "c1", "connect", _at(120)),
            SessionEvent("binance.usdm", "binance", "c1", "subscribed", _at(120)),
            SessionEvent("bybit.linear", "bybit", "b1", "connect", _at(180)),
            SessionEvent("bybit.linear", "bybit", "b1", "subscribed", _at(180)),
            SessionEvent("bybit.linear", "bybit", "b1", "disconnect", _at(0.5), "stopped"),
        ],
    )
    try_hold(store, "binance.usdm", "host-a:1:ab", 15, now=NOW - timedelta(seconds=5))


@dataclass(frozen=True)
class World:
    store: Store
    settings: Settings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store, settings = _new_store(tmp_path_factory.mktemp("live"))
    store_world(store)
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    yield World(store, settings)
    store.dispose()


def _client(store: Store, settings: Settings, now: datetime = NOW) -> TestClient:
    app = create_app(
        store, settings, session_key=b"k" * 48, secure_cookies=False, clock=Clock(now.timestamp())
    )
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


@pytest.fixture
def client(world: World) -> TestClient:
    client = _client(world.store, world.settings)
    assert login(client, "viewer")[0] == 303
    return client


def _cells(data: dict[str, Any]) -> dict[tuple[str, str], tuple[float, float, int, int]]:
    return {
        (row["asset"], c["exchange"]): (
            c["long_usd"],
            c["short_usd"],
            c["long_count"],
            c["short_count"],
        )
        for row in data["rows"]
        for c in row["cells"]
        if c["usd"]
    }


def test_the_cells_sum_every_batch_of_the_window_and_nothing_outside_it(
    client: TestClient,
) -> None:
    data = client.get("/api/live").json()
    assert data["window"] == {
        "minutes": 60,
        "start": "2025-11-03T11:31:00+00:00",
        "end": "2025-11-03T12:30:30+00:00",
    }
    assert data["exchanges"] == ["bbit", "binc", "okex"]  # OKX configured, silent: a column
    # BTC on Binance: 11:31:00 (700k, the window's first instant), 12:25 from two batches
    # (100k + 300k long, 50k short); not 11:30:59.9 (200k), not the re-sent event again.
    assert _cells(data) == {
        ("BTC", "binc"): (1_100_000.0, 50_000.0, 3, 1),
        ("ETH", "binc"): (30_000.0, 0.0, 1, 0),
        ("BTC", "bbit"): (20_000.0, 0.0, 1, 0),
        ("ETH", "bbit"): (0.0, 15_000.0, 0, 1),
    }
    btc, eth = data["rows"]  # the largest total first
    assert (btc["asset"], btc["total_usd"], eth["total_usd"]) == ("BTC", 1_170_000.0, 45_000.0)
    assert btc["minutes"][0] == 700_000.0 and btc["minutes"][54] == 450_000.0  # 11:31, 12:25
    assert btc["minutes"][39] == 20_000.0 and sum(btc["minutes"]) == btc["total_usd"]
    assert btc["spark"][0] == 20 and btc["spark"][54] == 13
    totals = {c["exchange"]: c["usd"] for c in data["totals"]["cells"]}
    assert totals == {"bbit": 35_000.0, "binc": 1_180_000.0, "okex": 0.0}
    assert [c["heat"] for c in btc["cells"]] == [2, 5, 0]  # 20k of 1.15M: past 1 %, short of 5 %
    assert data["newest_minute"] == "2025-11-03T12:29:00+00:00"


def test_the_same_on_either_engine(any_store: Store) -> None:
    """The index skipping (a recursive query) and the sums read alike on SQLite and PostgreSQL."""
    store_world(any_store)
    data = live(any_store, load_settings(env={}), NOW)
    assert _cells(data)[("BTC", "binc")] == (1_100_000.0, 50_000.0, 3, 1)
    assert len(_cells(data)) == 4 and data["newest_minute"] == "2025-11-03T12:29:00+00:00"
    assert [s["state"] for s in data["streams"]] == [
        "subscribed",
        "disconnected",
        "never connected",
    ]


def test_the_window_follows_the_clock(world: World) -> None:
    later = live(world.store, world.settings, NOW + timedelta(minutes=58))
    assert _cells(later) == {("ETH", "bbit"): (0.0, 15_000.0, 0, 1)}  # only 12:29 is left
    earlier = live(world.store, world.settings, NOW - timedelta(hours=23, minutes=50))
    assert _cells(earlier) == {("ETH", "binc"): (300_000.0, 0.0, 1, 0)}  # yesterday's


def test_the_streams_show_their_connection_state(client: TestClient) -> None:
    streams = {s["stream"]: s for s in client.get("/api/live").json()["streams"]}
    assert set(streams) == {"binance.usdm", "bybit.linear", "okx.public"}
    usdm, linear, okx = streams["binance.usdm"], streams["bybit.linear"], streams["okx.public"]
    assert (usdm["state"], usdm["since"], usdm["tone"]) == (
        "subscribed",
        _at(120).isoformat(),
        "ok",
    )
    assert usdm["collector"]["held"] and usdm["collector"]["holder"] == "host-a:1:ab"
    assert (linear["state"], linear["since"]) == ("disconnected", _at(0.5).isoformat())
    assert linear["detail"] == "disconnect: stopped" and linear["tone"] == "breach"
    assert linear["collector"] is None  # no lease on record: nothing claimed of a collector
    assert (okx["state"], okx["since"], okx["exchange"]) == ("never connected", None, "okex")


def test_a_connection_left_open_by_a_killed_collector_shows_stale(tmp_path: Path) -> None:
    store, settings = _new_store(tmp_path)
    record_sessions(
        store,
        [
            SessionEvent("okx.public", "okx", "o1", "connect", _at(50)),
            SessionEvent("okx.public", "okx", "o1", "subscribed", _at(50)),
            SessionEvent("bybit.linear", "bybit", "r1", "connect", _at(40)),
            SessionEvent("bybit.linear", "bybit", "r1", "refused", _at(40), "bad topic"),
            # A rollover: the new connection subscribed before the old one was closed.
            SessionEvent("binance.usdm", "binance", "old", "connect", _at(30)),
            SessionEvent("binance.usdm", "binance", "old", "subscribed", _at(30)),
            SessionEvent("binance.usdm", "binance", "new", "connect", _at(2)),
            SessionEvent("binance.usdm", "binance", "new", "subscribed", _at(2)),
            SessionEvent("binance.usdm", "binance", "old", "disconnect", _at(1), "rollover"),
        ],
    )
    try_hold(store, "okx.public", "host-b:2:cd", 15, now=_at(10))  # lapsed at 12:20:45
    states = {s["stream"]: s for s in live(store, settings, NOW)["streams"]}
    okx = states["okx.public"]
    assert (okx["state"], okx["since"]) == ("stale", (_at(10) + timedelta(seconds=15)).isoformat())
    assert "none: the last lease ended 2025-11-03 12:20:45 UTC" == okx["collector_text"]
    assert states["bybit.linear"]["state"] == "refused"
    assert (states["binance.usdm"]["state"], states["binance.usdm"]["since"]) == (
        "subscribed",
        _at(2).isoformat(),
    )


def test_no_intraday_alert_is_invented(client: TestClient) -> None:
    data = client.get("/api/live").json()
    assert data["intraday_alerts"] == [] and data["open_episodes"] == []
    html = client.get("/live").text
    assert "No intraday alert yet." in html and "No episode is open." in html
    assert "not built yet" not in html and "not shown yet" not in html


@dataclass(frozen=True)
class Alerts:
    store: Store
    settings: Settings
    rows: list[IntradayResult]  # oldest first, the error row among them


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alerts]:
    """Through the real collector path: BTC over 2M USD a minute for 25 minutes with a repeat
    every minute (a new row and 24 repeats, still open), an ETH episode that crossed and
    resolved, and a failed evaluation."""
    root = tmp_path_factory.mktemp("live-alerts")
    base = load_settings(env={"LIQRISK_DATABASE_URL": f"sqlite:///{root / 'store.db'}"})
    tables = {
        "velocity_usd_1m": {
            "asset_exchange": {"BTC/binc": LEVELS, "ETH/binc": LEVELS},
            "repeat_minutes": 1,
            "hysteresis": {"resolve_after_minutes": 1},
        }
    }
    settings = intraday_settings(tables, base=base)
    store = Store(settings.database_url)
    store.create_schema()
    feed = Feed(store, settings)
    feed.minute(0, {"ETH": 1_500_000})
    feed.minute(1, {"ETH": 0})
    for n in range(2, 27):
        feed.minute(n, {"BTC": 2_000_000})
    last = feed.stored[-1]
    with store.session() as session:
        batch = CommittedBatch(last.snapshot_id, last.leaf_index, "binance", {}, feed.now)
        record_failure(
            session, batch.snapshot_id, batch.leaf_index, RuntimeError("the disk is full"),
            "0" * 64, feed.now,
        )  # fmt: skip
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    yield Alerts(store, settings, intraday_rows(store))
    store.dispose()


def test_the_latest_intraday_alerts_newest_first(alerts: Alerts) -> None:
    rows = alerts.rows
    assert [(r.scope, r.kind) for r in rows[:2]] == [("ETH/binc", "new"), ("ETH/binc", "resolved")]
    assert [r.kind for r in rows[2:]] == ["new"] + ["repeat"] * 24 + ["error"]
    client = _client(alerts.store, alerts.settings, T0 + timedelta(minutes=30))
    assert login(client, "viewer")[0] == 303
    data = client.get("/api/live").json()
    shown = data["intraday_alerts"]
    assert data["intraday_alerts_limit"] == 20 and len(shown) == 20
    newest = [r for r in rows if r.kind != "error"][::-1][:20]  # no failed evaluation
    assert [a["id"] for a in shown] == [r.id for r in newest]
    top = shown[0]
    assert (top["kind"], top["status"], top["scope"], top["episode_open"]) == (
        "repeat",
        "breach",
        "BTC/binc",
        True,
    )
    assert top["limit_title"] == "velocity_usd_1m (1 min)" and top["url"] == f"/alerts/{top['id']}"
    assert top["versus_text"] == "$2,000,000 of $1,000,000 (200%)"
    assert top["at"] == (T0 + timedelta(minutes=26, seconds=31)).isoformat()
    (still_open,) = data["open_episodes"]  # ETH's resolved: BTC's alone is open
    btc_new = rows[2]
    assert still_open == {
        "episode": btc_new.episode,
        "limit_title": "velocity_usd_1m (1 min)",
        "scope": "BTC/binc",
        "status": "breach",
        "since": (T0 + timedelta(minutes=2, seconds=31)).isoformat(),
        "first_id": btc_new.id,
        "latest_id": rows[-2].id,
        "url": f"/alerts/{btc_new.id}",
    }
    html = client.get("/live").text
    table = re.search(r'<table id="live-alerts">(.*?)</table>', html, re.S)
    assert table is not None
    cells = re.findall(r"<tr>\s*<td class=\"nowrap\">([^<]*)</td>\s*<td class=\"nowrap\">([^<]*)"
                       r"</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", table.group(1))  # fmt: skip
    assert len(cells) == 20
    assert cells[0] == ("2025-10-22 09:26:31", "velocity_usd_1m (1 min)", "BTC/binc", "repeat")
    assert f'<a href="/alerts/{top["id"]}">Alert page</a>' in table.group(1)
    assert "$2,000,000 of $1,000,000 (200%)" in table.group(1)
    assert (
        f'Open now: <a href="/alerts/{btc_new.id}"><span class="pill breach">breach</span>' in html
    )
    assert "since 2025-10-22 09:02:31 UTC" in html
    # the heatmap's section first, then the alerts, then the streams
    assert html.index('id="live-heat"') < html.index('id="live-alerts"') < html.index("Streams")


def test_the_page_shows_the_heatmap_without_javascript(client: TestClient) -> None:
    page = client.get("/live")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    html = page.text
    row = re.search(r"<tr><th scope=\"row\">BTC</th>(.*?)</tr>", html)
    assert row is not None
    cells = re.findall(r'<td class="num heat-(\d)" title="([^"]*)">([^<]*)</td>', row.group(1))
    assert [(h, text) for h, _title, text in cells] == [("2", "$20.0k"), ("5", "$1.1M"), ("0", "–")]
    assert cells[1][1] == "BTC on binc: long $1,100,000 (3), short $50,000 (1)"
    assert "2025-11-03 11:31:00 UTC" in html and "2025-11-03 12:30:30 UTC" in html
    assert re.search(r'id="live-updated"[^>]*>2025-11-03 12:30:30 UTC<', html)
    assert "host-a:1:ab, its lease until 2025-11-03 12:30:40 UTC" in html
    assert '<a href="/live">Live</a>' in html  # in the nav


def test_the_page_has_no_inline_script_or_style(client: TestClient) -> None:
    html = client.get("/live").text
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/live.js" defer>']
    assert "</script>" in html and not re.search(r"<script[^>]*>[^<]+</script>", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers
    assert "style=" not in html and "<style" not in html
    assert "javascript:" not in html


def test_the_script_is_served_under_the_csp(world: World) -> None:
    client = _client(world.store, world.settings)  # public, as the stylesheet is
    answer = client.get("/static/live.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    script = answer.text
    assert "/api/live" in script and "401" in script and "textContent" in script
    assert "innerHTML" not in script and "eval(" not in script


def test_the_api_asks_for_a_login(world: World) -> None:
    client = _client(world.store, world.settings)
    assert client.get("/api/live").status_code == 401
    assert client.get("/live").headers["location"] == "/login?next=%2Flive"


def test_an_exchange_code_is_shown_escaped(tmp_path: Path) -> None:
    store, settings = _new_store(tmp_path)
    snapshot_id = _store_binance(store, [_binance("BTCUSDT", "SELL", "1", "100000", _at(3))])
    # No venue module names an exchange so; a store written by something else could.
    with store.session() as session:
        session.execute(
            insert(StreamMinute.__table__),  # type: ignore[attr-defined]
            {
                "snapshot_id": snapshot_id,
                "venue": SCRIPT,
                "asset": "BTC",
                "minute": _at(2).replace(second=0),
                "long_usd": 5.0,
                "short_usd": 0.0,
                "long_count": 1,
                "short_count": 0,
            },
        )
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    client = _client(store, settings)
    assert login(client, "viewer")[0] == 303
    assert SCRIPT in client.get("/api/live").json()["exchanges"]
    html = client.get("/live").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and SCRIPT not in html
    store.dispose()


def test_an_empty_store_says_there_is_no_stream_data(tmp_path: Path) -> None:
    store, settings = _new_store(tmp_path)
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    client = _client(store, settings)
    assert login(client, "viewer")[0] == 303
    data = client.get("/api/live").json()
    assert data["rows"] == [] and data["newest_minute"] is None
    assert {s["state"] for s in data["streams"]} == {"never connected"}
    page = client.get("/live")
    assert page.status_code == 200
    assert "No stream data in the window." in page.text and "none yet" in page.text
    store.dispose()


def test_heat_buckets() -> None:
    assert [heat(v, 100.0) for v in (0, 0.5, 1, 4.9, 5, 20, 49, 50, 100)] == [
        0, 1, 2, 2, 3, 4, 4, 5, 5,
    ]  # fmt: skip
    assert heat(5.0, 0.0) == 0


# -- in a browser: the page polls


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if (CHROMIUM is None or DRIVER is None) and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser test: .ci/run installs chromium, chromium-driver")


@pytest.mark.skipif(CHROMIUM is None or DRIVER is None, reason="no chromium and chromedriver")
def test_the_page_polls_and_stops_when_the_session_ends(tmp_path: Path) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")

    store, settings = _new_store(tmp_path)
    _store_binance(store, [_binance("BTCUSDT", "SELL", "1", "100000", _at(3))])
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    clock = Clock(NOW.timestamp())
    app = create_app(store, settings, session_key=b"s" * 48, secure_cookies=False, clock=clock)
    with serving(app) as url:
        _poll_in_a_browser(webdriver, url, store, settings, clock)
    store.dispose()


def _poll_in_a_browser(
    webdriver: Any, url: str, store: Store, settings: Settings, clock: Clock
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(DRIVER)), options=options)
    driver.implicitly_wait(10)
    wait = WebDriverWait(driver, 15)

    try:
        driver.get(url + "/live")
        driver.find_element(By.NAME, "name").send_keys("viewer")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        wait.until(lambda d: d.current_url == url + "/live")
        cells = driver.find_elements(By.CSS_SELECTOR, "#live-heat tbody tr td.num")
        assert [c.text for c in cells[:2]] == ["–", "$100.0k"]  # bbit, binc
        _store_binance(store, [_binance("BTCUSDT", "SELL", "4", "100000", _at(2))])
        clock.now += 20
        wait.until(lambda d: "$500.0k" in d.find_element(By.ID, "live-heat").text)
        assert driver.find_element(By.ID, "live-updated").text == "2025-11-03 12:30:50 UTC"
        assert driver.find_element(By.CSS_SELECTOR, "#live-heat svg.spark rect:not(.base)")
        cells = driver.find_elements(By.CSS_SELECTOR, "#live-heat tbody tr td.num")
        assert [c.text for c in cells[:2]] == ["–", "$500.0k"]  # rebuilt in the columns' order
        assert driver.find_element(By.ID, "live-alerts").text.endswith("No intraday alert yet.")
        # an alert stored by the collector (2M USD of BTC at 10:31, two hours before) appears
        intraday = intraday_settings(ONE_MINUTE, base=settings)
        Feed(store, intraday, t0=NOW - timedelta(hours=2)).minute(0, {"BTC": 2_000_000})
        (alert,) = intraday_rows(store)
        wait.until(lambda d: "Alert page" in d.find_element(By.ID, "live-alerts").text)
        row = driver.find_elements(By.CSS_SELECTOR, "#live-alerts tbody tr td")
        assert [c.text for c in row] == [
            "2025-11-03 10:31:01",
            "velocity_usd_1m (1 min)",
            "BTC/binc",
            "new",
            "breach",
            "$2,000,000 of $1,000,000 (200%)",
            "open",
            "Alert page",
        ]
        link = driver.find_element(By.LINK_TEXT, "Alert page")
        assert link.get_attribute("href") == f"{url}/alerts/{alert.id}"
        opened = driver.find_element(By.ID, "live-open").text
        assert (
            opened
            == "Open now: breach BTC/binc velocity_usd_1m (1 min) since 2025-11-03 10:31:01 UTC"
        )
        clock.now += 13 * 3600  # past the absolute session lifetime
        status = driver.find_element(By.ID, "live-status")
        wait.until(lambda d: status.is_displayed())
        assert status.text == "Session ended, reload to log in."
        problems = [  # a script error or a CSP refusal (not the 401, nor /favicon.ico's 404)
            e
            for e in driver.get_log("browser")
            if e["source"] in ("javascript", "security") or "Content Security" in e["message"]
        ]
        assert problems == []
    finally:
        driver.quit()
