"""A store for report tests (and the PDF benchmark), built without the network or the demo server.

Pages are stored exactly as ``reporting.fetch.ingest`` stores them (snapshot first, derived rows
with it) through :mod:`audit_store.snapshots`, with Kaiko-format bodies that
:func:`reporting.fetch.sources.kaiko.format.derive` accepts: one page per asset per UTC day, as a
daily fetch makes. The figures are the bundled demo dataset's
(``reporting/fetch/sources/demo/kaiko_demo.json.gz``), or synthetic ones for the benchmark. The
configuration is a fixed copy, so changes to the packaged ``config/`` do not move the golden report.
Everything is deterministic: fixed fetch times, fixed clocks, a fixed software version in snapshots.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from audit_store.db import Store
from audit_store.snapshots import RawResponse, append_interval_values, append_snapshot, new_snapshot
from reporting.checks.store import run_checks
from reporting.config import Settings, load_settings
from reporting.fetch.derivers import derive_snapshot
from reporting.fetch.sources.kaiko.format import KIND
from reporting.resources import DEMO_DATA_FILE

STRESS_DAY = date(2025, 11, 3)
BASE_URL = "https://demo.invalid"
SNAPSHOT_SOFTWARE = "test-factory"  # not SOFTWARE_VERSION: keeps Merkle leaves installation-free

TEST_CONFIG = """
firm_name = "Example Derivatives Ltd"
database_url = "sqlite:///unused.db"
reports_dir = "reports"

[fetch]
default_source = "demo"
assets = ["btc", "eth", "sol", "xrp", "doge"]
interval = "1h"

[limits.daily_usd]
warn = 150_000_000
breach = 300_000_000

[limits.daily_usd.overrides]
BTC = { warn = 250_000_000, breach = 500_000_000 }
ETH = { warn = 200_000_000, breach = 400_000_000 }
XRP = { warn = 60_000_000, breach = 120_000_000 }
DOGE = { warn = 40_000_000, breach = 80_000_000 }

[limits.daily_usd_exchange]
warn = 75_000_000
breach = 150_000_000

[limits.daily_usd_exchange.overrides]
"BTC/binc" = { warn = 120_000_000, breach = 250_000_000 }

[limits.velocity_usd]
warn = 30_000_000
breach = 60_000_000

[limits.velocity_usd.overrides]
BTC = { warn = 50_000_000, breach = 100_000_000 }

[exchanges.binc]
name = "Binance"
jurisdiction = "SC Seychelles"

[exchanges.bbit]
name = "Bybit"
jurisdiction = "AE United Arab Emirates"

[exchanges.okex]
name = "OKX"
jurisdiction = "SC Seychelles"

[exchanges.drbt]
name = "Deribit"
jurisdiction = "AE United Arab Emirates"

[exchanges.hbdm]
name = "Huobi (HTX)"
jurisdiction = "SC Seychelles"

[exchanges.bmex]
name = "BitMEX"
jurisdiction = "SC Seychelles"

[exchanges.krkn]
name = "Kraken Futures"
jurisdiction = "GB United Kingdom"

[exchanges.cbse]
name = "Coinbase International"
jurisdiction = "BM Bermuda"

