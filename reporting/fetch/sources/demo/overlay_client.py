"""Emulators of Binance's and OKX's funding and open-interest endpoints, serving the demo overlays.

``demo_overlay_transport()`` plugs into httpx, so the demo's funding rates and open interest
(:mod:`reporting.fetch.sources.demo.generate_overlays`) go through the real clients, the real
derivers and the real store, exactly as they would from ``https://fapi.binance.com`` and
``https://www.okx.com``. The transport
answers both hosts' paths; what it emulates, from the exchanges' documentation:

* Binance ``GET /fapi/v1/fundingRate`` (``symbol``, ``startTime``, ``endTime`` inclusive ms,
  ``limit`` default 100, max 1000): a JSON list in ascending time, the first ``limit`` records of
  the window; and ``GET /futures/data/openInterestHist`` (``symbol``, ``period`` 1h..1d here,
  ``startTime``, ``endTime``, ``limit`` default 30, max 500). Errors are
  ``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400.
* OKX ``GET /api/v5/public/funding-rate-history`` (``instId``, ``after``/``before`` exclusive ms,
  ``limit`` max 400) and ``GET /api/v5/rubik/stat/contracts/open-interest-history`` (``instId``,
  ``period`` 1H..1D, ``begin``/``end``, ``limit`` max 100): envelopes ``{"code": "0", "msg": "",
  "data": [...]}``, newest first, numbers as strings. Errors are envelopes with another code.

The demo has no liquidation orders: the Kaiko-format demo already carries ``okex`` figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import httpx

from reporting.fetch.sources.demo.generate_overlays import (
    ASSETS,
    FundingSettlement,
    OpenInterestHour,
    funding,
    open_interest,
)

_BINANCE_PERIODS = {"1h": 1, "2h": 2, "4h": 4, "6h": 6, "12h": 12, "1d": 24}
_OKX_PERIODS = {"1H": 1, "2H": 2, "4H": 4, "6H": 6, "12H": 12, "1D": 24}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _decimal(value: float) -> str:
    return f"{value:.8f}"


def _json(status: int, doc: object) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )


def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    return int(text)


class OverlayEmulator:
    def __init__(
        self,
        settlements: Sequence[FundingSettlement] | None = None,
        hours: Sequence[OpenInterestHour] | None = None,
    ) -> None:
        self.funding = list(funding() if settlements is None else settlements)
        self.open_interest = list(open_interest() if hours is None else hours)

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        path = request.url.path
        try:
            if path == "/fapi/v1/fundingRate":
                return self._binance_funding(params)
            if path == "/futures/data/openInterestHist":
                return self._binance_oi(params)
            if path == "/api/v5/public/funding-rate-history":
                return self._okx_funding(params)
            if path == "/api/v5/rubik/stat/contracts/open-interest-history":
                return self._okx_oi(params)
        except ValueError:
            if path.startswith("/api/"):
                return _json(200, {"code": "51000", "msg": "Parameter error", "data": []})
            return _json(400, {"code": -1102, "msg": "A parameter was malformed."})
        if path.startswith("/api/"):
            return _json(404, {"code": "50000", "msg": "Not found", "data": []})
        return _json(404, {"code": -1000, "msg": "Not found."})

    # -- Binance

    @staticmethod
    def _binance_asset(symbol: str) -> str | None:
        for asset in ASSETS:
            if symbol == f"{asset.upper()}USDT":
                return asset
        return None

    def _binance_window(
        self, params: Mapping[str, str], default_limit: int, max_limit: int
    ) -> tuple[int, int, int]:
        limit = _int(params, "limit", default_limit) or default_limit
        if not 1 <= limit <= max_limit:
            raise ValueError("limit")
        start = _int(params, "startTime", 0) or 0
        end = _int(params, "endTime", 2**62) or 2**62
        return start, end, limit

    def _binance_funding(self, params: Mapping[str, str]) -> httpx.Response:
        asset = self._binance_asset(params.get("symbol", ""))
        if asset is None:
            return _json(400, {"code": -1121, "msg": "Invalid symbol."})
        start, end, limit = self._binance_window(params, 100, 1000)
        rows = [
            {
                "symbol": f"{asset.upper()}USDT",
                "fundingTime": _ms(s.time),
                "fundingRate": _decimal(s.rate),
                "markPrice": _decimal(s.mark_price),
            }
            for s in self.funding
            if s.exchange == "binc" and s.asset == asset and start <= _ms(s.time) <= end
        ]
        return _json(200, rows[:limit])

    def _binance_oi(self, params: Mapping[str, str]) -> httpx.Response:
        asset = self._binance_asset(params.get("symbol", ""))
        if asset is None:
            return _json(400, {"code": -1121, "msg": "Invalid symbol."})
        hours = _BINANCE_PERIODS.get(params.get("period", ""))
        if hours is None:
            return _json(400, {"code": -1120, "msg": "Invalid interval."})
        start, end, limit = self._binance_window(params, 30, 500)
        rows = [
            {
                "symbol": f"{asset.upper()}USDT",
                "sumOpenInterest": _decimal(p.oi_base),
                "sumOpenInterestValue": _decimal(p.oi_usd),
                "CMCCirculatingSupply": "0",
                "timestamp": _ms(p.time),
            }
            for p in self.open_interest
            if p.exchange == "binc"
            and p.asset == asset
            and p.time.hour % hours == 0
            and start <= _ms(p.time) <= end
        ]
        return _json(200, rows[:limit])

    # -- OKX

    @staticmethod
    def _okx_asset(inst_id: str) -> str | None:
        for asset in ASSETS:
            if inst_id == f"{asset.upper()}-USDT-SWAP":
                return asset
        return None

    @staticmethod
    def _okx_page(
        rows: list[tuple[int, object]],
        params: Mapping[str, str],
        older: str,
        newer: str,
        max_limit: int,
    ) -> list[object]:
        limit = _int(params, "limit", max_limit) or max_limit
        if not 1 <= limit <= max_limit:
            raise ValueError("limit")
        below = _int(params, older)
        above = _int(params, newer)
        picked = [
            row
            for stamp, row in sorted(rows, key=lambda r: -r[0])  # newest first
            if (below is None or stamp < below) and (above is None or stamp > above)
        ]
        return picked[:limit]

    def _okx_funding(self, params: Mapping[str, str]) -> httpx.Response:
        inst_id = params.get("instId", "")
        asset = self._okx_asset(inst_id)
        if asset is None:
            return _json(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        rows: list[tuple[int, object]] = [
            (
                _ms(s.time),
                {
                    "instType": "SWAP",
                    "instId": inst_id,
                    "fundingRate": _decimal(s.rate),
                    "realizedRate": _decimal(s.rate),
                    "fundingTime": str(_ms(s.time)),
                    "method": "current_period",
                    "formulaType": "withRate",
                },
            )
            for s in self.funding
            if s.exchange == "okex" and s.asset == asset
        ]
        data = self._okx_page(rows, params, "after", "before", 400)
        return _json(200, {"code": "0", "msg": "", "data": data})

    def _okx_oi(self, params: Mapping[str, str]) -> httpx.Response:
        inst_id = params.get("instId", "")
        asset = self._okx_asset(inst_id)
        if asset is None:
            return _json(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        hours = _OKX_PERIODS.get(params.get("period", "5m"))
        if hours is None:
            return _json(200, {"code": "51000", "msg": "Parameter period error", "data": []})
        rows: list[tuple[int, object]] = [
            (
                _ms(p.time),
                [str(_ms(p.time)), f"{p.oi_contracts:.0f}", _decimal(p.oi_base), f"{p.oi_usd:.2f}"],
            )
            for p in self.open_interest
            if p.exchange == "okex" and p.asset == asset and p.time.hour % hours == 0
        ]
        data = self._okx_page(rows, params, "end", "begin", 100)
        return _json(200, {"code": "0", "msg": "", "data": data})


def demo_overlay_transport() -> httpx.MockTransport:
    """An httpx transport answering like Binance's and OKX's public endpoints with the demo data."""
    return httpx.MockTransport(OverlayEmulator().handle)
