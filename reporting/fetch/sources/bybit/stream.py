"""Bybit v5 public liquidations: the ``allLiquidation.{symbol}`` topics.

Documented: ``wss://stream.bybit.com/v5/public/linear`` (USDT and USDC contracts) and
``/v5/public/inverse``; subscribe ``{"op":"subscribe","args":["allLiquidation.BTCUSDT", ...]}``,
at most 10 arguments a request; the server answers ``{"success":true,"op":"subscribe",...}`` or
``success: false`` with ``ret_msg``. Keep-alive: ``{"op":"ping"}`` every 20 s, answered with
``op: "ping"``/``"pong"``. Frames ``{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":..,
"data":[{"T":..,"s":"BTCUSDT","S":"Buy","v":"0.01","p":"90000"}]}``. (Not the deprecated, sampled
``liquidation.{symbol}``.)

Quirks, each tested:

* ``S`` is the side of the **position**: ``Buy`` means a long was liquidated, the opposite of
  Binance's order side (open-source collectors have shipped this inverted).
* Linear contracts count ``v`` in the base asset; inverse contracts (``BTCUSD``) in USD, one
  dollar a contract: the notional is ``v`` and the quantity ``v / p``.

The event key: symbol, ``T``, side, ``v``, ``p``, as sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from reporting.fetch.normalise import ms_to_utc
from reporting.fetch.sources.derived import SchemaViolation, epoch_ms, load_json, number, text
from reporting.fetch.streams.frames import Event, FrameReading, checked_amounts, instrument_parts

VENUE = "bybit"
EXCHANGE = "bbit"  # the exchange table's (Kaiko's) code: stream figures sit beside Kaiko's
KIND = "bybit.ws.all_liquidation.v1"
DEFAULT_BASE_URL = "wss://stream.bybit.com"
PATHS = {"linear": "/v5/public/linear", "inverse": "/v5/public/inverse"}
TOPIC = "allLiquidation."
ARGS_PER_REQUEST = 10
PING_SECONDS = 20.0
PING = '{"op":"ping"}'
QUOTES = ("USDT", "USDC", "USD")
SIDES = {"Buy": "long", "Sell": "short"}  # the side of the position liquidated


def url(base_url: str, category: str) -> str:
    return base_url.rstrip("/") + PATHS[category]


def symbols(assets: Iterable[str], category: str) -> list[str]:
    quote = "USD" if category == "inverse" else "USDT"
    return [f"{asset.upper()}{quote}" for asset in assets]


def subscribe_messages(symbol_names: Iterable[str]) -> list[str]:
    """Subscribe requests of at most :data:`ARGS_PER_REQUEST` topics each."""
    topics = [TOPIC + s for s in symbol_names]
    return [
        json.dumps(
            {"op": "subscribe", "req_id": f"sub-{i}", "args": topics[i : i + ARGS_PER_REQUEST]},
            separators=(",", ":"),
        )
        for i in range(0, len(topics), ARGS_PER_REQUEST)
    ]


def read_frame(data: bytes, context: Mapping[str, str]) -> FrameReading:
    obj = load_json(data)
    if not isinstance(obj, dict):
        raise SchemaViolation("the frame is not a JSON object")
    op = obj.get("op")
    if op in ("ping", "pong"):
        return FrameReading(control="pong")
    if op == "subscribe":
        if obj.get("success") is True:
            return FrameReading(control="subscribed", detail=str(obj.get("req_id", "")))
        return FrameReading(control="refused", detail=str(obj.get("ret_msg", ""))[:300])
    topic = obj.get("topic")
    if not isinstance(topic, str) or not topic.startswith(TOPIC):
        raise SchemaViolation(f"topic {topic!r} is not an allLiquidation topic")
    items: Any = obj.get("data")
    if not isinstance(items, list):
        raise SchemaViolation("data is missing or not a list")
    return FrameReading(events=tuple(_event(item, f"data[{i}]") for i, item in enumerate(items)))


def _event(item: Any, where: str) -> Event:
    if not isinstance(item, dict):
        raise SchemaViolation(f"{where} is not an object")
    symbol = text(item, "s", where)
    side = text(item, "S", where)
    if side not in SIDES:
        raise SchemaViolation(f"{where}.S = {side!r} is neither Buy nor Sell")
    asset, quote, multiplier = instrument_parts(symbol, QUOTES)
    size_raw, price_raw = item.get("v"), item.get("p")
    size = number(size_raw, where, "v")
    price = number(price_raw, where, "p")
    if quote == "USD":  # inverse: one USD a contract
        usd, quantity = size, size / price if price else 0.0
    else:
        usd, quantity, price = price * size, size * multiplier, price / multiplier
    checked_amounts(price, quantity, usd, where)
    stamp = epoch_ms(item.get("T"), where, "T")
    return Event(
        instrument=symbol,
        asset=asset,
        quote=quote,
        side=SIDES[side],
        price=price,
        quantity=quantity,
        usd=usd,
        exchange_time=ms_to_utc(stamp),
        dedup_key=f"{symbol}|{stamp}|{side}|{size_raw}|{price_raw}",
    )
