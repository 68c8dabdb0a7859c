"""OKX API v5 public REST client: funding history, open interest, liquidation orders, instruments.

No API key: all four are public. Formats in :mod:`reporting.fetch.sources.okx.format`. Per asset:

* funding and open interest of the configured perpetual, ``{ASSET}-{quote}-SWAP``;
* filled liquidation orders (``instType=SWAP``, ``state=filled``, ``limit=100``) of every
  configured swap family ``{ASSET}-{q}`` (USDT-, USD- and USDC-margined by default), and the
  instruments of those families, whose contract values turn contracts into USD.

OKX pages newest first with time cursors: ``after`` asks for records earlier than a time (funding,
liquidations), ``end`` likewise for open interest. A walk over [start, end) starts from ``end`` and
moves the cursor to the oldest time of each page until a page is short, empty, or older than
``start``. Liquidation orders can share a millisecond, and a page can end in the middle of such a
group, so the next cursor is that oldest time plus one millisecond: the group is asked for again
whole, and the double is harmless, since orders are counted once per key across pages (see
:mod:`reporting.checks.overlay_store`). A page made of one millisecond only would then repeat; the
cursor then steps past it, and the possible loss is reported in :attr:`OkxClient.notes`.

Rate limits: HTTP 429, and also code ``50011`` (or ``50013``, ``50001``) inside an HTTP 200, are
retried like any transient failure (:mod:`reporting.fetch.sources.http`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx

from audit_store.snapshots import RawResponse
from reporting.config import ExchangeApi
from reporting.errors import ResponseError
from reporting.fetch.normalise import asset_code, to_epoch_ms
from reporting.fetch.sources.derived import SchemaViolation
from reporting.fetch.sources.http import HttpFetcher, SourceClient
from reporting.fetch.sources.okx.format import (
    FUNDING_KIND,
    FUNDING_PATH,
    INSTRUMENTS_KIND,
    INSTRUMENTS_PATH,
    LIQUIDATIONS_KIND,
    LIQUIDATIONS_PATH,
    OPEN_INTEREST_KIND,
    OPEN_INTEREST_PATH,
    RATE_LIMIT_CODES,
    envelope_code,
    page_times,
)
from reporting.records import Problem

PAGE_LIMIT = 100
MAX_PAGES = 100_000
_OKX_PERIODS = {"5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H"}
_OKX_PERIODS.update({"6h": "6H", "12h": "12H", "1d": "1D"})


def _rate_limited(raw: RawResponse) -> bool:
    return 200 <= raw.http_status < 300 and envelope_code(raw.body) in RATE_LIMIT_CODES


class OkxClient(SourceClient):
    def __init__(
        self,
        settings: ExchangeApi,
        *,
        source_name: str = "okx",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.source_name = source_name
        self.base_url = settings.effective_base_url
        self.notes: list[Problem] = []  # what a walk could not guarantee; the caller reports it
        self._http = HttpFetcher(
            settings,
            source_name=source_name,
            settings_key="okx",
            transport=transport,
            clock=clock,
            sleep=sleep,
            rng=rng,
            is_transient=_rate_limited,
        )

    def take_notes(self) -> list[Problem]:
        notes, self.notes = self.notes, []
        return notes

    def swap(self, asset: str, quote: str | None = None) -> str:
        return f"{asset_code(asset)}-{quote or self.settings.quote}-SWAP"

    def families(self, asset: str) -> list[str]:
        return [f"{asset_code(asset)}-{q}" for q in self.settings.liquidation_quotes]

    def funding_pages(self, asset: str, start: datetime, end: datetime) -> Iterator[RawResponse]:
        inst_id = self.swap(asset)
        yield from self._walk(
            FUNDING_PATH, FUNDING_KIND, {"instId": inst_id}, "after", start, end, tie_step=0
        )

    def open_interest_pages(
        self, asset: str, start: datetime, end: datetime
    ) -> Iterator[RawResponse]:
        params = {"instId": self.swap(asset), "period": _OKX_PERIODS[self.settings.oi_period]}
        # ``end`` asks for records before a time; the periods are aligned, so the oldest time
        # minus one millisecond is a safe next cursor whether OKX reads ``end`` as < or <=.
        yield from self._walk(
            OPEN_INTEREST_PATH, OPEN_INTEREST_KIND, params, "end", start, end, tie_step=-1
        )

    def liquidation_pages(
        self, asset: str, start: datetime, end: datetime
    ) -> Iterator[RawResponse]:
        for family in self.families(asset):
            params = {"instType": "SWAP", "instFamily": family, "state": "filled"}
            yield from self._walk(
                LIQUIDATIONS_PATH, LIQUIDATIONS_KIND, params, "after", start, end, tie_step=1
            )

    def instrument_pages(self, asset: str, inst_type: str = "SWAP") -> Iterator[RawResponse]:
        for family in self.families(asset):
            params = {"instType": inst_type, "instFamily": family}
            request = self._http.request(f"{self.base_url}{INSTRUMENTS_PATH}", params)
            raw = yield from self._http.send_with_retries(request, INSTRUMENTS_KIND)
            yield raw
            if not 200 <= raw.http_status < 300:
                raise ResponseError(
                    f"{self.source_name} {family} ({raw.url}): HTTP {raw.http_status}"
                )

    def _walk(
        self,
        path: str,
        kind: str,
        params: dict[str, str],
        cursor_name: str,
        start: datetime,
        end: datetime,
        *,
        tie_step: int,
    ) -> Iterator[RawResponse]:
        """Pages newest first from ``end`` back to ``start``, moving ``cursor_name`` each time."""
        if end <= start:
            raise ResponseError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        start_ms = to_epoch_ms(start)
        cursor = to_epoch_ms(end) + min(tie_step, 0)
        label = params.get("instId") or params.get("instFamily") or ""
        for _ in range(MAX_PAGES):
            query = {**params, cursor_name: str(cursor), "limit": str(PAGE_LIMIT)}
            request = self._http.request(f"{self.base_url}{path}", query)
            raw = yield from self._http.send_with_retries(request, kind)
            yield raw
            where = f"{self.source_name} {label} {path} ({raw.url})"
            if not 200 <= raw.http_status < 300:
                raise ResponseError(f"{where}: HTTP {raw.http_status}")
            try:
                times = page_times(raw.body, kind)
            except SchemaViolation as exc:
                raise ResponseError(f"{where}: {exc}; paging stopped") from None
            if not times or len(times) < PAGE_LIMIT or min(times) < start_ms:
                return
            oldest = min(times)
            following = oldest + tie_step
            if tie_step > 0 and (following >= cursor or oldest == max(times)):
                # A full page of one millisecond would only be read again: step past it.
                following = oldest
                self.notes.append(
                    Problem(
                        where,
                        f"a whole page shares the time {oldest} ms; orders at that millisecond "
                        "beyond the page may be missing",
                    )
                )
            if following >= cursor:
                raise ResponseError(f"{where}: the cursor does not move; paging loop")
            cursor = following
        raise ResponseError(f"{self.source_name} {label}: more than {MAX_PAGES} pages")
