"""``liqrisk collect --demo``: the real recorded Binance sample, replayed through a loopback
websocket server that speaks Binance's ``!forceOrder@arr`` format, so the whole path (collect ->
events -> report) runs without a network.

The sample (``binance_usdm_liquidations_chiefJurist/head_sample.csv`` of the workplace's real data,
columns ``timestamp,symbol,side,avg_price,filled_qty,usd_value``) is a flattened recording of the
stream: each row becomes the frame Binance sent, with the recorded strings verbatim in ``ap``,
``p``, ``z``, ``q`` and ``l``, so the stored USD figures are the sample's own products.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from reporting.errors import ConfigError
from reporting.fetch.sources.binance import stream as binance

SAMPLE_NAME = "binance_usdm_liquidations_chiefJurist/head_sample.csv"
SAMPLE_ENV = "LIQRISK_DEMO_STREAM_SAMPLE"


def find_sample(given: Path | None = None) -> Path:
    """The recorded sample: ``given``, ``$LIQRISK_DEMO_STREAM_SAMPLE``, or the workplace's real
    data (``shared/data/real`` beside or above the working directory)."""
    if given is not None:
        if not given.is_file():
            raise ConfigError(f"--sample {given}: no such file")
        return given
    if os.environ.get(SAMPLE_ENV):
        path = Path(os.environ[SAMPLE_ENV])
        if not path.is_file():
            raise ConfigError(f"${SAMPLE_ENV} = {path}: no such file")
        return path
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        for candidate in (folder / "shared", folder / "../shared"):
            path = candidate / "data" / "real" / SAMPLE_NAME
            if path.is_file():
                return path.resolve()
    raise ConfigError(
        f"the recorded Binance sample ({SAMPLE_NAME}) was not found under shared/data/real; "
        f"name it with --sample or ${SAMPLE_ENV}"
    )


def sample_frames(path: Path) -> list[bytes]:
    """The sample's rows as Binance forceOrder frames, in recorded order."""
    frames = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            moment = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
            stamp = int(moment.timestamp() * 1000)
            qty, price = row["filled_qty"], row["avg_price"]
            order = {
                "s": row["symbol"],
                "S": row["side"],
                "o": "LIMIT",
                "f": "IOC",
                "q": qty,
                "p": price,
                "ap": price,
                "X": "FILLED",
                "l": qty,
                "z": qty,
                "T": stamp,
            }
            frame = {"e": "forceOrder", "E": stamp + 3, "o": order}
            frames.append(json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode())
    return frames


def sample_usd(path: Path) -> float:
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(float(r["avg_price"]) * float(r["filled_qty"]) for r in csv.DictReader(fh))


@asynccontextmanager
async def replay_server(
    frames: Iterable[bytes], *, pause_seconds: float = 0.002
) -> AsyncIterator[str]:
    """A loopback server on Binance's market path that sends ``frames`` once to the first
    connection, then stays open and silent; yields its base URL (``ws://127.0.0.1:PORT``)."""
    pending = list(frames)
    sent = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is None or ws.request.path != binance.PATH:
            await ws.close(1008, "unknown stream")  # as a retired path would: nothing useful
            return
        if not sent.is_set():
            sent.set()
            for frame in pending:
                await ws.send(frame.decode("utf-8"))
                await asyncio.sleep(pause_seconds)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
