"""OKX API v5 public data: from a raw response body to funding, OI, liquidation and instrument rows.

Every answer is an envelope ``{"code": "0", "msg": "", "data": [...]}``; a ``code`` other than
``"0"`` is an error (``50011`` is the rate limit, which the client retries). Numbers and times are
strings (``"0.0000746604960499"``, ``"1703059200000"``); an empty string is "not given". As
documented (www.okx.com/docs-v5, public data and trading statistics):

``GET /api/v5/public/funding-rate-history?instId=&before=&after=&limit=`` newest first::

    {"instType": "SWAP", "instId": "BTC-USD-SWAP", "fundingRate": "0.0000746604960499",
     "realizedRate": "0.0000746572360545", "fundingTime": "1703059200000",
     "method": "next_period", "formulaType": "noRate"}

``GET /api/v5/rubik/stat/contracts/open-interest-history?instId=&period=&begin=&end=&limit=``
newest first, each row an array ``[ts, oi (contracts), oiCcy (coin), oiUsd]``.

``GET /api/v5/public/liquidation-orders?instType=SWAP&instFamily=&state=filled&before=&after=
&limit=`` (limit at most 100), newest first::

    {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
     "totalLoss": "0", "details": [{"side": "sell", "posSide": "long", "bkPx": "60123.4",
     "sz": "12", "bkLoss": "0", "ccy": "", "ts": "1730644320000"}]}

``sz`` is in contracts for SWAP and FUTURES. ``posSide`` names the liquidated position (``long``,
``short``); in net mode it is ``net`` and the order's ``side`` tells: a ``sell`` closes a long.

``GET /api/v5/public/instruments?instType=SWAP&instFamily=`` the contract specifications::

    {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
     "settleCcy": "USDT", "ctVal": "0.01", "ctMult": "1", "ctValCcy": "BTC", "ctType": "linear",
     "state": "live", ...}

A body that breaks these (not an envelope, a missing field, a string that is not a number, NaN,
negatives where there can be none, a liquidation answer to a request that was not for filled
orders) is quarantined: kept, and no rows come from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting.fetch.normalise import Symbol, epoch_to_utc, parse_symbol
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

FUNDING_KIND = "okx.v5.funding_rate_history"
OPEN_INTEREST_KIND = "okx.v5.open_interest_history"
LIQUIDATIONS_KIND = "okx.v5.liquidation_orders"
INSTRUMENTS_KIND = "okx.v5.instruments"
FUNDING_PATH = "/api/v5/public/funding-rate-history"
OPEN_INTEREST_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
LIQUIDATIONS_PATH = "/api/v5/public/liquidation-orders"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
EXCHANGE = "okex"
RATE_LIMIT_CODES = frozenset({"50011", "50013", "50001"})  # too many requests, busy, unavailable


def envelope_code(body: bytes) -> str | None:
    """The envelope's ``code`` when the body is an OKX envelope, else ``None`` (never raises)."""
    try:
        doc = load_json(body)
    except SchemaViolation:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("code"), str | int):
        return str(doc["code"])
    return None


def _data(body: bytes) -> list[Any]:
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise SchemaViolation("body is not a JSON object")
    code = doc.get("code")
    if not isinstance(code, str | int) or isinstance(code, bool):
        raise SchemaViolation("field code is missing or not a string")
    if str(code) != "0":
        raise SchemaViolation(f"API answered code {code}: {str(doc.get('msg', ''))[:200]}")
    data = doc.get("data")
    if not isinstance(data, list):
        raise SchemaViolation("field data is missing or not a list")
    return data


def _symbol(inst_id: str, where: str) -> Symbol:
    try:
        return parse_symbol(inst_id)
    except ValueError as exc:
        raise SchemaViolation(f"{where}: {exc}") from None


def _object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise SchemaViolation(f"{where} is not an object")
    return item


def derive_funding(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    problems: list[Problem] = []
    try:
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        for i, raw in enumerate(_data(body)):
            where = f"data[{i}]"
            item = _object(raw, where)
            inst_id = text(item, "instId", where)
            symbol = _symbol(inst_id, where)
            asked = params.get("instId")
            if asked and asked != inst_id:
                problems.append(Problem(where, f"row for {inst_id}, but {asked} was asked for"))
            stamp = epoch_ms(require(item, "fundingTime", where), where, "fundingTime")
            if (inst_id, stamp) in seen:
                raise SchemaViolation(f"{where}: fundingTime {stamp} appears twice")
            seen.add((inst_id, stamp))
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": symbol.base,
                    "instrument": inst_id,
                    "quote": symbol.quote or "",
                    "funding_time": epoch_to_utc(stamp),
                    "funding_rate": number(
                        require(item, "fundingRate", where), where, "fundingRate"
                    ),
                    "realized_rate": optional_number(item, "realizedRate", where),
                    "mark_price": None,
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc), problems)
    return Derived.rows("funding_rate", rows, problems)


