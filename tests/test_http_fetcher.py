"""The shared HTTP fetcher: a host that cannot be reached is not waited for again in one run."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest

from audit_store.db import Store
from reporting.config import Settings
from reporting.errors import TransportError
from reporting.fetch.ingest import fetch
from reporting.fetch.sources.http import HttpFetcher
from tests.conftest import SettingsFactory

T0 = datetime(2025, 9, 1, tzinfo=UTC)
T1 = datetime(2025, 9, 2, tzinfo=UTC)


def refused_url() -> str:
    """A loopback address on which nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def fetcher(settings: Settings, transport: httpx.BaseTransport | None = None) -> HttpFetcher:
    policy = settings.binance.model_copy(
        update={"max_attempts": 3, "backoff_seconds": 0.0, "backoff_max_seconds": 0.0}
    )
    return HttpFetcher(
        policy,
        source_name="test",
        settings_key="binance",
        transport=transport,
        sleep=lambda _s: None,
    )


def drain(http: HttpFetcher, url: str) -> int:
    """Send one GET to ``url`` with retries; the final status."""
    steps = http.send_with_retries(http.request(url), "test.kind")
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return int(done.value.http_status)


def test_after_a_host_gave_up_later_requests_get_one_attempt(
    make_settings: SettingsFactory,
) -> None:
    url = refused_url()
    http = fetcher(make_settings())
    sent: list[str] = []
    real_send = http.send

    def counting_send(request: httpx.Request, kind: str) -> object:
        sent.append(str(request.url))
        return real_send(request, kind)

    http.send = counting_send  # type: ignore[assignment,method-assign]
    with pytest.raises(TransportError, match="gave up after 3 attempt"):
        drain(http, f"{url}/a")
    assert len(sent) == 3 and http.unreachable is not None
    with pytest.raises(TransportError, match="not retried") as err:
        drain(http, f"{url}/b")
    assert len(sent) == 4  # one attempt, the connection refused again
    assert "ConnectError" in str(err.value)
    http.close()


def test_a_host_that_answers_again_gets_full_retries(make_settings: SettingsFactory) -> None:
    calls: list[str] = []
    refusing = True

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if refusing:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) in (5, 6):  # the two attempts after the host came back fail at first
            raise httpx.ConnectError("connection reset", request=request)
        return httpx.Response(200, json={})

    http = fetcher(make_settings(), httpx.MockTransport(handler))
    with pytest.raises(TransportError):
        drain(http, "http://exchange.test/a")  # 3 attempts, all refused
    refusing = False
    assert drain(http, "http://exchange.test/b") == 200  # one attempt: the host answers
    assert http.unreachable is None and len(calls) == 4
    assert drain(http, "http://exchange.test/c") == 200  # full retries again: 2 failures, then ok
    assert len(calls) == 7
    http.close()


def test_a_fetch_against_a_host_that_is_down_ends_quickly_and_says_so(
    make_settings: SettingsFactory, store: Store
) -> None:
    url = refused_url()
    settings = make_settings(LIQRISK_BINANCE_BASE_URL=url)
    binance = settings.binance.model_copy(
        update={"max_attempts": 4, "backoff_seconds": 0.0, "backoff_max_seconds": 0.0}
    )
    settings = settings.model_copy(update={"binance": binance})
    summaries = fetch(
        store, settings, source="binance", assets=["btc", "eth", "sol"], start=T0, end=T1
    )
    assert len(summaries) == 6  # funding and open interest of three assets
    errors = [p.message for s in summaries for p in s.problems if p.severity == "error"]
    assert len(errors) == 6  # every one failed, and said so
    assert "gave up after 4 attempt" in errors[0]
    assert all("not retried" in e for e in errors[1:])
    assert all(s.pages == 0 and s.rows == 0 for s in summaries)
