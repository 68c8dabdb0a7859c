"""Binance USD-M futures' live liquidations: the all-market ``!forceOrder@arr`` stream.

Documented: ``wss://fstream.binance.com/market/ws/!forceOrder@arr`` (the market tier: Binance split
its futures websocket URLs into ``/public``, ``/market`` and ``/private`` and retires the legacy
paths, on which a collector connects and receives nothing). A raw stream: no subscribe message,
no acknowledgement. Frames ``{"e":"forceOrder","E":..,"o":{"s","S","o","f","q","p","ap","X","l",
"z","T"}}``; the server pings every few minutes and the client library answers. A connection
lasts at most 24 hours.

Quirks, each tested:

* ``S`` is the side of the liquidation **order**: ``SELL`` closes (liquidates) a long, ``BUY`` a
  short.
* The stream pushes at most the latest liquidation per symbol per 1000 ms: it under-counts in a
  storm. Reports say so and show it beside Kaiko or REST figures where both exist.
* Quantities are in the contract's unit: ``1000PEPEUSDT`` counts thousands of PEPE; the event's
  quantity is in PEPE and its price per PEPE, the notional (``ap`` x ``z``) unchanged.
* Symbols may be non-Latin (``币安人生USDT``): kept verbatim.

The event key (duplicates across a reconnect overlap): symbol, trade time ``T``, side, filled
quantity ``z``, average price ``ap``, as sent.

COIN-M futures (where ``streams.binance_markets`` names ``coinm``): the same ``!forceOrder@arr``
stream on ``wss://dstream.binance.com/ws/!forceOrder@arr``, the same frame with the pair (``ps``)
added, and the same order-side convention. Symbols are ``BTCUSD_PERP`` or dated (``BTCUSD_200925``);
``q``/``z`` count **contracts** of a fixed USD face value (``contractSize`` of ``/dapi/v1/
exchangeInfo``: 100 USD for BTC, 10 USD for the others as listed), so the notional is contracts x
size, whatever the price, and the quantity in coin is that notional over ``ap``. The collector
stores the exchange information it read and puts the sizes it used into the batch's parameters
(``contracts``, with ``assets``), so the batch re-derives from itself alone; a watched contract
without a size is a rejected frame, kept raw; a contract of an asset not watched yields no event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reporting.fetch.normalise import ms_to_utc
from reporting.fetch.sources.derived import SchemaViolation, epoch_ms, load_json, number, text
from reporting.fetch.streams.frames import Event, FrameReading, checked_amounts, instrument_parts

VENUE = "binance"
EXCHANGE = "binc"  # the exchange table's (Kaiko's) code: stream figures sit beside Kaiko's
KIND = "binance.ws.force_order.v1"
DEFAULT_BASE_URL = "wss://fstream.binance.com"
PATH = "/market/ws/!forceOrder@arr"
LEGACY_PATH = "/ws/!forceOrder@arr"
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD")
SIDES = {"SELL": "long", "BUY": "short"}  # the liquidation order's side -> the position closed
COINM_KIND = "binance.ws.force_order.coinm.v1"
COINM_DEFAULT_BASE_URL = "wss://dstream.binance.com"
COINM_PATH = "/ws/!forceOrder@arr"

CoinmContract = tuple[float, str]  # contractSize (USD), baseAsset


def url(base_url: str) -> str:
    return base_url.rstrip("/") + PATH


def coinm_url(base_url: str) -> str:
    return base_url.rstrip("/") + COINM_PATH


def coinm_contracts_param(contracts: Mapping[str, CoinmContract]) -> str:
    """The ``contracts`` parameter of a COIN-M batch: the contract sizes its frames were read
    with."""
    return json.dumps(
        {k: [v[0], v[1]] for k, v in sorted(contracts.items())}, separators=(",", ":")
    )


def _coinm_contracts(context: Mapping[str, str]) -> dict[str, CoinmContract]:
    try:
        loaded = json.loads(context.get("contracts", "{}"))
        return {str(k): (float(v[0]), str(v[1]).upper()) for k, v in loaded.items()}
    except (ValueError, TypeError, IndexError, AttributeError):
        raise SchemaViolation("the batch's contracts parameter is not readable") from None


def _order(data: bytes) -> tuple[dict[str, Any] | None, FrameReading | None]:
    """The frame's order object, or the control reading of a frame that holds none."""
    obj = load_json(data)
    if not isinstance(obj, dict):
        raise SchemaViolation("the frame is not a JSON object")
    if "result" in obj and "id" in obj:  # the answer to a (LIST_)SUBSCRIBE request
        return None, FrameReading(control="subscribed", detail=f"id {obj['id']}")
    if obj.get("e") != "forceOrder":
        raise SchemaViolation(f"event type {obj.get('e')!r} is not forceOrder")
    order: Any = obj.get("o")
    if not isinstance(order, dict):
        raise SchemaViolation("o: the order is missing or not an object")
    side = text(order, "S", "o")
    if side not in SIDES:
        raise SchemaViolation(f"o.S = {side!r} is neither BUY nor SELL")
    return order, None


def read_frame(data: bytes, context: Mapping[str, str]) -> FrameReading:
    order, control = _order(data)
    if order is None:
        assert control is not None
        return control
    symbol = text(order, "s", "o")
    asset, quote, multiplier = instrument_parts(symbol, QUOTES)
    price_raw, filled_raw = order.get("ap"), order.get("z")
    average = number(price_raw, "o", "ap")
    filled = number(filled_raw, "o", "z")
    usd = average * filled
    return _reading(order, symbol, asset, quote, average / multiplier, filled * multiplier, usd)


def read_coinm_frame(data: bytes, context: Mapping[str, str]) -> FrameReading:
    order, control = _order(data)
    if order is None:
        assert control is not None
        return control
    symbol = text(order, "s", "o")
    contract = _coinm_contracts(context).get(symbol)
    if contract is None:
        pair = text(order, "ps", "o")
        asset = pair.removesuffix("USD").upper()
        watched = {a.strip().upper() for a in context.get("assets", "").split(",") if a.strip()}
        if watched and asset not in watched:
            return FrameReading()  # an asset the configuration does not watch: kept raw only
        raise SchemaViolation(f"o.s: no contract size for {symbol} (COIN-M exchangeInfo)")
    size, asset = contract
    average = number(order.get("ap"), "o", "ap")
    contracts = number(order.get("z"), "o", "z")
    usd = contracts * size
    quantity = usd / average if average else 0.0
    return _reading(order, symbol, asset, "USD", average, quantity, usd)


def _reading(
    order: Mapping[str, Any],
    symbol: str,
    asset: str,
    quote: str,
    price: float,
    quantity: float,
    usd: float,
) -> FrameReading:
    checked_amounts(price, quantity, usd, "o")
    side = str(order["S"])
    stamp = epoch_ms(order.get("T"), "o", "T")
    return FrameReading(
        events=(
            Event(
                instrument=symbol,
                asset=asset,
                quote=quote,
                side=SIDES[side],
                price=price,
                quantity=quantity,
                usd=usd,
                exchange_time=ms_to_utc(stamp),
                dedup_key=f"{symbol}|{stamp}|{side}|{order.get('z')}|{order.get('ap')}",
            ),
        )
    )
