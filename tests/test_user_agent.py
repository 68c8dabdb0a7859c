"""Every request names its client, ``liqrisk/<version>``, never httpx's default (#20).

Real loopback servers of Kaiko, Binance and OKX record the headers of every request they get.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from reporting.config import Settings
from reporting.fetch.ingest import fetch
from reporting.fetch.normalise import to_epoch_ms
from reporting.fetch.sources.http import USER_AGENT
from tests.binance_server import BinanceTestServer, Funding
from tests.conftest import SettingsFactory
from tests.kaiko_server import KaikoTestServer, datum
from tests.loopback_server import LoopbackServer
from tests.okx_server import Funding as OkxFunding
from tests.okx_server import OkxTestServer

T0 = datetime(2025, 11, 3, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
CLOCK = datetime(2025, 11, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def _agents(server: LoopbackServer) -> set[str]:
    assert server.requests, "the server saw no request"
    return {
        next((v for k, v in seen.headers.items() if k.lower() == "user-agent"), "(none)")
        for seen in server.requests
    }


def test_the_agent_is_liqrisk_and_its_version() -> None:
    assert USER_AGENT == f"liqrisk/{SOFTWARE_VERSION}"
    assert "httpx" not in USER_AGENT


@pytest.fixture
def kaiko_server() -> Iterator[KaikoTestServer]:
    rows = [datum(T0 + timedelta(hours=h), {"binc": (1, 1000.0, 2, 2000.0)}) for h in range(24)]
    srv = KaikoTestServer({"btc": rows})
    with srv.running():
        yield srv


def test_kaiko_requests_carry_the_agent(
    store: Store, make_settings: SettingsFactory, kaiko_server: KaikoTestServer
) -> None:
    settings = make_settings(KAIKO_API_KEY="test-key", LIQRISK_KAIKO_BASE_URL=kaiko_server.base_url)
    (summary,) = fetch(
        store, settings, source="kaiko", assets=["btc"], start=T0, end=T1, clock=lambda: CLOCK
    )
    assert summary.rows > 0
    assert _agents(kaiko_server) == {USER_AGENT}


def _fast(settings: Settings, name: str) -> Settings:
    api = getattr(settings, name).model_copy(
        update={"backoff_seconds": 0.01, "backoff_max_seconds": 0.02}
    )
    return settings.model_copy(update={name: api})


def test_binance_requests_carry_the_agent(store: Store, make_settings: SettingsFactory) -> None:
    funding = [
        Funding(to_epoch_ms(T0 - timedelta(hours=8 * i)), "0.00010000", "100000.5")
        for i in range(6)
    ]
    srv = BinanceTestServer(funding={"BTCUSDT": funding}, open_interest={"BTCUSDT": []})
    with srv.running():
        settings = _fast(make_settings(LIQRISK_BINANCE_BASE_URL=srv.base_url), "binance")
        fetch(
            store, settings, source="binance", assets=["btc"], start=T0, end=T1, clock=lambda: CLOCK
        )
    assert _agents(srv) == {USER_AGENT}


def test_okx_requests_carry_the_agent(store: Store, make_settings: SettingsFactory) -> None:
    funding = [
        OkxFunding(to_epoch_ms(T0 - timedelta(hours=8 * i)), "0.00010000", "0.0001")
        for i in range(6)
    ]
    srv = OkxTestServer(funding={"BTC-USDT-SWAP": funding})
    with srv.running():
        settings = _fast(make_settings(LIQRISK_OKX_BASE_URL=srv.base_url), "okx")
        fetch(store, settings, source="okx", assets=["btc"], start=T0, end=T1, clock=lambda: CLOCK)
    assert _agents(srv) == {USER_AGENT}


def test_no_other_http_client_is_built() -> None:
    """Every httpx client is the fetcher's (or the webhook sender's, which sets the agent too):
    a new client elsewhere would go out as ``python-httpx``."""
    builders: list[str] = []
    for path in sorted((ROOT / "reporting").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"Client", "AsyncClient"}
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "httpx"
            ):
                builders.append(path.relative_to(ROOT).as_posix())
    assert builders == ["reporting/fetch/sources/http.py", "reporting/notify/webhook.py"]
