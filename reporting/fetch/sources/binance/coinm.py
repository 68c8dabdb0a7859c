"""Binance COIN-M futures' contract sizes: ``GET /dapi/v1/exchangeInfo`` to ``instrument_spec``.

Documented (developers.binance.com, coin-margined futures, market data, exchange information): a
JSON object whose ``symbols`` list holds, per contract, ``symbol`` (``BTCUSD_PERP``,
``BTCUSD_200925``), ``pair`` (``BTCUSD``), ``contractType`` (``PERPETUAL``, ``CURRENT_QUARTER``,
...), ``contractStatus`` (``TRADING``, ...), ``contractSize`` (the contract's face value in the
quote asset: 100 USD for BTC, 10 USD for the others as listed), ``baseAsset``, ``quoteAsset``
(``USD``) and ``marginAsset`` (the coin it settles in). A COIN-M quantity is in contracts: its
notional is contracts x ``contractSize`` USD, whatever the price (an inverse contract).

A body that breaks the format (no ``symbols`` list, a missing field, a size that is not a positive
number, the same symbol twice) is quarantined: kept, and yields no rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting.fetch.sources.derived import (
    Derived,
    SchemaViolation,
    load_json,
    number,
    require,
    text,
)

EXCHANGE_INFO_KIND = "binance.dapi.exchange_info.v1"
EXCHANGE_INFO_PATH = "/dapi/v1/exchangeInfo"
DEFAULT_BASE_URL = "https://dapi.binance.com"
EXCHANGE = "binc"


def derive_exchange_info(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    del params  # the endpoint takes none
    try:
        doc = load_json(body)
        if isinstance(doc, dict) and "code" in doc and "symbols" not in doc:
            raise SchemaViolation(
                f"API answered code {doc.get('code')!r}: {str(doc.get('msg', ''))[:200]}"
            )
        symbols: Any = doc.get("symbols") if isinstance(doc, dict) else None
        if not isinstance(symbols, list):
            raise SchemaViolation("symbols is missing or not a list")
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, item in enumerate(symbols):
            where = f"symbols[{i}]"
            if not isinstance(item, dict):
                raise SchemaViolation(f"{where} is not an object")
            symbol = text(item, "symbol", where)
            if symbol in seen:
                raise SchemaViolation(f"{where}: symbol {symbol} appears twice")
            seen.add(symbol)
            size = number(
                require(item, "contractSize", where), where, "contractSize", positive=True
            )
            quote = text(item, "quoteAsset", where)
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": text(item, "baseAsset", where).upper(),
                    "instrument": symbol,
                    "quote": quote,
                    "inst_type": text(item, "contractType", where),
                    "settle_ccy": text(item, "marginAsset", where),
                    "ct_val": size,
                    "ct_mult": 1.0,
                    "ct_val_ccy": quote,
                    "ct_type": "inverse",
                    "state": text(item, "contractStatus", where),
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc))
    return Derived.rows("instrument_spec", rows)