def derive_open_interest(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    try:
        inst_id = params.get("instId", "")
        symbol = _symbol(inst_id, "request instId")
        try:
            seconds = period_seconds(params.get("period", "5m"))  # OKX's default period
        except ValueError as exc:
            raise SchemaViolation(f"request: {exc}") from None
        rows: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, item in enumerate(_data(body)):
            where = f"data[{i}]"
            if not isinstance(item, list) or len(item) not in (3, 4):
                raise SchemaViolation(f"{where} is not an array [ts, oi, oiCcy, oiUsd]")
            stamp = epoch_ms(item[0], where, "ts")
            if stamp in seen:
                raise SchemaViolation(f"{where}: ts {stamp} appears twice")
            seen.add(stamp)
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": symbol.base,
                    "instrument": inst_id,
                    "quote": symbol.quote or "",
                    "ts": epoch_to_utc(stamp),
                    "period_seconds": seconds,
                    "oi_contracts": number(item[1], where, "oi", minimum=0),
                    "oi_base": number(item[2], where, "oiCcy", minimum=0),
                    "oi_usd": number(item[3], where, "oiUsd", minimum=0)
                    if len(item) == 4
                    else None,
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc))
    return Derived.rows("open_interest", rows)


def position_liquidated(side: str, pos_side: str, where: str) -> str:
    if pos_side in ("long", "short"):
        return pos_side
    if side == "sell":  # net mode: selling closes a long
        return "long"
    if side == "buy":
        return "short"
    raise SchemaViolation(f"{where}: side {side!r} with posSide {pos_side!r} names no position")


def derive_liquidations(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    try:
        if params.get("state") != "filled":
            raise SchemaViolation("request: only filled liquidation orders (state=filled) count")
        rows: list[dict[str, Any]] = []
        for i, raw in enumerate(_data(body)):
            where = f"data[{i}]"
            item = _object(raw, where)
            inst_id = text(item, "instId", where)
            symbol = _symbol(inst_id, where)
            details = require(item, "details", where)
            if not isinstance(details, list):
                raise SchemaViolation(f"{where}.details is not a list")
            for j, raw_detail in enumerate(details):
                dwhere = f"{where}.details[{j}]"
                detail = _object(raw_detail, dwhere)
                side = text(detail, "side", dwhere)
                pos_side = str(detail.get("posSide") or "")
                stamp = epoch_ms(require(detail, "ts", dwhere), dwhere, "ts")
                rows.append(
                    {
                        "source": source,
                        "exchange": EXCHANGE,
                        "asset": symbol.base,
                        "instrument": inst_id,
                        "quote": symbol.quote or "",
                        "ts": epoch_to_utc(stamp),
                        "side": side,
                        "pos_side": pos_side,
                        "direction": position_liquidated(side, pos_side, dwhere),
                        "size": number(require(detail, "sz", dwhere), dwhere, "sz", positive=True),
                        "bankruptcy_price": number(
                            require(detail, "bkPx", dwhere), dwhere, "bkPx", positive=True
                        ),
                        "bankruptcy_loss": optional_number(detail, "bkLoss", dwhere),
                    }
                )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc))
    return Derived.rows("liquidation_order", rows)


def derive_instruments(body: bytes, params: Mapping[str, str], source: str) -> Derived:
    try:
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, raw in enumerate(_data(body)):
            where = f"data[{i}]"
            item = _object(raw, where)
            inst_id = text(item, "instId", where)
            if inst_id in seen:
                raise SchemaViolation(f"{where}: instrument {inst_id} appears twice")
            seen.add(inst_id)
            symbol = _symbol(inst_id, where)
            ct_type = text(item, "ctType", where)
            if ct_type not in ("linear", "inverse"):
                raise SchemaViolation(f"{where}: ctType {ct_type!r} is not linear or inverse")
            rows.append(
                {
                    "source": source,
                    "exchange": EXCHANGE,
                    "asset": symbol.base,
                    "instrument": inst_id,
                    "quote": symbol.quote or "",
                    "inst_type": text(item, "instType", where),
                    "settle_ccy": text(item, "settleCcy", where),
                    "ct_val": number(require(item, "ctVal", where), where, "ctVal", positive=True),
                    "ct_mult": number(
                        require(item, "ctMult", where), where, "ctMult", positive=True
                    ),
                    "ct_val_ccy": text(item, "ctValCcy", where),
                    "ct_type": ct_type,
                    "state": text(item, "state", where),
                }
            )
    except SchemaViolation as exc:
        return Derived.quarantined(str(exc))
    return Derived.rows("instrument_spec", rows)


def page_times(body: bytes, kind: str) -> list[int]:
    """The millisecond times a page holds (for the cursor of the next request); raises
    ``SchemaViolation`` when the page cannot be read that far."""
    data = _data(body)
    if kind == FUNDING_KIND:
        return [
            epoch_ms(require(_object(d, "data"), "fundingTime", "data"), "data", "fundingTime")
            for d in data
        ]
    if kind == OPEN_INTEREST_KIND:
        times = []
        for d in data:
            if not isinstance(d, list) or not d:
                raise SchemaViolation("data row is not an array")
            times.append(epoch_ms(d[0], "data", "ts"))
        return times
    if kind == LIQUIDATIONS_KIND:
        out: list[int] = []
        for d in data:
            details = require(_object(d, "data"), "details", "data")
            if not isinstance(details, list):
                raise SchemaViolation("data.details is not a list")
            out.extend(
                epoch_ms(require(_object(x, "details"), "ts", "details"), "details", "ts")
                for x in details
            )
        return out
    raise ValueError(f"{kind} is not paged by time")
