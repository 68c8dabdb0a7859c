"""The report's live-streams table: stream figures labelled as sampled, beside the source's figure
for the same venue over exactly the hours the stream covered; absent without stream data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit_store.db import Store
from reporting.checks.metrics import Interval, day_bounds, load_period
from reporting.config import Settings, load_settings
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.streams.writer import PendingBatch, SessionEvent, record_sessions, store_batch
from reporting.render.context import build_report
from tests.ws_venues import binance_frame

DAY = datetime(2025, 11, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("streams-report")
    env = {
        **os.environ,
        "LIQRISK_DATABASE_URL": f"sqlite:///{folder / 's.db'}",
        "LIQRISK_REPORTS_DIR": str(folder / "reports"),
        "LIQRISK_SIGNING_KEY_FILE": str(folder / "signing.key"),
        "LIQRISK_CONFIG": "",
    }
    command = [sys.executable, "-m", "reporting", "daily", "--date", "2025-11-03"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return env


def _settings(env: dict[str, str]) -> Settings:
    return load_settings(env={k: env[k] for k in ("LIQRISK_DATABASE_URL", "LIQRISK_REPORTS_DIR")})


def test_no_stream_data_no_section(demo_day: dict[str, str]) -> None:
    settings = _settings(demo_day)
    model = build_report(Store(settings.database_url), settings, DAY.date())
    assert model.streams is None


def test_stream_figures_sit_beside_the_source_over_the_covered_hours(
    demo_day: dict[str, str], tmp_path: Path
) -> None:
    # A copy of the demo store: the other test reads the demo day without stream data.
    copy = tmp_path / "streams.db"
    shutil.copy(demo_day["LIQRISK_DATABASE_URL"].removeprefix("sqlite:///"), copy)
    settings = _settings({**demo_day, "LIQRISK_DATABASE_URL": f"sqlite:///{copy}"})
    store = Store(settings.database_url)
    # A connection subscribed from 10:20 to 13:00: hours 11:00 and 12:00 are covered in full.
    opened, closed = DAY + timedelta(hours=10, minutes=20), DAY + timedelta(hours=13)
    record_sessions(
        store,
        [
            SessionEvent("binance.usdm", "binance", "c1", "connect", opened),
            SessionEvent("binance.usdm", "binance", "c1", "subscribed", opened),
            SessionEvent("binance.usdm", "binance", "c1", "disconnect", closed, "stopped"),
        ],
    )
    at = [DAY + timedelta(hours=h, minutes=30) for h in (10, 11, 12)]
    frames = [
        (
            t,
            "c1",
            binance_frame("BTCUSDT", "SELL", "1", "100000", int(t.timestamp() * 1000)).encode(),
        )
        for t in at
    ]
    store_batch(
        store, PendingBatch("binance.usdm", binance.KIND, "ws://x", {}, frames), config_hash="t"
    )
    model = build_report(store, settings, DAY.date())
    assert model.streams is not None
    (figure,) = [f for f in model.streams.figures if f.asset == "BTC"]
    assert (figure.count, figure.long_usd, figure.short_usd) == (3, 300000.0, 0.0)
    assert len(figure.compared) == 2 and figure.stream_usd_compared == 200000.0
    assert model.streams.reference == "demo"
    btc = {i.start: i for i in _btc_intervals(store, settings)}
    want = sum(btc[DAY + timedelta(hours=h)].by_exchange["binc"].total_usd for h in (11, 12))
    assert figure.reference_usd_compared == pytest.approx(want)
    (coverage,) = [c for c in model.streams.coverage if c.stream == "binance.usdm"]
    assert coverage.covered_share == pytest.approx(160 / 1440)
    notes = dict(model.streams.notes)
    assert "at most the latest liquidation per symbol per second" in notes["Binance futures"]


def _btc_intervals(store: Store, settings: Settings) -> tuple[Interval, ...]:
    start, end = day_bounds(DAY.date())
    return load_period(store, source="demo", assets=("btc",), start=start, end=end)["BTC"].intervals
