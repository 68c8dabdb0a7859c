"""Loopback websocket servers that behave as Binance, Bybit and OKX document their liquidation
streams, in a thread of their own, with scripted faults.

* Binance: the raw stream on ``/market/ws/!forceOrder@arr`` (no subscription); the legacy path
  ``/ws/!forceOrder@arr`` accepts the connection and sends nothing, as a retired path does.
  Binance COIN-M (``binance_coinm``): the same raw stream on ``dstream``'s
  ``/ws/!forceOrder@arr``.
* Bybit: ``/v5/public/linear`` and ``/inverse``; answers each subscribe request (refused when it
  holds more than 10 topics, or a topic in ``refuse``), answers ``{"op":"ping"}``; drops a
  connection that sent no ping for ``ping_timeout`` seconds.
* OKX: ``/ws/v5/public``; answers the subscribe request, answers the text ``ping`` with ``pong``,
  drops a connection silent for ``ping_timeout`` seconds (OKX: 30 s).

Each connection plays the next script of ``scripts`` (the last one repeats): a list of actions,
``("send", text)``, ``("sleep", seconds)``, ``("close", code)``, ``("abort",)`` (TCP reset, no
close frame), ``("silent",)`` (stay open, send nothing), or ``("clock", frames)`` (send the frames
timed by wall clock: every connection open at the same moment sends the same frame, as a venue
does to all its subscribers; used for the rollover overlap).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Action = tuple[Any, ...]
LIVE_PATHS = {"binance": "/market/ws/!forceOrder@arr", "binance_coinm": "/ws/!forceOrder@arr"}
"""The raw streams (no subscription) and the one path each serves: USD-M on the market tier,
COIN-M on ``dstream``'s ``/ws/``."""


@dataclass
class VenueServer:
    venue: str
    scripts: Sequence[Sequence[Action]]
    refuse: frozenset[str] = frozenset()
    ping_timeout: float | None = None
    clock_interval: float = 0.05
    connections: int = 0
    subscribe_requests: list[Any] = field(default_factory=list)
    pings: int = 0
    paths: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)

    def _script(self) -> Sequence[Action]:
        index = min(self.connections - 1, len(self.scripts) - 1)
        return self.scripts[index]

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        if self.connections == 1:
            self.started_at = time.monotonic()  # the venue's clock: from the first subscriber
        path = ws.request.path if ws.request else ""
        self.paths.append(path)
        script = self._script()
        try:
            if self.venue in LIVE_PATHS:
                if path != LIVE_PATHS[self.venue]:
                    await ws.wait_closed()  # the legacy path: connected, nothing ever comes
                    return
                await self._play(ws, script)
            else:
                await self._subscribed(ws)
                player = asyncio.create_task(self._play(ws, script))
                await self._answer(ws, player)
        except ConnectionClosed:
            return

    async def _subscribed(self, ws: ServerConnection) -> None:
        message = json.loads(await ws.recv())
        self.subscribe_requests.append(message)
        if self.venue == "bybit":
            for _ in range(64):  # one answer per request, as many as were sent up front
                args = message.get("args", [])
                bad = [a for a in args if a in self.refuse]
                ok = len(args) <= 10 and not bad
                reply = {
                    "success": ok,
                    "ret_msg": "" if ok else f"error:handler not found,topics:{bad or args}",
                    "conn_id": "c1",
                    "req_id": message.get("req_id", ""),
                    "op": "subscribe",
                }
                await ws.send(json.dumps(reply))
                try:
                    async with asyncio.timeout(0.2):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    return
                if message.get("op") != "subscribe":
                    self.pings += 1
                    await ws.send(json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))
                    return
                self.subscribe_requests.append(message)
        else:
            arg = message["args"][0]
            if arg.get("channel") in self.refuse:
                await ws.send(json.dumps({"event": "error", "code": "60018", "msg": "bad"}))
                await ws.close()
                return
            for arg in message["args"]:
                await ws.send(json.dumps({"event": "subscribe", "arg": arg, "connId": "a1"}))

    async def _answer(self, ws: ServerConnection, player: asyncio.Task[None]) -> None:
        while True:
            try:
                if self.ping_timeout is not None:
                    async with asyncio.timeout(self.ping_timeout):
                        message = await ws.recv()
                else:
                    message = await ws.recv()
            except TimeoutError:
                player.cancel()
                await ws.close(4000, "no ping")
                return
            except ConnectionClosed:
                player.cancel()
                return
            if message == "ping":
                self.pings += 1
                await ws.send("pong")
            elif isinstance(message, str) and '"ping"' in message:
                self.pings += 1
                await ws.send(json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))

    async def _play(self, ws: ServerConnection, script: Sequence[Action]) -> None:
        for action in script:
            kind = action[0]
            if kind == "send":
                await ws.send(action[1])
            elif kind == "sleep":
                await asyncio.sleep(action[1])
            elif kind == "close":
                await ws.close(action[1], action[2] if len(action) > 2 else "")
                return
            elif kind == "abort":
                ws.transport.abort()
                return
            elif kind == "silent":
                await ws.wait_closed()
                return
            elif kind == "clock":
                frames = action[1]
                while True:
                    i = int((time.monotonic() - self.started_at) / self.clock_interval)
                    if i >= len(frames):
                        break
                    await ws.send(frames[i])
                    next_at = self.started_at + (i + 1) * self.clock_interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await ws.wait_closed()


