"""Binance USD-M futures public REST client: funding-rate history and open-interest statistics.

No API key: both endpoints are public market data. Requests go to ``{base}/fapi/v1/fundingRate``
and ``{base}/futures/data/openInterestHist`` (see :mod:`reporting.fetch.sources.binance.format` for
the documented formats) with ``symbol`` = the asset and the configured quote (``BTC`` ->
``BTCUSDT``).

Paging is by time window, not by "continue after the last row": each request asks for a window that
can hold fewer rows than ``limit`` (999 funding settlements at most one an hour; 499 periods of open
interest), so the answer is complete whichever end of a crowded window Binance would fill first. A
page that comes back full anyway is an error (rows may be missing), never a silent truncation.
``startTime`` and ``endTime`` are inclusive milliseconds, so a window [a, b) is sent as a .. b-1.

Every response is yielded (and kept by the caller) before the next request; faults are those of
:mod:`reporting.fetch.sources.http`, plus HTTP 418 (Binance's ban after ignored 429s) retried only
as ``Retry-After`` allows within the retry budget.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx

from audit_store.snapshots import RawResponse
from reporting.config import ExchangeApi
from reporting.errors import ResponseError
from reporting.fetch.normalise import asset_code, to_epoch_ms
from reporting.fetch.sources.binance.coinm import EXCHANGE_INFO_KIND, EXCHANGE_INFO_PATH
from reporting.fetch.sources.binance.format import (
    FUNDING_KIND,
    FUNDING_PATH,
    OPEN_INTEREST_KIND,
    OPEN_INTEREST_PATH,
    row_times,
)
from reporting.fetch.sources.derived import SchemaViolation, period_seconds
from reporting.fetch.sources.http import HttpFetcher, SourceClient

FUNDING_LIMIT = 1000  # documented maximum
OPEN_INTEREST_LIMIT = 500  # documented maximum
SHORTEST_FUNDING_INTERVAL = timedelta(hours=1)


def _banned(raw: RawResponse) -> bool:
    return raw.http_status == 418 and bool(raw.extra.get("retry_after"))


class BinanceClient(SourceClient):
    def __init__(
        self,
        settings: ExchangeApi,
        *,
        source_name: str = "binance",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.source_name = source_name
        self.base_url = settings.effective_base_url
        self._http = HttpFetcher(
            settings,
            source_name=source_name,
            settings_key="binance",
            transport=transport,
            clock=clock,
            sleep=sleep,
            rng=rng,
            is_transient=_banned,
        )

    def symbol(self, asset: str) -> str:
        return f"{asset_code(asset)}{self.settings.quote}"

    def funding_pages(self, asset: str, start: datetime, end: datetime) -> Iterator[RawResponse]:
        """Every funding settlement of ``asset``'s perpetual in [start, end), window by window."""
        step = SHORTEST_FUNDING_INTERVAL * (FUNDING_LIMIT - 1)
        yield from self._windows(
            FUNDING_PATH, FUNDING_KIND, "fundingTime", asset, start, end, step, FUNDING_LIMIT, {}
        )

    def open_interest_pages(
        self, asset: str, start: datetime, end: datetime
    ) -> Iterator[RawResponse]:
        """Open interest of ``asset``'s perpetual at every ``oi_period`` in [start, end)."""
        period = self.settings.oi_period
        step = timedelta(seconds=period_seconds(period) * (OPEN_INTEREST_LIMIT - 1))
        yield from self._windows(
            OPEN_INTEREST_PATH,
            OPEN_INTEREST_KIND,
            "timestamp",
            asset,
            start,
            end,
            step,
            OPEN_INTEREST_LIMIT,
            {"period": period},
        )

    def coinm_exchange_info(self, base_url: str) -> Iterator[RawResponse]:
        """COIN-M futures' exchange information (the contract sizes its stream needs), from the
        COIN-M REST base ``base_url`` (``https://dapi.binance.com``)."""
        request = self._http.request(f"{base_url.rstrip('/')}{EXCHANGE_INFO_PATH}", {})
        raw = yield from self._http.send_with_retries(request, EXCHANGE_INFO_KIND)
        yield raw
        if not 200 <= raw.http_status < 300:
            raise ResponseError(f"{self.source_name} COIN-M ({raw.url}): HTTP {raw.http_status}")

    def _windows(
        self,
        path: str,
        kind: str,
        time_key: str,
        asset: str,
        start: datetime,
        end: datetime,
        step: timedelta,
        limit: int,
        extra: dict[str, str],
    ) -> Iterator[RawResponse]:
        if end <= start:
            raise ResponseError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        symbol = self.symbol(asset)
        window = start
        while window < end:
            window_end = min(window + step, end)
            params = {
                "symbol": symbol,
                **extra,
                "startTime": str(to_epoch_ms(window)),
                "endTime": str(to_epoch_ms(window_end) - 1),
                "limit": str(limit),
            }
            request = self._http.request(f"{self.base_url}{path}", params)
            raw = yield from self._http.send_with_retries(request, kind)
            yield raw
            where = f"{self.source_name} {symbol} {path} ({raw.url})"
            if not 200 <= raw.http_status < 300:
                raise ResponseError(f"{where}: HTTP {raw.http_status}")
            try:
                times = row_times(raw.body, time_key)
            except SchemaViolation:
                times = []  # the page is quarantined by its deriver; the next window is separate
            if len(times) >= limit:
                raise ResponseError(
                    f"{where}: {len(times)} rows, the page limit: rows may be missing; "
                    "this window is denser than the endpoint's documented cadence"
                )
            window = window_end
