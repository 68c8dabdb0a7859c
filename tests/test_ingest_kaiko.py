"""The Kaiko client's regions and interval checks, and the query block it records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from audit_store.db import Store
from reporting.checks.quality import data_quality_outcomes
from reporting.config import load_settings
from reporting.errors import ConfigError, ResponseError
from reporting.fetch.ingest import fetch
from reporting.fetch.sources.kaiko.client import KaikoClient
from tests.conftest import SettingsFactory
from tests.kaiko_server import KaikoTestServer, datum

T0 = datetime(2025, 11, 3, tzinfo=UTC)
KEY = "sk-region-test"


def capture(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"query": {"data_version": "v1"}, "data": []})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("region", "host"), [("eu", "eu.market-api.kaiko.io"), ("us", "us.market-api.kaiko.io")]
)
def test_the_region_picks_the_host(
    tmp_path: Path, make_settings: SettingsFactory, region: str, host: str
) -> None:
    settings = make_settings(KAIKO_API_KEY=KEY)
    kaiko = settings.kaiko.model_copy(update={"region": region})
    seen: list[httpx.Request] = []
    with KaikoClient(kaiko, transport=capture(seen)) as client:
        list(client.iter_pages("btc", T0, T0 + timedelta(hours=1)))
    (request,) = seen
    assert request.url.host == host and request.url.scheme == "https"
    assert request.url.path == "/v2/data/liquidation.v1/token/btc"


def test_the_base_url_variable_overrides_the_region(make_settings: SettingsFactory) -> None:
    settings = make_settings(KAIKO_API_KEY=KEY, LIQRISK_KAIKO_BASE_URL="http://127.0.0.1:9/")
    assert settings.kaiko.effective_base_url == "http://127.0.0.1:9"
    seen: list[httpx.Request] = []
    with KaikoClient(settings.kaiko, transport=capture(seen)) as client:
        list(client.iter_pages("btc", T0, T0 + timedelta(hours=1)))
    assert seen[0].url.host == "127.0.0.1"


def test_an_unknown_region_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "liqrisk.toml"
    packaged = load_settings(env={}).config_file
    assert packaged is not None
    config.write_text(
        packaged.read_text(encoding="utf-8").replace('region = "eu"', 'region = "asia"'),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"kaiko\.region = 'asia'"):
        load_settings(config, env={})


@pytest.mark.parametrize("interval", ["30m", "2d", "25h", "0h", "1w", "h"])
def test_intervals_outside_1h_to_1d_are_refused_before_any_request(
    make_settings: SettingsFactory, interval: str
) -> None:
    srv = KaikoTestServer({"btc": []}, api_key=KEY)
    with srv.running():
        settings = make_settings(LIQRISK_KAIKO_BASE_URL=srv.base_url, KAIKO_API_KEY=KEY)
        with KaikoClient(settings.kaiko) as client, pytest.raises(ResponseError, match="interval"):
            list(client.iter_pages("btc", T0, T0 + timedelta(days=3), interval=interval))
    assert srv.requests == []


def test_the_configured_interval_is_checked_when_the_config_is_read(tmp_path: Path) -> None:
    packaged = load_settings(env={}).config_file
    assert packaged is not None
    config = tmp_path / "liqrisk.toml"
    config.write_text(
        packaged.read_text(encoding="utf-8").replace('interval = "1h"', 'interval = "2d"', 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"fetch\.interval = '2d'.*1h to 1d"):
        load_settings(config, env={})


@pytest.mark.parametrize("interval", ["1h", "4h", "1d", "24h"])
def test_intervals_from_1h_to_1d_are_asked_for(
    make_settings: SettingsFactory, interval: str
) -> None:
    seen: list[httpx.Request] = []
    settings = make_settings(KAIKO_API_KEY=KEY)
    with KaikoClient(settings.kaiko, transport=capture(seen)) as client:
        list(client.iter_pages("eth", T0, T0 + timedelta(days=1), interval=interval))
    assert seen[0].url.params["interval"] == interval


def test_a_new_data_version_is_reported_and_shown_by_the_quality_checks(
    make_settings: SettingsFactory, store: Store
) -> None:
    class V2Server(KaikoTestServer):
        def _page(self, state: dict[str, object]) -> bytes:
            doc = json.loads(super()._page(state))
            doc["query"]["data_version"] = "v2"
            return json.dumps(doc).encode()

    hours = [datum(T0 + timedelta(hours=h), {"okex": (1, 5.0, 0, 0.0)}) for h in range(24)]
    srv = V2Server({"btc": hours}, api_key=KEY)
    with srv.running():
        settings = make_settings(LIQRISK_KAIKO_BASE_URL=srv.base_url, KAIKO_API_KEY=KEY)
        (summary,) = fetch(
            store, settings, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(days=1)
        )
    assert summary.rows == 48
    assert any("data_version is 'v2'" in p.message for p in summary.problems)
    fetch_ = settings.fetch.model_copy(update={"default_source": "kaiko", "assets": ("btc",)})
    settings = settings.model_copy(update={"fetch": fetch_})
    outcomes = data_quality_outcomes(store, settings, date(2025, 11, 3))
    (version,) = [o for o in outcomes if o.check == "dq_data_version"]
    assert version.status == "warn" and "v2" in version.message


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("http://kaiko.internal.example", False),
        ("http://10.0.0.5:8080", False),
        ("http://127.0.0.1:9", True),
        ("http://localhost:9", True),
        ("http://[::1]:9", True),
        ("https://kaiko.internal.example", True),
    ],
)
def test_the_key_never_goes_over_plain_http_off_this_machine(
    make_settings: SettingsFactory, base_url: str, allowed: bool
) -> None:
    """#21: the API key went over a plain http:// base URL without a word."""
    settings = make_settings(KAIKO_API_KEY=KEY, LIQRISK_KAIKO_BASE_URL=base_url)
    seen: list[httpx.Request] = []
    if allowed:
        with KaikoClient(settings.kaiko, transport=capture(seen)) as client:
            list(client.iter_pages("btc", T0, T0 + timedelta(hours=1)))
        assert len(seen) == 1
        return
    with pytest.raises(ConfigError, match="plain http://") as exc:
        KaikoClient(settings.kaiko, transport=capture(seen))
    assert KEY not in str(exc.value) and "kaiko.allow_plain_http" in str(exc.value)
    assert seen == []
    trusting = settings.kaiko.model_copy(update={"allow_plain_http": True})
    with KaikoClient(trusting, transport=capture(seen)) as client:
        list(client.iter_pages("btc", T0, T0 + timedelta(hours=1)))
    assert len(seen) == 1
