"""A real HTTP server on 127.0.0.1 that answers like Kaiko's token liquidation endpoint.

Written from the documentation page in ``shared/seeds`` (not from liqrisk's demo emulator): the
same body layout (``query``, ``data``, ``continuation_token``, ``next_url``), nanosecond
``interval_timestamp`` values as in the documented example, ``page_size`` honoured on the first
call only, later pages addressed by ``continuation_token`` alone. Tests can script faults: a list
of canned responses consumed one per request before normal handling.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class KaikoTestServer:
    def __init__(self, data: dict[str, list[dict[str, Any]]], *, api_key: str = "test-key") -> None:
        self.data = data  # asset -> data elements, ascending
        self.api_key = api_key
        self.script: list[Canned] = []  # answers for the next requests, in order
        self.faults: dict[int, Canned] = {}  # answers for the n-th request (1-based)
        self.requests: list[Seen] = []
        self.delay = 0.0  # seconds added to every answer (to slow a walk down)
        self._tokens: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers, delay = server.handle(self.path, dict(self.headers))
                if delay + server.delay:
                    time.sleep(delay + server.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

        return Handler

    @contextmanager
    def running(self) -> Iterator[KaikoTestServer]:
        thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)

    def handle(
        self, raw_path: str, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str], float]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(Seen(parts.path, query, headers))
            fault = self.faults.get(len(self.requests))
            if fault is not None:
                return fault.status, fault.body, fault.headers, fault.delay
            if self.script:
                canned = self.script.pop(0)
                return canned.status, canned.body, canned.headers, canned.delay
        if headers.get("X-Api-Key") != self.api_key:
            return 401, json.dumps({"result": "error", "message": "Unauthorized"}).encode(), {}, 0.0
        if not parts.path.startswith(PATH_PREFIX):
            return 404, b'{"result":"error","message":"Not found"}', {}, 0.0
        asset = parts.path[len(PATH_PREFIX) :]
        if asset not in self.data:
            return 404, b'{"result":"error","message":"Unknown token"}', {}, 0.0
        if "continuation_token" in query:
            state = self._tokens.get(query["continuation_token"][0])
            if state is None:
                return 400, b'{"result":"error","message":"Invalid continuation token"}', {}, 0.0
        else:
            state = {
                "asset": asset,
                "interval": query.get("interval", ["1h"])[0],
                "start": query.get("start_time", [None])[0],
                "end": query.get("end_time", [None])[0],
                "sort": query.get("sort", ["desc"])[0],
                "page_size": int(query.get("page_size", ["100"])[0]),
                "offset": 0,
            }
        return 200, self._page(state), {}, 0.0

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
