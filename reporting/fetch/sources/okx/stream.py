"""OKX v5 public liquidations: the ``liquidation-orders`` channel for SWAP and FUTURES.

Documented: ``wss://ws.okx.com:8443/ws/v5/public``; subscribe ``{"op":"subscribe","args":
[{"channel":"liquidation-orders","instType":"SWAP"}]}``, answered ``{"event":"subscribe",...}`` or
``{"event":"error","code":..,"msg":..}``. Keep-alive: the text ``ping`` (answered ``pong``); the
server drops a connection silent for 30 s. Frames ``{"arg":{..},"data":[{"instId":"BTC-USDT-SWAP",
"details":[{"side","posSide","bkPx","sz","ts",..}]}]}``.

Quirks, each tested:

* ``sz`` is in contracts: the notional needs the instrument's contract value (``ctVal``,
  ``ctMult``, ``ctValCcy`` from ``/api/v5/public/instruments``, as the REST path uses). The
  collector puts the values it used into the batch's parameters (``contracts``), so the batch
  re-derives from itself alone (with ``assets``, the assets watched). An instrument of a watched
  asset without a contract value is a rejected frame, kept raw; an instrument of an asset not
  watched yields no event (the channel carries every instrument of the venue).
* ``posSide`` names the position; in net mode (``net``) a ``sell`` closes a long.
* OKX documents the channel as not complete and not in time order: events are placed by their
  ``ts``, never by arrival.

The event key: instId, ``ts``, side, posSide, ``sz``, ``bkPx``, as sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reporting.fetch.normalise import ms_to_utc
from reporting.fetch.sources.derived import SchemaViolation, epoch_ms, load_json, number, text
from reporting.fetch.sources.okx.format import position_liquidated
from reporting.fetch.streams.frames import Event, FrameReading, checked_amounts, instrument_parts

VENUE = "okx"
EXCHANGE = "okex"  # the exchange table's (Kaiko's) code: stream figures sit beside Kaiko's
KIND = "okx.ws.liquidation_orders.v1"
DEFAULT_BASE_URL = "wss://ws.okx.com:8443"
PATH = "/ws/v5/public"
CHANNEL = "liquidation-orders"
INST_TYPES = ("SWAP", "FUTURES")
PING_SECONDS = 25.0
PING = "ping"
QUOTES = ("USDT", "USDC", "USD")
USD_LIKE = frozenset({"USD", "USDT", "USDC"})

Contract = tuple[float, float, str]  # ctVal, ctMult, ctValCcy


def url(base_url: str) -> str:
    return base_url.rstrip("/") + PATH


def subscribe_messages() -> list[str]:
    args = [{"channel": CHANNEL, "instType": t} for t in INST_TYPES]
    return [json.dumps({"op": "subscribe", "args": args}, separators=(",", ":"))]


def contracts_param(contracts: Mapping[str, Contract]) -> str:
    """The ``contracts`` parameter of a batch: the contract values its frames were read with."""
    return json.dumps(
        {k: [v[0], v[1], v[2]] for k, v in sorted(contracts.items())}, separators=(",", ":")
    )


def _contracts(context: Mapping[str, str]) -> dict[str, Contract]:
    try:
        loaded = json.loads(context.get("contracts", "{}"))
        return {str(k): (float(v[0]), float(v[1]), str(v[2])) for k, v in loaded.items()}
    except (ValueError, TypeError, IndexError, AttributeError):
        raise SchemaViolation("the batch's contracts parameter is not readable") from None


def _watched(inst_id: str, context: Mapping[str, str]) -> bool:
    assets = {a.strip().upper() for a in context.get("assets", "").split(",") if a.strip()}
    try:
        asset, _quote, _multiplier = instrument_parts(inst_id, QUOTES)
    except SchemaViolation:
        return True  # unreadable: the frame is rejected with the reason, not ignored
    return not assets or asset in assets


def read_frame(data: bytes, context: Mapping[str, str]) -> FrameReading:
    if data == b"pong":
        return FrameReading(control="pong")
    obj = load_json(data)
    if not isinstance(obj, dict):
        raise SchemaViolation("the frame is not a JSON object")
    event = obj.get("event")
    if event == "subscribe":
        return FrameReading(control="subscribed", detail=json.dumps(obj.get("arg", {})))
    if event == "error":
        return FrameReading(
            control="refused", detail=f"{obj.get('code', '')} {obj.get('msg', '')}"[:300]
        )
    if event is not None:
        return FrameReading(control=str(event)[:40])
    arg = obj.get("arg")
    if not isinstance(arg, dict) or arg.get("channel") != CHANNEL:
        raise SchemaViolation("arg.channel is not liquidation-orders")
    items: Any = obj.get("data")
    if not isinstance(items, list):
        raise SchemaViolation("data is missing or not a list")
    contracts = _contracts(context)
    events: list[Event] = []
    for i, item in enumerate(items):
        where = f"data[{i}]"
        if not isinstance(item, dict):
            raise SchemaViolation(f"{where} is not an object")
        inst_id = text(item, "instId", where)
        details = item.get("details")
        if not isinstance(details, list):
            raise SchemaViolation(f"{where}.details is missing or not a list")
        contract = contracts.get(inst_id)
        if contract is None and not _watched(inst_id, context):
            continue  # an asset the configuration does not watch: the frame stays raw, no event
        if contract is None:
            raise SchemaViolation(
                f"{where}: no contract value for {inst_id} (run `liqrisk fetch --source okx`)"
            )
        for j, detail in enumerate(details):
            events.append(_event(inst_id, contract, detail, f"{where}.details[{j}]"))
    return FrameReading(events=tuple(events))


def _event(inst_id: str, contract: Contract, detail: Any, where: str) -> Event:
    if not isinstance(detail, dict):
        raise SchemaViolation(f"{where} is not an object")
    asset, quote, _multiplier = instrument_parts(inst_id, QUOTES)
    side = text(detail, "side", where)
    pos_side = str(detail.get("posSide") or "")
    size_raw, price_raw = detail.get("sz"), detail.get("bkPx")
    size = number(size_raw, where, "sz")
    price = number(price_raw, where, "bkPx")
    ct_val, ct_mult, ccy = contract
    amount = size * ct_val * ct_mult
    if ccy.upper() in USD_LIKE:
        usd, quantity = amount, (amount / price if price else 0.0)
    elif ccy.upper() == asset:
        usd, quantity = amount * price, amount
    else:
        raise SchemaViolation(f"{where}: {inst_id}'s contract value is in {ccy}")
    checked_amounts(price, quantity, usd, where)
    stamp = epoch_ms(detail.get("ts"), where, "ts")
    return Event(
        instrument=inst_id,
        asset=asset,
        quote=quote,
        side=position_liquidated(side, pos_side, where),
        price=price,
        quantity=quantity,
        usd=usd,
        exchange_time=ms_to_utc(stamp),
        dedup_key=f"{inst_id}|{stamp}|{side}|{pos_side}|{size_raw}|{price_raw}",
    )