[exchanges.gtio]
name = "Gate"
jurisdiction = "KY Cayman Islands"
"""


def with_assets(config: str, assets: Sequence[str]) -> str:
    """``config`` fetching ``assets`` instead, less the limit overrides of assets it no longer
    fetches (the config refuses an override for an asset that is not configured)."""
    wanted = {a.upper() for a in assets}
    listed = "assets = [" + ", ".join(f'"{a.lower()}"' for a in assets) + "]"
    out = []
    for line in config.replace('assets = ["btc", "eth", "sol", "xrp", "doge"]', listed).split("\n"):
        match = re.match(r'^"?([A-Z0-9]+)(?:/[a-z0-9]+)?"? = \{', line)
        if match is None or match.group(1) in wanted:
            out.append(line)
    return "\n".join(out)


def report_settings(tmp_path: Path, *, extra_toml: str = "", config: str = TEST_CONFIG) -> Settings:
    """Settings from the fixed test config, with the store and reports under ``tmp_path``."""
    path = tmp_path / "liqrisk.toml"
    path.write_text(config + extra_toml, encoding="utf-8")
    return load_settings(
        path,
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{tmp_path / 'liqrisk.db'}",
            "LIQRISK_REPORTS_DIR": str(tmp_path / "reports"),
        },
    )


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.create_schema()
    return store


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def load_demo_data() -> dict[str, list[dict[str, Any]]]:
    """The bundled demo dataset's data elements, per lower-case asset."""
    with gzip.open(DEMO_DATA_FILE, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    return {asset: list(data) for asset, data in doc["assets"].items()}


def kaiko_body(
    asset: str, data: Sequence[Mapping[str, Any]], start: datetime, end: datetime
) -> bytes:
    doc = {
        "query": {
            "start_time": iso_z(start),
            "end_time": iso_z(end),
            "page_size": 100,
            "sort": "asc",
            "token": asset,
            "interval": "1h",
            "commodity": "liquidationEvents",
            "data_version": "v1",
        },
        "result": "success",
        "data": list(data),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def store_page(
    store: Store,
    *,
    source: str,
    asset: str,
    start: datetime,
    end: datetime,
    body: bytes,
    fetched_at: datetime,
    http_status: int = 200,
    config_hash: str = "test-config",
) -> tuple[int, str | None]:
    """Store one page as ``reporting.fetch.ingest`` does; returns (rows stored, quarantine
    reason)."""
    params = {
        "interval": "1h",
        "start_time": iso_z(start),
        "end_time": iso_z(end),
        "sort": "asc",
        "page_size": "100",
    }
    query = "&".join(f"{k}={v}" for k, v in params.items())
    raw = RawResponse(
        source=source,
        kind=KIND,
        url=f"{BASE_URL}/v2/data/liquidation.v1/token/{asset}?{query}",
        params=params,
        fetched_at=fetched_at,
        http_status=http_status,
        body=body,
    )
    with store.session() as session:
        snapshot = new_snapshot(raw, software_version=SNAPSHOT_SOFTWARE, config_hash=config_hash)
        derivation = derive_snapshot(snapshot)
        append_snapshot(session, snapshot, quarantine_reason=derivation.quarantine_reason)
        rows = 0
        if not derivation.quarantine_reason:
            rows = append_interval_values(session, snapshot, derivation.values)
    return rows, derivation.quarantine_reason


def store_days(
    store: Store,
    data: Mapping[str, Sequence[Mapping[str, Any]]],
    days: Iterable[date],
    *,
    source: str = "demo",
    drop: Mapping[str, Iterable[datetime]] | None = None,
) -> int:
    """One page per asset per day from ``data``, less the ``drop`` intervals; returns pages."""
    dropped = {
        a.lower(): {d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in ts} for a, ts in (drop or {}).items()
    }
    pages = 0
    for day in days:
        start = day_start(day)
        end = start + timedelta(days=1)
        first, last = start.strftime("%Y-%m-%dT%H"), end.strftime("%Y-%m-%dT%H")
        for asset in sorted(data):
            page = [
                d
                for d in data[asset]
                if first <= d["interval_time"][:13] < last
                and d["interval_time"] not in dropped.get(asset, set())
            ]
            store_page(
                store,
                source=source,
                asset=asset,
                start=start,
                end=end,
                body=kaiko_body(asset, page, start, end),
                fetched_at=end + timedelta(minutes=5),
            )
            pages += 1
    return pages


def store_quarantined(store: Store, asset: str, day: date, *, source: str = "demo") -> str | None:
    """A page that breaks the format (an amount as a string) for ``asset`` on ``day``."""
    start = day_start(day)
    end = start + timedelta(days=1)
    bad = {
        "interval_time": iso_z(start),
        "total_trades": 1,
        "long_trades": 1,
        "short_trades": 0,
        "total_amount": "12.5",
        "long_amount": 12.5,
        "short_amount": 0,
    }
    _rows, reason = store_page(
        store,
        source=source,
        asset=asset,
        start=start,
        end=end,
        body=kaiko_body(asset, [bad], start, end),
        fetched_at=end + timedelta(minutes=35),
    )
    return reason


def check_clock(day: date) -> datetime:
    return day_start(day) + timedelta(days=1, hours=6)


def run_checks_on(store: Store, settings: Settings, days: Iterable[date]) -> None:
    for day in days:
        run_checks(store, settings, day, clock=lambda d=day: check_clock(d))  # type: ignore[misc]


def demo_store(
    settings: Settings,
    *,
    day: date = STRESS_DAY,
    history_days: int = 7,
    check_days: Iterable[date] | None = None,
    quarantine: bool = True,
    drop_xrp_hour: bool = True,
) -> Store:
    """The demo data for ``day`` and the days before it, checks run, with a few data faults.

    Faults (so the report's data-quality paths show): one quarantined DOGE page on ``day``, and
    XRP's 03:00 interval of ``day`` missing. The demo set itself carries an unknown exchange code.
    """
    store = open_store(settings)
    data = load_demo_data()
    days = [day - timedelta(days=n) for n in range(history_days, -1, -1)]
    drop = {"xrp": [day_start(day) + timedelta(hours=3)]} if drop_xrp_hour else None
    store_days(store, data, days, drop=drop)
    if quarantine:
        store_quarantined(store, "doge", day)
    run_checks_on(store, settings, check_days if check_days is not None else [day])
    return store


# --- synthetic data (benchmark, edge cases) -----------------------------------------------------


def synthetic_data(
    assets: Sequence[str], exchanges: Sequence[str], start: datetime, hours: int, *, seed: int = 7
) -> dict[str, list[dict[str, Any]]]:
    """Kaiko data elements for ``assets`` on ``exchanges``, hourly from ``start``; totals exact."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for asset in assets:
        scale = rng.uniform(0.2, 5.0) * 1e6
        series = []
        for h in range(hours):
            moment = start + timedelta(hours=h)
            parts: list[dict[str, Any]] = []
            for code in exchanges:
                long_c, short_c = rng.randint(0, 40), rng.randint(0, 40)
                long_a = round(long_c * rng.uniform(0.01, 0.05) * scale / 10, 2) if long_c else 0
                short_a = round(short_c * rng.uniform(0.01, 0.05) * scale / 10, 2) if short_c else 0
                parts.append(
                    {
                        "exchange": code,
                        "long_trades": long_c,
                        "short_trades": short_c,
                        "total_trades": long_c + short_c,
                        "long_amount": long_a,
                        "short_amount": short_a,
                        "total_amount": long_a + short_a,
                    }
                )
            long_a = sum(p["long_amount"] for p in parts)
            short_a = sum(p["short_amount"] for p in parts)
            series.append(
                {
                    "interval_time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "interval_timestamp": int(moment.timestamp()) * 1_000_000_000,
                    "long_trades": sum(p["long_trades"] for p in parts),
                    "short_trades": sum(p["short_trades"] for p in parts),
                    "total_trades": sum(p["total_trades"] for p in parts),
                    "long_amount": long_a,
                    "short_amount": short_a,
                    "total_amount": long_a + short_a,
                    "exchanges": parts,
                }
            )
        out[asset] = series
    return out


def test_factory_pages_derive_without_problems(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    data = load_demo_data()
    start = day_start(STRESS_DAY)
    for asset in ("btc", "xrp"):
        page = [d for d in data[asset] if d["interval_time"].startswith("2025-11-03")]
        store = open_store(settings)
        rows, reason = store_page(
            store,
            source="demo",
            asset=asset,
            start=start,
            end=start + timedelta(days=1),
            body=kaiko_body(asset, page, start, start + timedelta(days=1)),
            fetched_at=start,
        )
        assert reason is None
        assert rows == sum(1 + len(d["exchanges"]) for d in page)
    store = open_store(settings)
    assert store_quarantined(store, "doge", STRESS_DAY) is not None
