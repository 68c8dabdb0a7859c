"""Binance USD-M futures public market data: from a raw response body to funding and OI rows.

Two endpoints, as documented (developers.binance.com, USDS-margined futures, market data):

``GET /fapi/v1/fundingRate?symbol=&startTime=&endTime=&limit=`` (limit default 100, max 1000),
a JSON list in ascending ``fundingTime``::

    [{"symbol": "BTCUSDT", "fundingRate": "-0.03750000", "fundingTime": 1570608000000,
      "markPrice": "34287.54619963"}, ...]

``GET /futures/data/openInterestHist?symbol=&period=&limit=&startTime=&endTime=`` (period 5m ..
1d, limit default 30, max 500, only the latest month is kept), a JSON list::

    [{"symbol": "BTCUSDT", "sumOpenInterest": "20403.63700000",
      "sumOpenInterestValue": "150570784.07809979", "CMCCirculatingSupply": "165880.538",
      "timestamp": "1583127900000"}, ...]

Numbers come as decimal strings (JSON numbers are accepted too); ``timestamp`` as a string or an
integer of milliseconds; ``markPrice`` may be missing or empty on old records. An error is an object
``{"code": -1121, "msg": "Invalid symbol."}``. Anything else that breaks the format (not a list, a
missing field, a string that is not a number, NaN, a negative open interest, the same time twice)
quarantines the page: it is kept, and yields no rows.

The period of open interest and the symbol come from the request's parameters, which are stored
with the snapshot, so the rows remain a pure function of what was kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reporting.fetch.normalise import epoch_to_utc, parse_symbol
from reporting.fetch.sources.derived import (
    Derived,
    SchemaViolation,
    epoch_ms,
    load_json,
    number,
    optional_number,
    period_seconds,
    require,
    text,
)
from reporting.records import Problem

FUNDING_KIND = "binance.fapi.funding_rate.v1"
OPEN_INTEREST_KIND = "binance.futures_data.open_interest_hist.v1"
FUNDING_PATH = "/fapi/v1/fundingRate"
OPEN_INTEREST_PATH = "/futures/data/openInterestHist"
EXCHANGE = "binc"
OPEN_INTEREST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


def _rows_list(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and "code" in doc:
        raise SchemaViolation(
            f"API answered code {doc.get('code')!r}: {str(doc.get('msg', ''))[:200]}"
        )
    if not isinstance(doc, list):
        raise SchemaViolation("body is not a JSON list")
    return doc


def _instrument(
    item: Mapping[str, Any], where: str, asked: str | None, problems: list[Problem]
) -> tuple[str, str, str]:
    """(asset, instrument, quote) of a row; a row for a symbol other than the one asked for is a
    problem (kept: its own symbol names it)."""
    symbol = text(item, "symbol", where)
    try:
        parsed = parse_symbol(symbol)
    except ValueError as exc:
        raise SchemaViolation(f"{where}: {exc}") from None
    if asked and symbol != asked:
        problems.append(Problem(where, f"row for {symbol}, but {asked} was asked for"))
    return parsed.base, symbol, parsed.quote or ""


def _items(
    body: bytes, params: Mapping[str, str], time_field: str, problems: list[Problem]
) -> Iterator[tuple[dict[str, Any], str, str, str, str, int]]:
    """Each row of a Binance list body with where it is, its instrument and its ms timestamp;
    ``SchemaViolation`` for a row that is not an object or an (instrument, time) seen twice."""
    seen: set[tuple[str, int]] = set()
    for i, item in enumerate(_rows_list(load_json(body))):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise SchemaViolation(f"{where} is not an object")
        asset, instrument, quote = _instrument(item, where, params.get("symbol"), problems)
        stamp = epoch_ms(require(item, time_field, where), where, time_field)
        if (instrument, stamp) in seen:
            raise SchemaViolation(f"{where}: {time_field} {stamp} appears twice")
        seen.add((instrument, stamp))
        yield item, where, asset, instrument, quote, stamp


def derive_funding(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    problems: list[Problem] = []
    try:
        rows: list[dict[str, Any]] = []
        for item, where, asset, instrument, quote, stamp in _items(
            body, params, "fundingTime", problems
        ):
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": asset,
                    "instrument": instrument,
                    "quote": quote,
                    "funding_time": epoch_to_utc(stamp),
                    "funding_rate": number(
                        require(item, "fundingRate", where), where, "fundingRate"
                    ),
                    "realized_rate": None,
                    "mark_price": optional_number(item, "markPrice", where, minimum=0),
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc), problems)
    return Derived.rows("funding_rate", rows, problems)


def derive_open_interest(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    problems: list[Problem] = []
    try:
        try:
            seconds = period_seconds(params.get("period", ""))
        except ValueError as exc:
            raise SchemaViolation(f"request: {exc}") from None
        rows: list[dict[str, Any]] = []
        for item, where, asset, instrument, quote, stamp in _items(
            body, params, "timestamp", problems
        ):
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": asset,
                    "instrument": instrument,
                    "quote": quote,
                    "ts": epoch_to_utc(stamp),
                    "period_seconds": seconds,
                    "oi_contracts": None,
                    "oi_base": number(
                        require(item, "sumOpenInterest", where),
                        where,
                        "sumOpenInterest",
                        minimum=0,
                    ),
                    "oi_usd": number(
                        require(item, "sumOpenInterestValue", where),
                        where,
                        "sumOpenInterestValue",
                        minimum=0,
                    ),
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc), problems)
    return Derived.rows("open_interest", rows, problems)


def row_times(body: bytes, key: str) -> list[int]:
    """The millisecond times of a page's rows (``fundingTime`` or ``timestamp``), for paging;
    ``SchemaViolation`` when the page cannot be read."""
    items = _rows_list(load_json(body))
    times = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SchemaViolation(f"[{i}] is not an object")
        times.append(epoch_ms(require(item, key, f"[{i}]"), f"[{i}]", key))
    return times
