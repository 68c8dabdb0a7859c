"""The streams a configuration asks for: per venue, its URL, subscriptions and keep-alive.

One :class:`StreamSpec` per connection the collector keeps: Binance's all-market stream, Bybit's
linear (and inverse) topics, OKX's liquidation-orders channel. Everything venue-specific comes from
the venue's module under :mod:`reporting.fetch.sources`; this module only puts it together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reporting.config import Settings
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.sources.bybit import stream as bybit
from reporting.fetch.sources.okx import stream as okx

EXCHANGE_CODES = {
    binance.VENUE: binance.EXCHANGE,
    bybit.VENUE: bybit.EXCHANGE,
    okx.VENUE: okx.EXCHANGE,
}
"""The exchange table's code of each streamed venue: stream figures are checked and reported under
the same code as Kaiko's figures for the venue."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream: where to connect, what to send, how to keep it alive."""

    stream: str  # "binance.usdm", "bybit.linear", "okx.public"
    venue: str
    kind: str  # the snapshot kind of its batches
    url: str
    subscribe: tuple[str, ...] = ()
    expects_ack: bool = True  # Binance's raw stream sends no acknowledgement
    ping_seconds: float | None = None
    ping_message: str | None = None
    idle_seconds: float = 60.0
    rollover_seconds: float | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # kept with every batch


def stream_assets(settings: Settings) -> tuple[str, ...]:
    return settings.streams.assets or settings.fetch.assets


def stream_specs(
    settings: Settings,
    venues: tuple[str, ...] | None = None,
    *,
    contracts: Mapping[str, okx.Contract] | None = None,
    coinm: Mapping[str, binance.CoinmContract] | None = None,
) -> list[StreamSpec]:
    """The streams of ``venues`` (default: the configured ones). ``contracts``: OKX's contract
    values, ``coinm`` Binance COIN-M's contract sizes, from the store's instrument
    specifications."""
    config = settings.streams
    chosen = venues or config.venues
    assets = stream_assets(settings)
    specs: list[StreamSpec] = []
    watched = {a.upper() for a in assets}
    if "binance" in chosen and "usdm" in config.binance_markets:
        specs.append(
            StreamSpec(
                stream="binance.usdm",
                venue=binance.VENUE,
                kind=binance.KIND,
                url=binance.url(config.binance_url),
                expects_ack=False,
                idle_seconds=config.binance_idle_seconds,
                rollover_seconds=config.rollover_seconds,
            )
        )
    if "binance" in chosen and "coinm" in config.binance_markets:
        sizes = {k: v for k, v in (coinm or {}).items() if v[1] in watched}
        specs.append(
            StreamSpec(
                stream="binance.coinm",
                venue=binance.VENUE,
                kind=binance.COINM_KIND,
                url=binance.coinm_url(config.binance_coinm_url),
                expects_ack=False,
                idle_seconds=config.binance_idle_seconds,
                rollover_seconds=config.rollover_seconds,
                params={
                    "assets": ",".join(sorted(watched)),
                    "contracts": binance.coinm_contracts_param(sizes),
                },
            )
        )
    if "bybit" in chosen:
        for category in config.bybit_categories:
            names = bybit.symbols(assets, category)
            specs.append(
                StreamSpec(
                    stream=f"bybit.{category}",
                    venue=bybit.VENUE,
                    kind=bybit.KIND,
                    url=bybit.url(config.bybit_url, category),
                    subscribe=tuple(bybit.subscribe_messages(names)),
                    ping_seconds=bybit.PING_SECONDS,
                    ping_message=bybit.PING,
                    idle_seconds=config.idle_seconds,
                    params={"category": category, "topics": ",".join(names)},
                )
            )
    if "okx" in chosen:
        mine = {k: v for k, v in (contracts or {}).items() if k.split("-")[0] in watched}
        specs.append(
            StreamSpec(
                stream="okx.public",
                venue=okx.VENUE,
                kind=okx.KIND,
                url=okx.url(config.okx_url),
                subscribe=tuple(okx.subscribe_messages()),
                ping_seconds=okx.PING_SECONDS,
                ping_message=okx.PING,
                idle_seconds=config.idle_seconds,
                params={
                    "assets": ",".join(sorted(watched)),
                    "contracts": okx.contracts_param(mine),
                },
            )
        )
    return specs
