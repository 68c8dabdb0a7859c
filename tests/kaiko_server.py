"""A real HTTP server on 127.0.0.1 that answers like Kaiko's token liquidation endpoint.

Written from the documentation page in ``shared/seeds`` (not from liqrisk's demo emulator): the
same body layout (``query``, ``data``, ``continuation_token``, ``next_url``), nanosecond
``interval_timestamp`` values as in the documented example, ``page_size`` honoured on the first
call only, later pages addressed by ``continuation_token`` alone, and 401 without the key. The
HTTP plumbing, the scripted faults and the request log are those of
:class:`tests.loopback_server.LoopbackServer`.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from tests.loopback_server import Canned, LoopbackServer, Seen, answer

__all__ = ["PATH_PREFIX", "Canned", "KaikoTestServer", "Seen", "datum", "iso"]

PATH_PREFIX = "/v2/data/liquidation.v1/token/"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def datum(
    start: datetime, exchanges: dict[str, tuple[int, float, int, float]], *, ts_unit: str = "ns"
) -> dict[str, Any]:
    """A documented ``data`` element; ``exchanges``: code -> (long n, long $, short n, short $)."""
    per = []
    for code, (ln, la, sn, sa) in exchanges.items():
        per.append(
            {
                "exchange": code,
                "total_trades": ln + sn,
                "total_amount": la + sa,
                "long_trades": ln,
                "long_amount": la,
                "short_trades": sn,
                "short_amount": sa,
            }
        )
    seconds = int(start.timestamp())
    stamp = {"s": seconds, "ms": seconds * 1000, "ns": seconds * 1_000_000_000}[ts_unit]
    return {
        "interval_time": iso(start),
        "interval_timestamp": stamp,
        "total_trades": sum(e["total_trades"] for e in per),
        "total_amount": sum(e["total_amount"] for e in per),
        "long_trades": sum(e["long_trades"] for e in per),
        "long_amount": sum(e["long_amount"] for e in per),
        "short_trades": sum(e["short_trades"] for e in per),
        "short_amount": sum(e["short_amount"] for e in per),
        "exchanges": per,
    }


class KaikoTestServer(LoopbackServer):
    def __init__(self, data: dict[str, list[dict[str, Any]]], *, api_key: str = "test-key") -> None:
        super().__init__()
        self.data = data  # asset -> data elements, ascending
        self.api_key = api_key
        self._tokens: dict[str, dict[str, Any]] = {}

    def authorise(self, headers: dict[str, str]) -> Canned | None:
        if headers.get("X-Api-Key") != self.api_key:
            return answer(401, {"result": "error", "message": "Unauthorized"})
        return None

    def route(self, path: str, query: dict[str, str]) -> Canned:
        if not path.startswith(PATH_PREFIX):
            return answer(404, {"result": "error", "message": "Not found"})
        asset = path[len(PATH_PREFIX) :]
        if asset not in self.data:
            return answer(404, {"result": "error", "message": "Unknown token"})
        if "continuation_token" in query:
            with self._lock:
                state = self._tokens.get(query["continuation_token"])
            if state is None:
                return answer(400, {"result": "error", "message": "Invalid continuation token"})
        else:
            state = {
                "asset": asset,
                "interval": query.get("interval", "1h"),
                "start": query.get("start_time"),
                "end": query.get("end_time"),
                "sort": query.get("sort", "desc"),
                "page_size": int(query.get("page_size", "100")),
                "offset": 0,
            }
        return Canned(200, self._page(state))

    def _page(self, state: dict[str, Any]) -> bytes:
        rows = [d for d in self.data[state["asset"]] if self._in_range(d, state)]
        if state["sort"] == "desc":
            rows.reverse()
        off, size = state["offset"], state["page_size"]
        page = rows[off : off + size]
        doc: dict[str, Any] = {
            "query": {
                "start_time": state["start"],
                "end_time": state["end"],
                "page_size": size,
                "sort": state["sort"],
                "token": state["asset"],
                "interval": state["interval"],
                "commodity": "liquidationEvents",
                "data_version": "v1",
            },
            "answer_time": "2025-04-04T12:09:55.574Z",
            "access": {
                "access_range": {"start_timestamp": 1688428800000, "end_timestamp": 2177539199000}
            },
            "data": page,
        }
        if off + size < len(rows):
            token = secrets.token_urlsafe(24)
            with self._lock:
                self._tokens[token] = {**state, "offset": off + size}
            doc["continuation_token"] = token
            doc["next_url"] = (
                f"{self.base_url}{PATH_PREFIX}{state['asset']}?continuation_token={token}"
            )
        return json.dumps(doc, indent=3).encode()

    @staticmethod
    def _in_range(d: dict[str, Any], state: dict[str, Any]) -> bool:
        t = d["interval_time"]
        start = state["start"][:19] if state["start"] else None
        end = state["end"][:19] if state["end"] else None
        return (start is None or t[:19] >= start) and (end is None or t[:19] < end)
