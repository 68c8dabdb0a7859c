"""Benchmark the live collectors: frames from a loopback websocket server through to committed
raw batches, events and minute aggregates.

Not a test. Run ``python bench/bench_streams.py [--events 40000] [--rounds 3]``.

A server on 127.0.0.1 (the ``websockets`` library's) sends Binance ``forceOrder`` frames, rendered
before the clock starts, as fast as the connection takes them. Two clients, one after the other in
each round, each into a fresh SQLite file:

* ``liqrisk``: the collector as configured by default (:mod:`reporting.fetch.streams`): batches
  every 0.5 s or 500 frames, each one snapshot with its Merkle leaf, every frame read by Binance's
  reader, events stored with the duplicate check, minute aggregates;
* ``floor``: the same ``websockets`` client writing the raw frames with ``sqlite3`` in batches of
  500 (one ``executemany`` and commit a batch), nothing else.

Printed: events per second of each, sustained (target: liqrisk >= 20,000/s): the events committed
after the first batch over the time from the first commit to the last, the same for both, so the
once-per-run start (the collector's writer process, its lease and connection records; the floor
has none) is left out of the rate and printed on its own; the ratio liqrisk / floor of the
sustained times per event (target: <= 1.5x) as the median of the rounds; and at a paced 1,000
events/s for 5 s the p99 of receive -> commit over batches, taking each batch's first (oldest)
frame, so an upper bound on the frames' p99 (target: < 1 s).

The server runs in a thread of the benchmark's process: it shares the receiving side's
interpreter lock in both clients alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from audit_store.db import Store
from reporting.config import load_settings
from reporting.fetch.streams.runner import run_streams
from reporting.fetch.streams.venues import stream_specs
from tests.ws_venues import binance_frame

PATH = "/market/ws/!forceOrder@arr"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "1000PEPEUSDT")


def frames(n: int) -> list[str]:
    start = 1_761_125_802_306
    return [
        binance_frame(SYMBOLS[i % 5], "SELL" if i % 3 else "BUY", "0.5", "1000.5", start + i)
        for i in range(n)
    ]


class Server:
    """Sends ``payload`` to each connection, paced at ``rate`` frames a second when given."""

    def __init__(self, payload: list[str], rate: float | None = None) -> None:
        self.payload, self.rate = payload, rate
        self.ready = threading.Event()
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        started = time.monotonic()
        for i, frame in enumerate(self.payload):
            await ws.send(frame)
            if self.rate:
                await asyncio.sleep(max(0.0, started + (i + 1) / self.rate - time.monotonic()))
        await ws.wait_closed()

    def run(self, stop: threading.Event) -> None:
        async def main() -> None:
            async with serve(self.handler, "127.0.0.1", 0) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                self.ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(main())


def serving(payload: list[str], rate: float | None = None) -> tuple[Server, threading.Event]:
    server, stop = Server(payload, rate), threading.Event()
    threading.Thread(target=server.run, args=(stop,), daemon=True).start()
    server.ready.wait(10)
    return server, stop


@dataclass
class Run:
    """When a client started, and the time and size of each commit (``time.perf_counter``)."""

    started: float
    commits: list[tuple[float, int]]

    @property
    def startup(self) -> float:
        return self.commits[0][0] - self.started

    @property
    def sustained(self) -> float:
        """Events per second from the first commit to the last (the events after the first)."""
        events = sum(n for _t, n in self.commits[1:])
        return events / (self.commits[-1][0] - self.commits[0][0])


def run_liqrisk(url: str, n: int, folder: Path, latencies: list[float] | None = None) -> Run:
    settings = load_settings(env={})
    settings = settings.model_copy(
        update={"streams": settings.streams.model_copy(update={"binance_url": url})}
    )
    store = Store(f"sqlite:///{folder / 'liqrisk.db'}")
    store.create_schema()
    specs = stream_specs(settings, ("binance",))
    commits: list[tuple[float, int]] = []

    def on_batch(_spec: object, stored: object, _seconds: float) -> None:
        commits.append((time.perf_counter(), int(getattr(stored, "frames", 0))))
        first = getattr(stored, "first_receive", None)
        if latencies is not None and first is not None:
            latencies.append((datetime.now(UTC) - first).total_seconds())

    started = time.perf_counter()
    asyncio.run(
        run_streams(
            store,
            settings,
            specs,
            seconds=600,
            until=lambda stats: sum(s.frames for s in stats.values()) >= n,
            on_batch=on_batch,
        )
    )
    store.dispose()
    return Run(started, commits)


def run_floor(url: str, n: int, folder: Path) -> Run:
    database = sqlite3.connect(folder / "floor.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE frame (received TEXT, data BLOB)")
    commits: list[tuple[float, int]] = []

    async def main() -> float:
        started = time.perf_counter()
        batch: list[tuple[str, bytes]] = []
        got = 0
        async with connect(url + PATH) as ws:
            while got < n:
                data = await ws.recv(decode=False)
                batch.append((datetime.now(UTC).isoformat(), data))
                got += 1
                if len(batch) >= 500 or got == n:
                    database.executemany("INSERT INTO frame VALUES (?, ?)", batch)
                    database.commit()
                    commits.append((time.perf_counter(), len(batch)))
                    batch = []
        return started

    started = asyncio.run(main())
    database.close()
    return Run(started, commits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    payload = frames(args.events)
    ratios, rates, floor_rates, startups = [], [], [], []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            server, stop = serving(payload)
            url = f"ws://127.0.0.1:{server.port}"
            mine = run_liqrisk(url, args.events, Path(tmp))
            floor = run_floor(url, args.events, Path(tmp))
            stop.set()
        ratios.append(floor.sustained / mine.sustained)
        rates.append(mine.sustained)
        floor_rates.append(floor.sustained)
        startups.append(mine.startup)
        print(
            f"round {round_ + 1}: liqrisk {mine.sustained:,.0f} events/s (start "
            f"{mine.startup:.2f} s), floor {floor.sustained:,.0f} events/s (start "
            f"{floor.startup:.2f} s), ratio {floor.sustained / mine.sustained:.2f}x"
        )
    print(
        f"liqrisk {statistics.median(rates):,.0f} events/s sustained (target >= 20,000), floor "
        f"{statistics.median(floor_rates):,.0f} events/s; liqrisk / floor "
        f"{statistics.median(ratios):.2f}x (target <= 1.5x); start to first commit "
        f"{statistics.median(startups):.2f} s (once per run)"
    )
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        server, stop = serving(frames(5000), rate=1000)
        run_liqrisk(f"ws://127.0.0.1:{server.port}", 5000, Path(tmp), latencies)
        stop.set()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"at 1,000 events/s: receive -> commit p99 {p99 * 1000:.0f} ms over {len(latencies)} "
        f"batches (each batch's oldest frame; target < 1000 ms), max {latencies[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
