"""Running the collectors: ``liqrisk collect`` in the foreground, and the daemon beside its jobs.

:func:`collect` prepares what the streams need (OKX's contract values, from the store or fetched
once from OKX's REST instruments endpoint; Binance COIN-M's contract sizes, fetched at every start;
each stored like any response), builds the streams of the
configuration and runs them until SIGINT or SIGTERM, or for ``seconds``; then every connection is
closed with its reason recorded and the open batches are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.tables_ingest import InstrumentSpec
from reporting.config import Settings
from reporting.errors import SourceError
from reporting.fetch.ingest import store_response
from reporting.fetch.sources.binance import stream as binance_stream
from reporting.fetch.sources.binance.client import BinanceClient
from reporting.fetch.sources.okx import stream as okx_stream
from reporting.fetch.sources.okx.client import OkxClient
from reporting.fetch.streams.collector import Collector, StreamStats
from reporting.fetch.streams.venues import StreamSpec, stream_assets, stream_specs
from reporting.fetch.streams.writer import BatchHook, StoredBatch

OKX_INSTRUMENT_TYPES = ("SWAP", "FUTURES")
log = logging.getLogger("liqrisk.streams")


def _instrument_specs(store: Store, source: str) -> list[Any]:
    """Every stored instrument specification of ``source``, the latest last (a later row of an
    instrument replaces an earlier one when the caller builds its mapping)."""
    m = InstrumentSpec
    query = (
        select(col(m.instrument), col(m.ct_val), col(m.ct_mult), col(m.ct_val_ccy), col(m.asset))
        .join(Snapshot, col(Snapshot.id) == m.snapshot_id)
        .where(col(m.source) == source, col(Snapshot.quarantined).is_(False))
        .order_by(col(Snapshot.leaf_index), col(m.row_index))
    )
    with store.read_session() as session:
        return list(session.execute(query))


def okx_contracts(store: Store) -> dict[str, okx_stream.Contract]:
    """The latest stored contract value of every OKX instrument."""
    return {r[0]: (float(r[1]), float(r[2]), str(r[3])) for r in _instrument_specs(store, "okx")}


def refresh_okx_contracts(
    store: Store, settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> dict[str, okx_stream.Contract]:
    """Fetch and keep OKX's instruments (SWAP and FUTURES) of the streamed assets."""
    with OkxClient(settings.okx, transport=transport) as client:
        for asset in stream_assets(settings):
            for inst_type in OKX_INSTRUMENT_TYPES:
                for raw in client.instrument_pages(asset, inst_type):
                    store_response(store, raw, config_hash=settings.config_hash())
    return okx_contracts(store)


@dataclass(frozen=True)
class CollectResult:
    streams: dict[str, StreamStats]
    stopped_by: str  # "duration", "signal", "done"

    def to_json(self) -> dict[str, object]:
        return {
            "stopped_by": self.stopped_by,
            "streams": [s.to_json() for s in self.streams.values()],
        }


def prepare_specs(
    store: Store,
    settings: Settings,
    venues: tuple[str, ...] | None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> list[StreamSpec]:
    chosen = venues or settings.streams.venues
    contracts: dict[str, okx_stream.Contract] = {}
    if "okx" in chosen:
        contracts = okx_contracts(store)
        watched = {a.upper() for a in stream_assets(settings)}
        if not any(k.split("-")[0] in watched for k in contracts):
            contracts = refresh_okx_contracts(store, settings, transport=transport)
    coinm: dict[str, binance_stream.CoinmContract] = {}
    if "binance" in chosen and "coinm" in settings.streams.binance_markets:
        coinm = refresh_binance_coinm_contracts(store, settings, transport=transport)
    return stream_specs(settings, chosen, contracts=contracts, coinm=coinm)


def binance_coinm_contracts(store: Store) -> dict[str, binance_stream.CoinmContract]:
    """The latest stored contract size (USD) and base asset of every Binance COIN-M contract."""
    rows = _instrument_specs(store, "binance")
    return {r[0]: (float(r[1]), str(r[4]).upper()) for r in rows}


def refresh_binance_coinm_contracts(
    store: Store, settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> dict[str, binance_stream.CoinmContract]:
    """Fetch and keep COIN-M's exchange information: new dated contracts are listed every
    quarter, so it is read at every start of the collector. A failed fetch falls back on the
    sizes stored before, and is logged; with none stored, COIN-M is still collected (its frames
    kept raw, each rejected as having no contract size) and the other streams are not held up."""
    try:
        with BinanceClient(settings.binance, transport=transport) as client:
            for raw in client.coinm_exchange_info(settings.streams.binance_coinm_rest_url):
                store_response(store, raw, config_hash=settings.config_hash())
    except SourceError as exc:
        found = binance_coinm_contracts(store)
        held = f"the {len(found)} stored before" if found else "none: its frames are kept raw"
        log.warning("COIN-M contract sizes not fetched (%s); using %s", exc, held)
        return found
    return binance_coinm_contracts(store)


async def run_streams(
    store: Store,
    settings: Settings,
    specs: list[StreamSpec],
    *,
    seconds: float | None = None,
    stop: asyncio.Event | None = None,
    until: Callable[[dict[str, StreamStats]], bool] | None = None,
    on_batch: Callable[[StreamSpec, StoredBatch, float], None] | None = None,
    handle_signals: bool = False,
    after_batch: BatchHook | None = None,
) -> CollectResult:
    """Collect until ``stop`` is set, ``seconds`` pass, a signal comes or ``until`` says so;
    ``after_batch`` runs in each batch's transaction (:mod:`.writer`)."""
    stop = stop or asyncio.Event()
    collector = Collector(
        store,
        specs,
        settings.streams,
        config_hash=settings.config_hash(),
        on_batch=on_batch,
        after_batch=after_batch,
    )
    why = {"by": "signal"}
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

    async def watch() -> None:
        started = loop.time()
        while not stop.is_set():
            if seconds is not None and loop.time() - started >= seconds:
                why["by"] = "duration"
                stop.set()
            elif until is not None and until(collector.stats):
                why["by"] = "done"
                stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.1)

    watcher = asyncio.create_task(watch())
    try:
        stats = await collector.run(stop)
    finally:
        watcher.cancel()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    return CollectResult(stats, why["by"])
