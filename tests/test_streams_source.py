"""The live streams as a liquidation source of the checks and the report: ``streams`` alone, and
combined with Kaiko in either order of priority, each figure saying which source fed it; and the
``dq_stream_reconcile`` check of the streams against Kaiko per venue and hour.

The Kaiko figures come from the loopback Kaiko server, the stream figures from frames stored as the
collector stores them, with the connection records that say which hours were covered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.verify import verify_store
from reporting.checks.combined import combine
from reporting.checks.metrics import AssetDay, day_bounds, load_period
from reporting.checks.store import run_checks
from reporting.config import Settings, load_settings
from reporting.errors import ConfigError
from reporting.fetch.derivers import derived_rows
from reporting.fetch.ingest import fetch
from reporting.fetch.registry import daily_sources, source_problem
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.streams.verify import verify_stream_tables
from reporting.fetch.streams.writer import PendingBatch, SessionEvent, record_sessions, store_batch
from reporting.records import Interval, Volumes
from reporting.render.context import build_report
from reporting.render.html import render_html
from reporting.schedule.jobs import Context, coverage
from tests.conftest import SettingsFactory
from tests.kaiko_server import KaikoTestServer, datum
from tests.test_cli import run
from tests.ws_venues import binance_frame

DAY = date(2025, 11, 3)
T0 = datetime(2025, 11, 3, tzinfo=UTC)
KEY = "sk-streams-source"
NOW = T0 + timedelta(days=1, hours=2)


def _kaiko_hours(binc: tuple[int, float, int, float], extra_usd: float) -> list[dict[str, Any]]:
    hours = []
    for h in range(24):
        d = datum(T0 + timedelta(hours=h), {"binc": binc, "okex": (1, 50_000.0, 0, 0.0)})
        # Kaiko's total above the sum of its exchanges: a remainder no other source stands in for.
        d["total_amount"] += extra_usd
        d["long_amount"] += extra_usd
        hours.append(d)
    return hours


def _frame(symbol: str, side: str, qty: str, price: str, at: datetime) -> bytes:
    return binance_frame(symbol, side, qty, price, int(at.timestamp() * 1000)).encode()


@pytest.fixture
def world(make_settings: SettingsFactory, store: Store) -> Iterator[tuple[Store, Settings, str]]:
    """Kaiko for BTC and ETH over the day; the Binance stream connected 10:20-13:00 with BTC
    events at 10:30, 11:30 (and a short at 11:45) and 12:30, and a large ETH event at 11:30."""
    srv = KaikoTestServer(
        {
            "btc": _kaiko_hours((2, 400_000.0, 1, 100_000.0), extra_usd=1_000.0),
            "eth": _kaiko_hours((1, 10_000.0, 0, 0.0), extra_usd=0.0),
        },
        api_key=KEY,
    )
    with srv.running():
        settings = make_settings(LIQRISK_KAIKO_BASE_URL=srv.base_url, KAIKO_API_KEY=KEY)
        fetch_ = settings.fetch.model_copy(update={"assets": ("btc", "eth")})
        settings = settings.model_copy(update={"fetch": fetch_})
        fetch(
            store,
            settings,
            source="kaiko",
            assets=["btc", "eth"],
            start=T0,
            end=T0 + timedelta(days=1),
        )
    opened, closed = T0 + timedelta(hours=10, minutes=20), T0 + timedelta(hours=13)
    record_sessions(
        store,
        [
            SessionEvent("binance.usdm", "binance", "c1", "connect", opened),
            SessionEvent("binance.usdm", "binance", "c1", "subscribed", opened),
            SessionEvent("binance.usdm", "binance", "c1", "disconnect", closed, "stopped"),
        ],
    )
    at = {h: T0 + timedelta(hours=h, minutes=30) for h in (10, 11, 12)}
    frames = [(at[h], "c1", _frame("BTCUSDT", "SELL", "1", "100000", at[h])) for h in at]
    short = T0 + timedelta(hours=11, minutes=45)
    frames.append((short, "c1", _frame("BTCUSDT", "BUY", "2", "100000", short)))
    frames.append((at[11], "c1", _frame("ETHUSDT", "SELL", "100", "3000", at[11])))
    frames.sort(key=lambda f: f[0])
    stored = store_batch(
        store, PendingBatch("binance.usdm", binance.KIND, "ws://x", {}, frames), config_hash="t"
    )
    with store.read_session() as session:
        sha = session.execute(
            select(col(Snapshot.body_sha256)).where(col(Snapshot.id) == stored.snapshot_id)
        ).scalar_one()
    yield store, settings, sha


def _btc(store: Store, source: str) -> AssetDay:
    start, end = day_bounds(DAY)
    return load_period(store, source=source, assets=("btc",), start=start, end=end)["BTC"]


def _with_source(settings: Settings, source: str) -> Settings:
    fetch_ = settings.fetch.model_copy(update={"default_source": source})
    return settings.model_copy(update={"fetch": fetch_})


def test_streams_alone_are_hourly_figures_under_the_exchange_code(
    world: tuple[Store, Settings, str],
) -> None:
    store, _settings, batch_sha = world
    btc = _btc(store, "streams")
    # Received: the hours a connection covered (10:20-13:00), quiet or not; nothing else.
    assert [i.start.hour for i in btc.intervals] == [10, 11, 12]
    eleven = btc.intervals[1]
    assert eleven.by_exchange == {"binc": Volumes(1, 1, 2, 100_000.0, 200_000.0, 300_000.0)}
    assert eleven.evidence == (batch_sha,) and eleven.evidence_of("binc") == (batch_sha,)
    assert btc.totals.total_usd == 500_000.0 and btc.fed_by == {"binc": "streams"}
    assert btc.evidence == (batch_sha,)


def test_streams_first_take_their_venues_and_kaiko_the_rest(
    world: tuple[Store, Settings, str],
) -> None:
    store, _settings, batch_sha = world
    kaiko = _btc(store, "kaiko")
    both = _btc(store, "streams+kaiko")
    assert both.fed_by == {"binc": "streams", "okex": "kaiko"}
    # Binance for the whole day from the stream (never Kaiko's Binance hours added to it), OKX
    # from Kaiko, and Kaiko's remainder beyond its breakdown (1,000 USD an hour) kept.
    assert both.by_exchange["binc"].total_usd == 500_000.0
    assert both.by_exchange["okex"].total_usd == kaiko.by_exchange["okex"].total_usd == 1_200_000.0
    assert both.totals.total_usd == pytest.approx(500_000.0 + 1_200_000.0 + 24 * 1_000.0)
    five = next(i for i in both.intervals if i.start.hour == 5)
    assert "binc" not in five.by_exchange and five.fed_by == {"okex": "kaiko"}
    kaiko_shas = set(kaiko.evidence)
    assert set(both.exchange_evidence("okex")) <= kaiko_shas
    assert both.exchange_evidence("binc") == (batch_sha,)
    assert batch_sha in both.evidence and kaiko_shas <= set(both.evidence)


def test_kaiko_first_keeps_kaiko_wherever_it_has_the_venue(
    world: tuple[Store, Settings, str],
) -> None:
    store, _settings, _sha = world
    both = _btc(store, "kaiko+streams")
    kaiko = _btc(store, "kaiko")
    assert both.fed_by == {"binc": "kaiko", "okex": "kaiko"}
    assert both.totals == kaiko.totals


def test_combine_picks_an_exchange_per_day_not_per_hour() -> None:
    day1, day2 = T0, T0 + timedelta(days=1)
    v = Volumes(1, 0, 1, 10.0, 0.0, 10.0)
    kaiko = {"BTC": [Interval(t, v, {"binc": v}, ("k",)) for t in (day1, day2)]}
    streams = {"BTC": [Interval(day2, v + v, {"binc": v + v}, ("s",))]}
    (combined,) = combine([("streams", streams), ("kaiko", kaiko)]).values()
    assert [(i.start, i.fed_by) for i in combined] == [
        (day1, {"binc": "kaiko"}),  # no stream data that day: Kaiko's
        (day2, {"binc": "streams"}),
    ]
    assert combined[1].volumes.total_usd == 20.0 and combined[1].evidence == ("s",)


def test_checks_run_on_the_combined_source_and_cite_both(
    world: tuple[Store, Settings, str],
) -> None:
    store, settings, batch_sha = world
    settings = _with_source(settings, "streams+kaiko")
    _metrics, stored = run_checks(store, settings, DAY, clock=lambda: NOW)
    assert stored.run.source == "streams+kaiko"
    (daily,) = [r for r in stored.results if r.check == "daily_usd" and r.scope == "BTC"]
    assert daily.observed == pytest.approx(500_000.0 + 1_200_000.0 + 24_000.0)
    cited = set(json.loads(daily.evidence_json))
    assert batch_sha in cited and set(_btc(store, "kaiko").evidence) <= cited
    # every cited SHA-256 is a stored body, and the streams' tables re-derive from the frames
    report = verify_store(store, derived_rows)
    assert report.ok, report.discrepancies
    assert not list(verify_stream_tables(store))
    # the Kaiko-format data-quality checks run on the Kaiko part, under its name
    assert {r.scope for r in stored.results if r.check == "dq_quarantined"} == {"kaiko"}


def test_the_reconciliation_compares_the_hours_covered_in_full(
    world: tuple[Store, Settings, str],
) -> None:
    store, settings, batch_sha = world
    _metrics, stored = run_checks(store, _with_source(settings, "streams"), DAY, clock=lambda: NOW)
    found = {r.scope: r for r in stored.results if r.check == "dq_stream_reconcile"}
    assert set(found) == {"BTC/binc", "ETH/binc"}
    btc = found["BTC/binc"]
    # 11:00 and 12:00 were covered in full (10:00 only from 10:20): 300k + 100k of Kaiko's 2 x 500k
    assert btc.status == "ok" and btc.observed == pytest.approx(40.0)
    assert "over 2 hour(s)" in btc.message and "kaiko" in btc.message
    cited = set(json.loads(btc.evidence_json))
    assert batch_sha in cited and len(cited) > 1
    eth = found["ETH/binc"]
    # 300k on the stream against Kaiko's 10k at 11:00: not sampling, a wrong figure somewhere
    assert eth.status == "warn" and "11:00Z" in eth.message
    assert eth.observed == pytest.approx(100.0 * 300_000.0 / 20_000.0)


def test_the_report_names_the_source_of_each_row(world: tuple[Store, Settings, str]) -> None:
    store, settings, _sha = world
    settings = _with_source(settings, "streams+kaiko")
    run_checks(store, settings, DAY, clock=lambda: NOW)
    model = build_report(store, settings, DAY, now=NOW)
    assert model.source == "streams+kaiko"
    btc = next(m for m in model.markets if m.asset == "BTC")
    assert {r.exchange.code: r.fed_by for r in btc.exchanges if r.exchange} == {
        "binc": "streams",
        "okex": "kaiko",
    }
    assert model.streams is not None and model.streams.reference == "kaiko"
    html = render_html(model, software_version=SOFTWARE_VERSION)
    assert "Sources streams, then kaiko, in that order of priority" in html
    assert '<span class="fed">· streams</span>' in html
    assert "lower bounds, not the venues' totals" in html  # template text, not escaped


def test_the_report_on_streams_alone_sets_them_beside_kaiko(
    world: tuple[Store, Settings, str],
) -> None:
    store, settings, _sha = world
    settings = _with_source(settings, "streams")
    run_checks(store, settings, DAY, clock=lambda: NOW)
    model = build_report(store, settings, DAY, now=NOW)
    assert model.streams is not None and model.streams.reference == "kaiko"
    (figure,) = [f for f in model.streams.figures if f.asset == "BTC"]
    assert figure.share_of_reference == pytest.approx(0.4)
    html = render_html(model, software_version=SOFTWARE_VERSION)
    assert "Source streams: the liquidation events" in html
    assert '<span class="fed">' not in html


def test_the_configuration_takes_a_list_in_priority_order(tmp_path: Any) -> None:
    path = tmp_path / "liqrisk.toml"
    assets = 'assets = ["btc", "eth", "sol", "xrp", "doge"]\n'

    def load(source: str) -> Settings:
        path.write_text(f"[fetch]\ndefault_source = {source}\n{assets}", encoding="utf-8")
        return load_settings(path, env={})

    assert load('["streams", "kaiko"]').fetch.default_source == "streams+kaiko"
    assert load('"streams"').fetch.default_source == "streams"
    with pytest.raises(ConfigError, match="fictional"):
        load('["streams", "demo"]')
    with pytest.raises(ConfigError) as bad:
        load('"kaiko+bogus"')
    assert "default_source" in str(bad.value) and "bogus" in str(bad.value)
    assert str(path) in str(bad.value)


def test_the_daily_job_fetches_what_a_source_needs_and_never_the_streams() -> None:
    assert daily_sources("streams") == ("binance", "okx")
    assert daily_sources("streams+kaiko") == ("kaiko", "binance", "okx")
    assert daily_sources("demo") == ("demo",)
    assert source_problem("streams+streams") is not None
    assert source_problem("kaiko+streams") is None


def test_check_and_report_take_a_combined_source_on_the_command_line(
    world: tuple[Store, Settings, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store, settings, _sha = world
    monkeypatch.setenv("LIQRISK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(settings.audit.signing_key_file))
    day = DAY.isoformat()
    code, out, _err = run(["check", "--date", day, "--source", "streams+kaiko", "--json"], capsys)
    assert code == 0, _err
    found = json.loads(out)
    assert found["source"] == "streams+kaiko"
    code, out, err = run(["report", "--date", day, "--source", "streams+kaiko"], capsys)
    assert code == 0, err
    code, _out, err = run(["check", "--date", day, "--source", "streams+demo"], capsys)
    assert code == 2 and "fictional" in err and "Traceback" not in err


def test_fetch_with_streams_as_the_default_names_what_to_do(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "liqrisk.toml"
    path.write_text(
        '[fetch]\ndefault_source = "streams"\nassets = ["btc", "eth", "sol", "xrp", "doge"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    code, _out, err = run(["--config", str(path), "fetch"], capsys)
    assert code == 2
    assert "collected by `liqrisk collect`, not fetched; pass --source" in err


def test_the_scheduler_counts_the_streams_as_live_from_their_first_connection(
    world: tuple[Store, Settings, str],
) -> None:
    store, settings, _sha = world
    now = T0 + timedelta(days=2)
    streams = Context(store, _with_source(settings, "streams"), "t@h:1:a", clock=lambda: now)
    opened = T0 + timedelta(hours=10, minutes=20)
    assert coverage(streams) == (opened, now)
    # combined: the range both parts share (Kaiko was fetched for the day only)
    both = Context(store, _with_source(settings, "streams+kaiko"), "t@h:1:a", clock=lambda: now)
    kaiko_only = Context(store, _with_source(settings, "kaiko"), "t@h:1:a", clock=lambda: now)
    kaiko_range = coverage(kaiko_only)
    assert kaiko_range is not None
    assert coverage(both) == (opened, kaiko_range[1])
