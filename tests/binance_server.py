"""A real HTTP server on 127.0.0.1 answering like Binance USD-M futures' public market data.

Written from Binance's documentation (developers.binance.com, USDS-margined futures, market data),
not from liqrisk's parser or demo emulator:

``GET /fapi/v1/fundingRate``: ``symbol``, ``startTime``/``endTime`` (ms, inclusive), ``limit``
(default 100, max 1000). Without both times the most recent 200 records; when the window holds more
than ``limit``, the first ``limit`` from ``startTime``. A list, ascending::

    [{"symbol": "BTCUSDT", "fundingRate": "-0.03750000", "fundingTime": 1570608000000,
      "markPrice": "34287.54619963"}]

``GET /futures/data/openInterestHist``: ``symbol``, ``period`` (5m .. 1d), ``limit`` (default 30,
max 500), ``startTime``, ``endTime``. A list, ascending, ``timestamp`` as in the doc example::

    [{"symbol": "BTCUSDT", "sumOpenInterest": "20403.63700000",
      "sumOpenInterestValue": "150570784.07809979", "CMCCirculatingSupply": "165880.538",
      "timestamp": "1583127900000"}]

Errors: HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``, ``-1120`` for a bad period.

COIN-M (coin-margined futures, market data, exchange information): ``GET /dapi/v1/exchangeInfo``,
an object whose ``symbols`` list holds each contract's ``symbol``, ``pair``, ``contractType``,
``contractStatus``, ``contractSize`` (USD face value), ``baseAsset``, ``quoteAsset``,
``marginAsset`` (and fields liqrisk does not read, such as ``pricePrecision``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.loopback_server import Canned, LoopbackServer, answer

PERIODS = {
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}


@dataclass(frozen=True)
class Funding:
    time_ms: int
    rate: str
    mark_price: str = "100000.00000000"


@dataclass(frozen=True)
class OpenInterest:
    time_ms: int  # on the 5-minute grid; coarser periods take the rows on their own grid
    oi: str
    value: str


class BinanceTestServer(LoopbackServer):
    def __init__(
        self,
        funding: dict[str, list[Funding]] | None = None,
        open_interest: dict[str, list[OpenInterest]] | None = None,
        coinm_sizes: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.funding = funding or {}
        self.open_interest = open_interest or {}
        self.coinm_sizes = coinm_sizes or {}  # COIN-M symbol -> contractSize (USD)

    def route(self, path: str, query: dict[str, str]) -> Canned:
        if path == "/dapi/v1/exchangeInfo":
            return answer(200, self._exchange_info())
        if path == "/fapi/v1/fundingRate":
            return self._funding(query)
        if path == "/futures/data/openInterestHist":
            return self._open_interest(query)
        return answer(404, {"code": -1000, "msg": "Not found."})

    def _exchange_info(self) -> dict[str, object]:
        symbols = []
        for symbol, size in self.coinm_sizes.items():
            pair = symbol.split("_")[0]
            base = pair.removesuffix("USD")
            symbols.append(
                {
                    "symbol": symbol,
                    "pair": pair,
                    "contractType": "PERPETUAL" if symbol.endswith("_PERP") else "CURRENT_QUARTER",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1597042800000,
                    "contractStatus": "TRADING",
                    "contractSize": size,
                    "marginAsset": base,
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": base,
                    "quoteAsset": "USD",
                    "pricePrecision": 1,
                    "quantityPrecision": 0,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "filters": [],
                    "orderTypes": ["LIMIT", "MARKET"],
                    "timeInForce": ["GTC", "IOC"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": 1597042800000,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    @staticmethod
    def _window(
        query: dict[str, str], default: int, maximum: int
    ) -> tuple[int | None, int | None, int] | Canned:
        try:
            limit = int(query.get("limit", default))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return answer(400, {"code": -1100, "msg": "Illegal characters found in a parameter."})
        if not 1 <= limit <= maximum:
            return answer(
                400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
            )
        return start, end, limit

    def _funding(self, query: dict[str, str]) -> Canned:
        rows = self.funding.get(query.get("symbol", ""))
        if rows is None:
            return answer(400, {"code": -1121, "msg": "Invalid symbol."})
        window = self._window(query, 100, 1000)
        if isinstance(window, Canned):
            return window
        start, end, limit = window
        ordered = sorted(rows, key=lambda r: r.time_ms)
        if start is None and end is None:
            picked = ordered[-200:][:limit]
        else:
            picked = [
                r
                for r in ordered
                if (start is None or r.time_ms >= start) and (end is None or r.time_ms <= end)
            ][:limit]
        return answer(
            200,
            [
                {
                    "symbol": query["symbol"],
                    "fundingRate": r.rate,
                    "fundingTime": r.time_ms,
                    "markPrice": r.mark_price,
                }
                for r in picked
            ],
        )

    def _open_interest(self, query: dict[str, str]) -> Canned:
        rows = self.open_interest.get(query.get("symbol", ""))
        if rows is None:
            return answer(400, {"code": -1121, "msg": "Invalid symbol."})
        seconds = PERIODS.get(query.get("period", ""))
        if seconds is None:
            return answer(400, {"code": -1120, "msg": "Invalid interval."})
        window = self._window(query, 30, 500)
        if isinstance(window, Canned):
            return window
        start, end, limit = window
        ordered = [
            r for r in sorted(rows, key=lambda r: r.time_ms) if r.time_ms % (seconds * 1000) == 0
        ]
        if start is None and end is None:
            picked = ordered[-limit:]
        else:
            picked = [
                r
                for r in ordered
                if (start is None or r.time_ms >= start) and (end is None or r.time_ms <= end)
            ][:limit]
        return answer(
            200,
            [
                {
                    "symbol": query["symbol"],
                    "sumOpenInterest": r.oi,
                    "sumOpenInterestValue": r.value,
                    "CMCCirculatingSupply": "165880.538",
                    "timestamp": str(r.time_ms),
                }
                for r in picked
            ],
        )