@contextmanager
def venue_server(server: VenueServer) -> Iterator[str]:
    """Run ``server`` on 127.0.0.1 in a thread; yields its base URL."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["loop"], box["stop"] = asyncio.get_running_loop(), stop
        async with serve(server.handler, "127.0.0.1", 0, max_size=None) as srv:
            box["port"] = next(iter(srv.sockets)).getsockname()[1]
            server.started_at = time.monotonic()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"ws://127.0.0.1:{box['port']}"
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


# -- frames as each venue documents them


def binance_frame(symbol: str, side: str, qty: str, price: str, ms: int) -> str:
    order = {
        "s": symbol,
        "S": side,
        "o": "LIMIT",
        "f": "IOC",
        "q": qty,
        "p": price,
        "ap": price,
        "X": "FILLED",
        "l": qty,
        "z": qty,
        "T": ms,
    }
    return json.dumps({"e": "forceOrder", "E": ms + 5, "o": order})


def binance_coinm_frame(symbol: str, side: str, contracts: str, price: str, ms: int) -> str:
    """A COIN-M ``forceOrder`` event as documented: the pair ``ps`` beside the symbol, quantities
    in contracts."""
    pair = symbol.split("_")[0]
    order = {
        "s": symbol,
        "ps": pair,
        "S": side,
        "o": "LIMIT",
        "f": "IOC",
        "q": contracts,
        "p": price,
        "ap": price,
        "X": "FILLED",
        "l": contracts,
        "z": contracts,
        "T": ms,
    }
    return json.dumps({"e": "forceOrder", "E": ms + 1, "o": order})


def bybit_frame(symbol: str, side: str, size: str, price: str, ms: int) -> str:
    return json.dumps(
        {
            "topic": f"allLiquidation.{symbol}",
            "type": "snapshot",
            "ts": ms + 10,
            "data": [{"T": ms, "s": symbol, "S": side, "v": size, "p": price}],
        }
    )


def okx_frame(inst_id: str, side: str, pos_side: str, sz: str, px: str, ms: int) -> str:
    detail = {
        "bkLoss": "0",
        "bkPx": px,
        "ccy": "",
        "posSide": pos_side,
        "side": side,
        "sz": sz,
        "ts": str(ms),
    }
    return json.dumps(
        {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [
                {
                    "details": [detail],
                    "instFamily": inst_id.rsplit("-", 1)[0],
                    "instId": inst_id,
                    "instType": "SWAP",
                    "uly": inst_id.rsplit("-", 1)[0],
                }
            ],
        }
    )
