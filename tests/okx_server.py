"""A real HTTP server on 127.0.0.1 answering like OKX's API v5 public endpoints.

Written from OKX's documentation (www.okx.com/docs-v5), not from liqrisk's parser or emulator.
Every answer is an envelope ``{"code": "0", "msg": "", "data": [...]}``, numbers and times as
strings, newest first:

``GET /api/v5/public/funding-rate-history``: ``instId`` (required), ``after`` (records earlier than
this ``fundingTime``), ``before`` (records newer), ``limit`` (max 400, default 400).

``GET /api/v5/rubik/stat/contracts/open-interest-history``: ``instId`` (required), ``period``
(``5m``, ``1H``, ``1D``, ...; default ``5m``), ``end`` (records earlier than), ``begin`` (records
newer than), ``limit`` (max 100, default 100); rows ``[ts, oi, oiCcy, oiUsd]``.

``GET /api/v5/public/liquidation-orders``: ``instType`` (required), ``uly`` or ``instFamily``
(one required for SWAP: code ``50015`` otherwise), ``state`` (``unfilled`` default, ``filled``),
``after``/``before`` (on ``ts``), ``limit`` (max 100, default 100); per instrument an object with
``details``.

``GET /api/v5/public/instruments``: ``instType`` (required), ``instFamily``; contract
specifications.

Errors: code ``51001`` "Instrument ID does not exist", ``51000`` parameter errors, with HTTP 200;
``50011`` "Too Many Requests" with HTTP 429.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.loopback_server import Canned, LoopbackServer, answer

PERIODS = {"5m": 300, "15m": 900, "30m": 1800, "1H": 3600, "2H": 7200, "4H": 14400, "1D": 86400}


@dataclass(frozen=True)
class Funding:
    time_ms: int
    rate: str
    realized: str = ""


@dataclass(frozen=True)
class OpenInterest:
    time_ms: int
    oi: str  # contracts
    oi_ccy: str  # coin
    oi_usd: str


@dataclass(frozen=True)
class Liquidation:
    inst_id: str  # "BTC-USDT-SWAP"
    time_ms: int
    side: str  # "sell" closes a long
    pos_side: str  # "long", "short", "net"
    sz: str  # contracts
    bk_px: str
    bk_loss: str = "0"


def envelope(data: list[Any], code: str = "0", msg: str = "") -> Canned:
    return answer(200, {"code": code, "msg": msg, "data": data})


def _int(query: dict[str, str], name: str) -> int | None:
    value = query.get(name, "")
    return int(value) if value else None


class OkxTestServer(LoopbackServer):
    def __init__(
        self,
        funding: dict[str, list[Funding]] | None = None,
        open_interest: dict[str, list[OpenInterest]] | None = None,
        liquidations: dict[str, list[Liquidation]] | None = None,
        instruments: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        super().__init__()
        self.funding = funding or {}
        self.open_interest = open_interest or {}
        self.liquidations = liquidations or {}  # by instFamily, "BTC-USDT"
        self.instruments = instruments or {}  # by instFamily

    def route(self, path: str, query: dict[str, str]) -> Canned:
        try:
            if path == "/api/v5/public/funding-rate-history":
                return self._funding(query)
            if path == "/api/v5/rubik/stat/contracts/open-interest-history":
                return self._open_interest(query)
            if path == "/api/v5/public/liquidation-orders":
                return self._liquidations(query)
            if path == "/api/v5/public/instruments":
                return self._instruments(query)
        except ValueError:
            return envelope([], "51000", "Parameter error")
        return answer(404, {"code": "50000", "msg": "Not found", "data": []})

    @staticmethod
    def _page(
        rows: list[tuple[int, Any]], query: dict[str, str], older: str, newer: str, maximum: int
    ) -> list[Any] | Canned:
        limit = _int(query, "limit") or maximum
        if not 1 <= limit <= maximum:
            return envelope([], "51000", "Parameter limit error")
        below, above = _int(query, older), _int(query, newer)
        picked = [
            row
            for stamp, row in sorted(rows, key=lambda r: -r[0])
            if (below is None or stamp < below) and (above is None or stamp > above)
        ]
        return picked[:limit]

    def _funding(self, query: dict[str, str]) -> Canned:
        inst_id = query.get("instId", "")
        rows = self.funding.get(inst_id)
        if rows is None:
            return envelope([], "51001", "Instrument ID does not exist")
        page = self._page(
            [
                (
                    r.time_ms,
                    {
                        "instType": "SWAP",
                        "instId": inst_id,
                        "fundingRate": r.rate,
                        "realizedRate": r.realized,
                        "fundingTime": str(r.time_ms),
                        "method": "next_period",
                        "formulaType": "noRate",
                    },
                )
                for r in rows
            ],
            query,
            "after",
            "before",
            400,
        )
        return page if isinstance(page, Canned) else envelope(page)

    def _open_interest(self, query: dict[str, str]) -> Canned:
        inst_id = query.get("instId", "")
        rows = self.open_interest.get(inst_id)
        if rows is None:
            return envelope([], "51001", "Instrument ID does not exist")
        seconds = PERIODS.get(query.get("period", "5m"))
        if seconds is None:
            return envelope([], "51000", "Parameter period error")
        page = self._page(
            [
                (r.time_ms, [str(r.time_ms), r.oi, r.oi_ccy, r.oi_usd])
                for r in rows
                if r.time_ms % (seconds * 1000) == 0
            ],
            query,
            "end",
            "begin",
            100,
        )
        return page if isinstance(page, Canned) else envelope(page)

    def _liquidations(self, query: dict[str, str]) -> Canned:
        if query.get("instType") not in ("SWAP", "FUTURES", "MARGIN"):
            return envelope([], "51000", "Parameter instType error")
        family = query.get("instFamily") or query.get("uly")
        if not family:
            return envelope([], "50015", "Either parameter uly or instFamily is required")
        if query.get("state", "unfilled") != "filled":
            return envelope([])
        orders = self.liquidations.get(family, [])
        page = self._page([(o.time_ms, o) for o in orders], query, "after", "before", 100)
        if isinstance(page, Canned):
            return page
        grouped: dict[str, list[dict[str, str]]] = {}
        for o in page:
            grouped.setdefault(o.inst_id, []).append(
                {
                    "side": o.side,
                    "posSide": o.pos_side,
                    "bkPx": o.bk_px,
                    "sz": o.sz,
                    "bkLoss": o.bk_loss,
                    "ccy": "",
                    "ts": str(o.time_ms),
                }
            )
        data = [
            {
                "instType": "SWAP",
                "instId": inst_id,
                "instFamily": family,
                "uly": family,
                "totalLoss": "0",
                "details": details,
            }
            for inst_id, details in grouped.items()
        ]
        return envelope(data)

    def _instruments(self, query: dict[str, str]) -> Canned:
        if query.get("instType") != "SWAP":
            return envelope([], "51000", "Parameter instType error")
        family = query.get("instFamily", "")
        return envelope(self.instruments.get(family, []))


def swap_instrument(inst_id: str, ct_val: str, ct_val_ccy: str, ct_type: str) -> dict[str, str]:
    """An instrument as ``/api/v5/public/instruments`` documents it (the fields that matter)."""
    family = inst_id.rsplit("-", 1)[0]
    base, quote = family.split("-")
    return {
        "instType": "SWAP",
        "instId": inst_id,
        "uly": family,
        "instFamily": family,
        "baseCcy": "",
        "quoteCcy": "",
        "settleCcy": quote if ct_type == "linear" else base,
        "ctVal": ct_val,
        "ctMult": "1",
        "ctValCcy": ct_val_ccy,
        "optType": "",
        "stk": "",
        "listTime": "1611916800000",
        "expTime": "",
        "lever": "100",
        "tickSz": "0.1",
        "lotSz": "0.01",
        "minSz": "0.01",
        "ctType": ct_type,
        "alias": "",
        "state": "live",
    }
