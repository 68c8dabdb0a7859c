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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting.fetch.normalise import epoch_to_utc
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


def url(base_url: str) -> str:
    return base_url.rstrip("/") + PATH


def read_frame(data: bytes, context: Mapping[str, str]) -> FrameReading:
    obj = load_json(data)
    if not isinstance(obj, dict):
        raise SchemaViolation("the frame is not a JSON object")
    if "result" in obj and "id" in obj:  # the answer to a (LIST_)SUBSCRIBE request
        return FrameReading(control="subscribed", detail=f"id {obj['id']}")
    if obj.get("e") != "forceOrder":
        raise SchemaViolation(f"event type {obj.get('e')!r} is not forceOrder")
    order: Any = obj.get("o")
    if not isinstance(order, dict):
        raise SchemaViolation("o: the order is missing or not an object")
    symbol = text(order, "s", "o")
    side = text(order, "S", "o")
    if side not in SIDES:
        raise SchemaViolation(f"o.S = {side!r} is neither BUY nor SELL")
    asset, quote, multiplier = instrument_parts(symbol, QUOTES)
    price_raw, filled_raw = order.get("ap"), order.get("z")
    average = number(price_raw, "o", "ap")
    filled = number(filled_raw, "o", "z")
    usd = average * filled
    quantity = filled * multiplier
    price = average / multiplier
    checked_amounts(price, quantity, usd, "o")
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
                exchange_time=epoch_to_utc(stamp),
                dedup_key=f"{symbol}|{stamp}|{side}|{filled_raw}|{price_raw}",
            ),
        )
    )
